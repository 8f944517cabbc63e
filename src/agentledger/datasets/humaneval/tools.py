"""The ``run_tests[code]`` tool: run the agent's function and its own asserts in the sandbox.

The argument is Python source: the function, then ``assert`` lines that call it (markdown
fences around it are removed). Before it, the task's prompt runs in the same namespace, so
its imports (``from typing import List``) and helper functions are defined, as they are when
the answer is scored. Each top-level assert is tried; the observation says how many passed,
which failed (line, statement, the two values of a failing ``==``), any exception, and the
first characters of what the code printed. An empty argument gets the syntax back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..base import Tool
from .sandbox import Chunk, Sandbox, SandboxResult

__all__ = ["RUN_TESTS_SYNTAX", "MAX_CODE_CHARS", "strip_fences", "format_observation", "make_run_tests"]

RUN_TESTS_SYNTAX = (
    "run_tests[<Python code: your complete function, then assert lines that call it>], e.g. "
    "run_tests[def add(a, b):\n    return a + b\nassert add(1, 2) == 3]"
)
MAX_CODE_CHARS = 100_000
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


def strip_fences(text: str, entry_point: str | None = None) -> str:
    """The code inside markdown fences: the block defining ``entry_point`` if given and found, else all blocks.

    Text without a closed fence is returned without an opening fence line, if it has one.
    """
    blocks = _FENCE.findall(text)
    if blocks:
        if entry_point is not None:
            defining = re.compile(rf"^(async\s+)?def\s+{re.escape(entry_point)}\s*\(", re.MULTILINE)
            chosen = next((b for b in blocks if defining.search(b)), None)
            if chosen is not None:
                return chosen
        return "\n".join(blocks)
    stripped = text.strip("\n")
    if stripped.lstrip().startswith("```"):  # an unterminated fence (cut-off answer)
        stripped = stripped.lstrip().split("\n", 1)[1] if "\n" in stripped else ""
    return stripped.removesuffix("```")


def _output_part(result: SandboxResult, output_chars: int) -> str:
    if not result.output:
        return ""
    cut = result.output_total_bytes > len(result.output.encode())
    head = f"output (first {output_chars} characters of {result.output_total_bytes} bytes):" if cut else "output:"
    return f"\n{head}\n{result.output.rstrip()}"


def format_observation(result: SandboxResult, output_chars: int = 2000) -> str:
    """What the agent reads after ``run_tests``."""
    if result.status == "timeout":
        text = f"run_tests: TIMEOUT: {result.error}. Does the code loop forever or wait for input?"
        return text + _output_part(result, output_chars)
    if result.status == "crashed":
        return f"run_tests: CRASHED: {result.error}." + _output_part(result, output_chars)
    failed = len(result.failures)
    lines: list[str] = []
    if result.passed:
        if result.asserts_total == 0:
            lines.append("run_tests: the code ran without error, but it has no top-level assert statements; "
                         "add lines like: assert my_function(1) == 2")
        else:
            lines.append(f"run_tests: PASSED: all {result.asserts_total} asserts passed.")
    else:
        if not result.failures:
            ran = result.asserts_total
            lines.append("run_tests: ERROR: the code raised an exception" +
                         (f" ({ran} top-level asserts ran before it, all passed)." if ran else "."))
        elif result.asserts_total >= failed:
            lines.append(f"run_tests: FAILED: {result.asserts_total - failed} of {result.asserts_total} "
                         f"top-level asserts passed, {failed} failed.")
        else:  # an assert inside a function failed
            lines.append("run_tests: FAILED: an assert failed.")
        for f in result.failures:
            lines.append(f"- line {f.line}: {f.source} -> {f.detail}")
        if result.error:
            memory = " (the memory limit was reached)" if "MemoryError" in result.error else ""
            lines.append(f"error{memory}:\n{result.error}")
    return "\n".join(lines) + _output_part(result, output_chars)


def make_run_tests(sandbox: Sandbox, setup: Sequence[Chunk] = ()) -> Tool:
    """The ``run_tests`` tool: ``setup`` chunks (the task's prompt) run first, then the argument."""

    async def run_tests(argument: str) -> str:
        code = strip_fences(argument)
        if not code.strip():
            return f"run_tests needs code in the brackets: {RUN_TESTS_SYNTAX}"
        if len(code) > MAX_CODE_CHARS:
            return f"run_tests: the code is {len(code):,} characters; keep it under {MAX_CODE_CHARS:,}."
        result = await sandbox.run([*setup, Chunk("solution.py", code, asserts=True)])
        return format_observation(result, sandbox.limits.output_chars)

    return run_tests
