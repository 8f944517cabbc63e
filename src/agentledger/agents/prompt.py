"""Prompts as tagged segments: the unit agents build prompts from and capture counts tokens by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CATEGORIES", "Segment", "build_messages"]

CATEGORIES = ("instruction", "few_shot", "user", "llm_history", "tool_history")


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a prompt: its category, its text, and the chat role of the message it belongs to."""

    category: str
    text: str
    role: str = "user"

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown segment category {self.category!r}; use one of {', '.join(CATEGORIES)}")


def build_messages(segments: Sequence[Segment]) -> list[dict[str, str]]:
    """Chat messages: consecutive segments of the same role form one message."""
    messages: list[dict[str, str]] = []
    for seg in segments:
        if messages and messages[-1]["role"] == seg.role:
            messages[-1]["content"] += seg.text
        else:
            messages.append({"role": seg.role, "content": seg.text})
    return messages
