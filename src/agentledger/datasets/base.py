"""The interface every benchmark implements: tasks, per-task tool environments, scoring.

Agents see a benchmark only through these types. A ``Benchmark`` loads ``Task`` records;
``new_env(task)`` gives one task its own ``TaskEnv`` (the tools, with whatever state
they keep, such as HotpotQA's current page or a WebShop session), and ``score`` turns
the agent's final answer (plus the env, for benchmarks whose reward is a state of the
environment, such as WebShop's purchase) into a ``Score``. Nothing here is shared
between tasks, so hundreds of tasks can run concurrently in one process.

Tools are ``async (argument: str) -> str`` callables. A tool whose argument does not
parse returns an observation that tells the agent the syntax; it raises only for real
failures (which the capture layer records as a failed tool call).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import DataError

__all__ = ["Task", "Score", "TaskEnv", "Benchmark", "Tool", "resolve_data_path"]

Tool = Callable[[str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Task:
    """One benchmark item. ``task_id`` is stable across runs (recorded in the trace)."""

    task_id: str
    prompt: str  # what the agent is asked: becomes the ``user`` segment
    reference: str | None = None  # the gold answer, where the benchmark has a single one
    fields: Mapping[str, Any] = field(default_factory=dict)  # benchmark-specific extras


@dataclass(frozen=True, slots=True)
class Score:
    """``value`` in [0, 1] (exact match, F1, reward, pass); ``correct`` is the study's success bit."""

    value: float
    correct: bool
    detail: Mapping[str, float] = field(default_factory=dict)


class TaskEnv(ABC):
    """The tools of one task. ``tools`` maps the action name the agent writes to its callable;
    ``tool_backends`` names where a tool's answers come from (the trace's ``tool_backend``),
    ``"local"`` for any tool it does not list."""

    tools: Mapping[str, Tool]
    tool_backends: Mapping[str, str] = MappingProxyType({})

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what the env holds (sessions, temp dirs)."""


class Benchmark(ABC):
    """A loaded benchmark. Construct with the data path (or None for the default)."""

    name: str = ""
    tool_names: tuple[str, ...] = ()

    @abstractmethod
    def tasks(self, limit: int | None = None) -> list[Task]:
        """The tasks in the benchmark's official order (after any filters), first ``limit``."""

    @abstractmethod
    def new_env(self, task: Task) -> TaskEnv:
        """A fresh tool environment for one task."""

    @abstractmethod
    async def score(self, task: Task, answer: str, env: TaskEnv | None = None) -> Score | None:
        """Score the agent's final answer for ``task``; None for a benchmark without references."""

    def describe(self) -> Mapping[str, Any]:
        """What the trace metadata should say about the data used (files, counts, catalog)."""
        return {"name": self.name}

    async def warm_up(self) -> None:  # noqa: B027 - optional hook
        """Start what the tools need (worker processes) before the run's clock matters."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release shared resources (servers, indexes)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release shared resources from synchronous code (after the event loop has ended)."""


def resolve_data_path(
    given: str | os.PathLike[str] | None,
    env_var: str,
    *,
    needed: str,
    official_url: str,
) -> Path:
    """The data path from ``--data``, else ``$env_var``; a ``DataError`` saying what to get otherwise."""
    raw = given if given is not None else os.environ.get(env_var)
    if not raw:
        raise DataError(f"no data for this benchmark: pass --data PATH or set {env_var} to {needed} "
                        f"(download: {official_url})")
    path = Path(raw).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist: pass --data PATH or set {env_var} to {needed} "
                        f"(download: {official_url})")
    return path
