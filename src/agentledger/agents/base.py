"""What an agent workflow is given and what it returns.

An agent never sees the trace. The capture layer hands it, per task:

* ``llm``: an async callable that sends tagged segments to the served model and returns a
  ``Generation``. Capture records each call as an ``llm_call`` event; the agent only says
  which ``role`` the call plays, its ``iteration`` and its ``parent`` (the event that caused
  it), plus sampling parameters and an optional output constraint (``regex`` or
  ``json_schema``), which capture applies or drops (``--constrained/--free``). ``on_text``
  is called with each streamed text delta of the first choice as it arrives (LLMCompiler
  dispatches plan steps while the planner is still generating); ``on_start`` gets the call's
  event id as the request is sent (so work started mid-stream can name its parent).
* ``tool``: an async callable ``(name, argument, parent=..., iteration=...)`` that runs one
  of the task env's tools and returns an ``Observation``; capture records a ``tool_call``.
* ``evaluate``: the benchmark's scorer for a candidate answer, for agents whose method uses
  the environment's reward (Reflexion's trial feedback, LATS's terminal reward).

Everything an agent keeps lives in the coroutine of one task, so any number of tasks
run concurrently in one process. An agent ends every task within its budget with an
``Episode``; a malformed model output is an observation for the model, never an exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol

from ..datasets.base import Score, Task, TaskEnv
from .prompt import Segment

__all__ = ["Generation", "Observation", "LLM", "ToolCaller", "Evaluator", "Episode", "Agent", "Knobs",
           "AgentContext"]


class Generation(Protocol):
    ok: bool
    text: str  # the first choice
    texts: list[str]  # all n choices
    finish_reason: str | None
    event_id: int
    error: str | None


class Observation(Protocol):
    ok: bool
    output: str
    event_id: int


class LLM(Protocol):
    async def __call__(
        self,
        segments: Sequence[Segment],
        *,
        role: str,
        iteration: int | None = None,
        parent: int | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: list[str] | None = None,
        n: int = 1,
        regex: str | None = None,
        json_schema: dict | None = None,
        on_text: Callable[[str], None] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> Generation: ...


class ToolCaller(Protocol):
    async def __call__(self, name: str, argument: str, *, parent: int | None,
                       iteration: int | None = None) -> Observation: ...


Evaluator = Callable[[str], Awaitable[Score]]


@dataclass(slots=True)
class AgentContext:
    """Everything one task's workflow may use."""

    task: Task
    env: TaskEnv
    dataset: str
    llm: LLM
    tool: ToolCaller
    evaluate: Evaluator
    request_event_id: int  # parent of the task's first calls


@dataclass(slots=True)
class Episode:
    """The outcome of one task: ``outcome`` is finished, budget (ran out of steps) or error."""

    answer: str
    outcome: str
    iterations: int
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Knobs:
    """Base for an agent's settings; subclasses add fields with defaults (None = by benchmark)."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Agent(ABC):
    """A workflow. ``datasets`` lists the benchmarks it supports; ``knobs_type`` its settings."""

    name: ClassVar[str] = ""
    datasets: ClassVar[tuple[str, ...]] = ()
    knobs_type: ClassVar[type[Knobs]] = Knobs

    def __init__(self, knobs: Knobs | None = None) -> None:
        self.knobs = knobs or self.knobs_type()

    @classmethod
    def make_knobs(cls, values: Mapping[str, Any]) -> Knobs:
        """Knobs from CLI values; unknown names and None values are ignored."""
        names = {f.name for f in fields(cls.knobs_type)}
        return cls.knobs_type(**{k: v for k, v in values.items() if k in names and v is not None})

    def settings(self, dataset: str) -> dict[str, Any]:
        """The resolved knobs for ``dataset`` (recorded in the trace metadata)."""
        return self.knobs.to_dict()

    @abstractmethod
    async def run(self, ctx: AgentContext) -> Episode:
        """Solve one task. Must return (never raise) for model or tool misbehaviour."""
