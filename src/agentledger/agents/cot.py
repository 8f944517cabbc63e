"""Chain-of-thought prompting (Wei et al., 2022): one LLM call that reasons, then answers; no tools.

The prompt is our instruction (system), ``few_shot`` worked examples and the task. The reply's
syntax per benchmark (constrained by :data:`~.actions.COT_REGEX` when the run is constrained):

* HotpotQA: ``Thought: ...`` then ``Answer: X``;
* MATH: ``Solution: ...`` then ``Answer: \\boxed{X}``;
* HumanEval: the complete function in a ```python block (the function is generated directly).

The answer is read by :func:`~.actions.cot_answer`. The outcome is ``finished`` when an answer was
found, ``budget`` when the reply was cut at ``max_tokens`` before one, ``error`` when the call failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .actions import COT_REGEX, cot_answer
from .base import Agent, AgentContext, Episode, Knobs
from .fewshot import DEFAULT_SHOTS, few_shot_text, instruction, user_text
from .prompt import Segment
from .react import check_positive

__all__ = ["COT_MAX_TOKENS", "CoTKnobs", "CoT", "cot_segments"]

COT_MAX_TOKENS = MappingProxyType({"hotpotqa": 192, "math": 256, "humaneval": 384})


@dataclass(frozen=True, slots=True)
class CoTKnobs(Knobs):
    """CoT's settings; None means the benchmark's default."""

    few_shot: int | None = None  # hotpotqa 6, math 4, humaneval 2
    max_tokens: int | None = None  # hotpotqa 192, math 256, humaneval 384
    temperature: float = 0.0

    def __post_init__(self) -> None:
        check_positive(self, "max_tokens")


def cot_segments(ctx: AgentContext, shots: int) -> list[Segment]:
    """Instruction (system), examples and the task."""
    segs = [Segment("instruction", instruction(ctx.dataset, "cot"), role="system")]
    text = few_shot_text(ctx.dataset, shots, style="cot")
    if text:
        segs.append(Segment("few_shot", text, role="user"))
    segs.append(Segment("user", user_text(ctx.task, ctx.dataset), role="user"))
    return segs


class CoT(Agent):
    """One reasoning-and-answer call per task."""

    name = "cot"
    datasets = ("hotpotqa", "math", "humaneval")
    knobs_type = CoTKnobs

    def settings(self, dataset: str) -> dict[str, Any]:
        values = self.knobs.to_dict()
        if values["few_shot"] is None:
            values["few_shot"] = DEFAULT_SHOTS[("cot", dataset)]
        if values["max_tokens"] is None:
            values["max_tokens"] = COT_MAX_TOKENS[dataset]
        return values

    async def run(self, ctx: AgentContext) -> Episode:
        k = self.settings(ctx.dataset)
        gen = await ctx.llm(cot_segments(ctx, k["few_shot"]), role="actor", iteration=0,
                            parent=ctx.request_event_id, temperature=k["temperature"], max_tokens=k["max_tokens"],
                            regex=COT_REGEX[ctx.dataset])
        if not gen.ok:
            return Episode(answer="", outcome="error", iterations=1, notes={"error": gen.error})
        answer = cot_answer(gen.text, ctx.dataset)
        cut = gen.finish_reason == "length"
        outcome = "budget" if cut and not _complete(gen.text, ctx.dataset, answer) else "finished"
        return Episode(answer=answer, outcome=outcome, iterations=1,
                       notes={"answer_found": bool(answer), "finish_reason": gen.finish_reason})


def _complete(text: str, dataset: str, answer: str) -> bool:
    """Whether a reply cut at ``max_tokens`` still holds its whole answer."""
    if dataset == "humaneval":
        return text.count("```") >= 2
    if dataset == "math":
        return "\\boxed{" in text and bool(answer)
    return bool(answer)
