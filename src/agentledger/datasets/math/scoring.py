"""Scoring MATH answers: extract the final answer, normalize it, decide equivalence.

The decision, in order:

1. both answers normalized with :func:`~.latex.strip_string` (the MATH paper's ``is_equiv``)
   and compared as strings: equal means correct;
2. otherwise both are read into sympy (:func:`~.sympy_safe.latex_to_text` then
   :func:`~.sympy_safe.parse_math`) and compared: ``simplify(a - b) == 0``, or for numbers a
   relative difference under 1e-9. Tuples and intervals (``(1, 2]``) compare element by element
   with the same brackets; bare comma lists ("all solutions") compare as multisets; equations
   side by side. This step runs in a :class:`~.worker.SympyWorker` under a CPU-time limit;
3. anything sympy cannot read is decided by step 1 alone.
"""

from __future__ import annotations

import re
from typing import Any

from ..base import Score
from .latex import extract_answer, strip_string
from .sympy_safe import latex_to_text, parse_math
from .worker import SympyTimeout, SympyWorker, SympyWorkerError

__all__ = ["equivalent_sympy", "score_answer", "is_equiv_string"]

_REL_TOL = 1e-9
_CONSTANTS = {"i": "I"}
_WORD = re.compile(r"[A-Za-z]{2,}")


def is_equiv_string(answer: str, reference: str) -> bool:
    """The MATH paper's check: equal after :func:`strip_string`."""
    return strip_string(answer) == strip_string(reference)


def _split_top(s: str) -> tuple[str, list[str], str]:
    """(open bracket, top-level comma-separated parts, close bracket) of a normalized answer."""
    opener, closer = "", ""
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        inner, depth = s[1:-1], 0
        for ch in inner:  # the outer brackets must enclose everything, not "(1)+(2)"
            depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
            if depth < 0:
                break
        else:
            opener, closer, s = s[0], s[-1], inner
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
        if ch == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    if len(parts) == 1 and opener:  # "(x+1)": a parenthesized expression, not a tuple
        return "", [f"{opener}{s}{closer}"], ""
    return opener, parts, closer


def _to_sympy(part: str) -> Any | None:
    text = latex_to_text(part)
    if text is None or _WORD.fullmatch(text):  # words ("Devon") are compared as strings only
        return None
    try:
        return parse_math(text, constants=_CONSTANTS)
    except Exception:  # noqa: BLE001 - anything sympy cannot read falls back to strings
        return None


def _same_value(a: Any, b: Any) -> bool:
    import sympy  # type: ignore[import-untyped]

    try:
        diff = a - b
        if diff == 0 or sympy.simplify(diff) == 0:
            return True
        if not diff.free_symbols:
            scale = max(1.0, abs(complex(sympy.N(b))))
            return abs(complex(sympy.N(diff))) <= _REL_TOL * scale
    except (TypeError, ValueError, AttributeError, ZeroDivisionError):
        return False
    return False


def _part_equal(a: str, b: str) -> bool:
    if a == b:
        return True
    sides_a, sides_b = a.split("="), b.split("=")
    if len(sides_a) != len(sides_b):
        return False
    for x, y in zip(sides_a, sides_b, strict=True):
        if x == y:
            continue
        ex, ey = _to_sympy(x), _to_sympy(y)
        if ex is None or ey is None or not _same_value(ex, ey):
            return False
    return True


def equivalent_sympy(answer: str, reference: str) -> bool:
    """Whether two *normalized* answers are mathematically equal (may be slow: run it in a worker)."""
    open_a, parts_a, close_a = _split_top(answer)
    open_b, parts_b, close_b = _split_top(reference)
    if (open_a, close_a) != (open_b, close_b) or len(parts_a) != len(parts_b):
        return False
    if open_a or len(parts_a) == 1:
        return all(_part_equal(x, y) for x, y in zip(parts_a, parts_b, strict=True))
    unmatched = list(parts_b)  # a bare list: order does not matter
    for x in parts_a:
        hit = next((k for k, y in enumerate(unmatched) if _part_equal(x, y)), None)
        if hit is None:
            return False
        del unmatched[hit]
    return True


async def score_answer(answer: str, reference: str, worker: SympyWorker | None) -> Score:
    """Score an agent's output against the reference answer (0/1); ``worker=None`` skips sympy."""
    extracted = extract_answer(answer or "")
    norm_a, norm_b = strip_string(extracted), strip_string(reference)
    detail = {"string_match": 0.0, "sympy_match": 0.0, "sympy_timed_out": 0.0,
              "extracted_chars": float(len(extracted))}
    if norm_a and norm_a == norm_b:
        detail["string_match"] = 1.0
        return Score(1.0, True, detail)
    if norm_a and worker is not None:
        try:
            if await worker.run(equivalent_sympy, norm_a, norm_b):
                detail["sympy_match"] = 1.0
                return Score(1.0, True, detail)
        except (SympyTimeout, SympyWorkerError):
            detail["sympy_timed_out"] = 1.0
    return Score(0.0, False, detail)
