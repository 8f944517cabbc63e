"""Prefix-delta storage of prompt text.

An agent's prompt repeats the previous prompt of the same request almost
entirely. Each prompt is stored as ``(base_event_id, prefix_chars, delta)``:
its text is the first ``prefix_chars`` characters of the base prompt's text
followed by ``delta``. The base is, among the last few prompts of the same
request, the one sharing the longest prefix.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

__all__ = ["common_prefix_len", "PromptDeltaEncoder", "decode_prompt_texts"]

_MIN_SHARED = 64  # below this many shared characters a delta is not worth a reference


def common_prefix_len(a: str, b: str) -> int:
    """Length of the common prefix, by binary search over C-speed slice comparisons."""
    hi = min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    lo = 0  # invariant: a[:lo] == b[:lo] and a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


class PromptDeltaEncoder:
    """Per-writer state: the last ``window`` prompts of each open request."""

    def __init__(self, window: int = 4) -> None:
        self._window = window
        self._recent: dict[int, deque[tuple[int, str]]] = {}

    def encode(self, request_id: int | None, event_id: int, text: str) -> tuple[str, int | None, int | None]:
        best_id, best_len = None, 0
        if request_id is not None:
            recent = self._recent.setdefault(request_id, deque(maxlen=self._window))
            for prev_id, prev_text in recent:
                n = common_prefix_len(prev_text, text)
                if n > best_len:
                    best_id, best_len = prev_id, n
            recent.append((event_id, text))
        if best_id is None or best_len < _MIN_SHARED:
            return text, None, None
        return text[best_len:], best_id, best_len

    def forget(self, request_id: int) -> None:
        self._recent.pop(request_id, None)


def decode_prompt_texts(
    event_ids: Iterable[int],
    deltas: Iterable[str | None],
    base_ids: Iterable[int | None],
    prefix_chars: Iterable[int | None],
) -> list[str | None]:
    """Rebuild full prompt texts, given the llm_call rows in file (write) order.

    A base is always written before the prompts that refer to it, so one pass
    in file order suffices. A prompt whose base is missing decodes to None.
    """
    full: dict[int, str | None] = {}
    out: list[str | None] = []
    for eid, delta, base, n in zip(event_ids, deltas, base_ids, prefix_chars, strict=True):
        if delta is None:
            text = None
        elif base is None:
            text = delta
        else:
            base_text = full.get(base)
            text = None if base_text is None else base_text[: n or 0] + delta
        full[eid] = text
        out.append(text)
    return out
