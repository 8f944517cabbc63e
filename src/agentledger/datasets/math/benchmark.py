"""The MATH benchmark: tasks, the ``calculate`` and ``solve`` tools, the scorer.

``MATH(data, level=, subject=, wolfram=, strict=)`` loads problems (see :mod:`.loader`; the path
comes from ``--data`` or ``$AGENTLEDGER_MATH``). Each task's env has two tools:
``calculate`` (:mod:`.calculator`, inline and bounded) and ``solve`` (sympy in worker
processes, :mod:`.solver`; or Wolfram|Alpha with ``wolfram=True``, :mod:`.wolfram`).
``score`` compares the agent's final answer with the reference (:mod:`.scoring`).

The sympy worker pool and the HTTP client belong to the benchmark and are shared by all
tasks; ``aclose()`` stops them. Envs hold no state of their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

from ...errors import UsageError
from ..base import Benchmark, Score, Task, TaskEnv, Tool, resolve_data_path
from .calculator import calculate
from .loader import ENV_VAR, MATH500_URL, OFFICIAL_URL, MathLoad, load_math
from .scoring import score_answer
from .solver import SympySolver
from .wolfram import APP_ID_ENV, WolframAlpha
from .worker import SympyWorker

__all__ = ["MATH", "MathEnv"]


class MathEnv(TaskEnv):
    """The tools of one MATH task; ``tool_backends`` names the backend of each for the trace."""

    def __init__(self, tools: Mapping[str, Tool], tool_backends: Mapping[str, str]) -> None:
        self.tools = dict(tools)
        self.tool_backends = dict(tool_backends)


class MATH(Benchmark):
    """MATH / MATH-500 with a calculator and a symbolic solver."""

    name = "math"
    tool_names = ("calculate", "solve")

    def __init__(
        self,
        data: str | os.PathLike[str] | None = None,
        *,
        level: int | str | None = None,
        subject: str | None = None,
        wolfram: bool = False,
        strict: bool = False,
        split: str = "math500",
        cpu_limit_s: float = 5.0,
        max_workers: int | None = None,
        wolfram_app_id: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        app_id = ""
        if wolfram:  # checked first: a missing app id is a usage error, whatever the data
            app_id = wolfram_app_id if wolfram_app_id is not None else os.environ.get(APP_ID_ENV, "")
            if not app_id.strip():
                raise UsageError(f"--wolfram needs a Wolfram|Alpha app id: set {APP_ID_ENV} "
                                 "(get one at https://developer.wolframalpha.com)")
        path = resolve_data_path(
            data, ENV_VAR, needed="the MATH-500 JSONL or the MATH test data",
            official_url=f"{MATH500_URL} or {OFFICIAL_URL}",
        )
        self.load: MathLoad = load_math(path, level=level, subject=subject, split=split, strict=strict)
        self._worker = SympyWorker(cpu_limit_s=cpu_limit_s, max_workers=max_workers)
        self._wolfram = WolframAlpha(app_id, client=http_client) if wolfram else None
        self._solve: Tool = self._wolfram if self._wolfram is not None else SympySolver(self._worker)

    @property
    def solve_backend(self) -> str:
        """``"wolfram"`` or ``"sympy"``."""
        return "wolfram" if self._wolfram is not None else "sympy"

    def tasks(self, limit: int | None = None) -> list[Task]:
        problems = self.load.problems if limit is None else self.load.problems[:limit]
        return [
            Task(task_id=p.task_id, prompt=p.problem, reference=p.answer,
                 fields={"subject": p.subject, "level": p.level})
            for p in problems
        ]

    def new_env(self, task: Task) -> MathEnv:
        return MathEnv({"calculate": calculate, "solve": self._solve},
                       {"calculate": "local", "solve": self.solve_backend})

    async def score(self, task: Task, answer: str, env: TaskEnv | None = None) -> Score:
        if task.reference is None:
            raise ValueError(f"task {task.task_id} has no reference answer")
        return await score_answer(answer, task.reference, self._worker)

    def describe(self) -> Mapping[str, Any]:
        load = self.load
        return {
            "name": self.name, "path": str(load.path), "layout": load.layout, "records": load.records_read,
            "tasks": len(load.problems), "skipped_malformed": load.skipped_malformed, "level": load.level,
            "subject": load.subject, "solve_backend": self.solve_backend,
            "sympy_cpu_limit_s": self._worker.cpu_limit_s,
        }

    async def warm_up(self) -> None:
        """Start the sympy worker processes before the first tool call or score (optional)."""
        await self._worker.warm_up()

    async def aclose(self) -> None:
        await self._worker.aclose()
        if self._wolfram is not None:
            await self._wolfram.aclose()
