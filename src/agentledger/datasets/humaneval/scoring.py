"""pass@1 of one answer: the official hidden tests, ``check(entry_point)``, run in the sandbox.

The answer may be a whole function or only the body that completes the prompt (what base
models write). Markdown fences are removed first (the block that defines the entry point is
preferred). A whole function runs after the prompt, so the prompt's imports and helper
functions exist and the answer's definition replaces the prompt's stub; a body is appended to
the prompt, indented by four spaces if it was written at column 0. Then the problem's
``test`` runs and calls ``check`` on the entry point. Pass = no exception, no failed assert,
within the time and memory limits.
"""

from __future__ import annotations

import re
import textwrap

from ..base import Score
from .sandbox import Chunk, Sandbox, SandboxResult
from .tools import strip_fences

__all__ = ["answer_chunks", "score_answer"]


def _defines(code: str, entry_point: str) -> bool:
    name = re.escape(entry_point)
    return re.search(rf"^(?:async\s+def|def|class)\s+{name}\b|^{name}\s*=", code, re.MULTILINE) is not None


def answer_chunks(prompt: str, entry_point: str, test: str, answer: str) -> list[Chunk]:
    """The chunks that check ``answer`` (a whole function or a completion body) against ``test``."""
    code = strip_fences(answer, entry_point)
    checker = Chunk("test.py", f"{test}\n\ncheck({entry_point})\n")
    if _defines(code, entry_point):
        return [Chunk("prompt.py", prompt), Chunk("answer.py", code), checker]
    first = next((line for line in code.splitlines() if line.strip()), "")
    if first and not first[0].isspace():
        code = textwrap.indent(code, "    ")
    return [Chunk("answer.py", f"{prompt}{code}\n"), checker]


async def score_answer(sandbox: Sandbox, prompt: str, entry_point: str, test: str,
                       answer: str) -> tuple[Score, SandboxResult]:
    """The pass@1 score of ``answer`` and the sandbox run behind it."""
    result = await sandbox.run(answer_chunks(prompt, entry_point, test, answer))
    ok = result.passed
    detail = {"pass": float(ok), "timed_out": float(result.status == "timeout"),
              "failed_asserts": float(len(result.failures)), "errored": float(result.error is not None),
              "sandbox_wall_s": result.wall_s}
    return Score(value=float(ok), correct=ok, detail=detail), result
