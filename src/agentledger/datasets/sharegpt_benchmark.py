"""ShareGPT as a ``Benchmark``: the single-turn baseline (no tools, not scored)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .base import Benchmark, Score, Task, TaskEnv
from .sharegpt import load_sharegpt

__all__ = ["ShareGPT"]


class _NoTools(TaskEnv):
    def __init__(self) -> None:
        self.tools = {}


class ShareGPT(Benchmark):
    """Tasks are first human turns; ``fields["reference_reply"]`` is the recorded answer."""

    name = "sharegpt"
    tool_names = ()

    def __init__(self, data: str | os.PathLike[str] | None = None, *, shuffle_seed: int | None = None) -> None:
        self._data = data
        self._seed = shuffle_seed
        self._summary = ""

    def tasks(self, limit: int | None = None) -> list[Task]:
        load = load_sharegpt(self._data, limit=limit, shuffle_seed=self._seed)
        self._summary = load.summary()
        return [Task(t.item_id, t.prompt, None, {"reference_reply": t.reference_reply}) for t in load.tasks]

    def new_env(self, task: Task) -> TaskEnv:
        return _NoTools()

    async def score(self, task: Task, answer: str, env: TaskEnv | None = None) -> Score | None:
        return None  # conversations have a recorded reply, not a reference answer: unscored

    def describe(self) -> Mapping[str, Any]:
        return {"name": self.name, "summary": self._summary}
