"""HumanEval: write a Python function from its docstring; pass@1 against the hidden tests.

``HumanEval(data)`` loads the 164 problems (see :mod:`.loader` for where from). Each task's
prompt is the problem's prompt (imports, signature, docstring); its env has one tool,
``run_tests[code]`` (:mod:`.tools`), which runs the agent's code and asserts in the
sandbox (:mod:`.sandbox`); ``score`` runs the official tests on the final answer
(:mod:`.scoring`). Tasks share nothing, so they can run concurrently; each sandbox run is a
short-lived process of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ...errors import UsageError
from ..base import Benchmark, Score, Task, TaskEnv, Tool
from .loader import ENV_VAR, OFFICIAL_URL, HumanEvalLoad, HumanEvalProblem, load_problems, packaged_path
from .sandbox import AssertFailure, Chunk, Sandbox, SandboxLimits, SandboxResult
from .scoring import answer_chunks, score_answer
from .tools import RUN_TESTS_SYNTAX, format_observation, make_run_tests, strip_fences

__all__ = [
    "HumanEval", "HumanEvalEnv", "ENV_VAR", "OFFICIAL_URL", "HumanEvalLoad", "HumanEvalProblem", "load_problems",
    "packaged_path", "AssertFailure", "Chunk", "Sandbox", "SandboxLimits", "SandboxResult", "answer_chunks",
    "score_answer", "RUN_TESTS_SYNTAX", "format_observation", "make_run_tests", "strip_fences",
]


class HumanEvalEnv(TaskEnv):
    """The tools of one HumanEval task: ``run_tests``, with the task's prompt run before the agent's code."""

    def __init__(self, task: Task, sandbox: Sandbox) -> None:
        self.tools: Mapping[str, Tool] = {"run_tests": make_run_tests(sandbox, [Chunk("prompt.py", task.prompt)])}


class HumanEval(Benchmark):
    """The HumanEval benchmark. ``data``: a HumanEval-format JSONL(.gz), or None for the packaged file."""

    name = "humaneval"
    tool_names = ("run_tests",)

    def __init__(self, data: str | os.PathLike[str] | None = None, *, timeout_s: float = 10.0,
                 memory_mb: int = 1024, strict: bool = False) -> None:
        self.load = load_problems(data, strict=strict)
        self.sandbox = Sandbox(SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb))

    def tasks(self, limit: int | None = None) -> list[Task]:
        if limit is not None and limit < 0:
            raise UsageError(f"limit must be 0 or more, not {limit}")
        problems = self.load.problems if limit is None else self.load.problems[:limit]
        return [
            Task(task_id=p.task_id, prompt=p.prompt, reference=p.prompt + p.canonical_solution,
                 fields={"entry_point": p.entry_point, "test": p.test, "canonical_solution": p.canonical_solution})
            for p in problems
        ]

    def new_env(self, task: Task) -> TaskEnv:
        return HumanEvalEnv(task, self.sandbox)

    async def score(self, task: Task, answer: str, env: TaskEnv | None = None) -> Score:
        score, _ = await score_answer(self.sandbox, task.prompt, task.fields["entry_point"], task.fields["test"],
                                      answer)
        return score

    def describe(self) -> Mapping[str, Any]:
        lim = self.sandbox.limits
        return {"name": self.name, "file": str(self.load.path), "problems": len(self.load.problems),
                "skipped_malformed": self.load.skipped_malformed,
                "sandbox": {"timeout_s": lim.timeout_s, "memory_mb": lim.memory_mb, "file_mb": lim.file_mb,
                            "output_chars": lim.output_chars}}
