"""LLMCompiler (Kim et al., ICML 2024): a streamed plan of parallel tool calls, an executor, a joiner.

Each round, the planner (role ``planner``) writes a numbered plan of tool calls with their
dependencies (:mod:`.llmcompiler_plan`). The plan is read while it streams (``on_text``):
every task is handed to the executor (:mod:`.llmcompiler_exec`) as soon as its line is
complete, and runs as soon as the tasks it needs have results, so tool time overlaps the
planner's decoding and independent tool calls overlap each other. Every tool call's parent
is the planner call that wrote it: its event id comes from the LLM's optional ``on_start``
hook (called with the id when the request is sent); an LLM without that hook gives the id
only when the call ends, so tasks started before that name the request instead. When the plan is done and its tasks have run, the
joiner (role ``joiner``, temperature 0) reads the results and writes ``Finish[answer]`` or
``Replan[reason]``; a replan starts a new round whose planner sees the earlier plans and
results (at most ``max_replans`` replans). A plan with no readable task is a replan with an
observation saying how to write one. Every task ends with an ``Episode``.

Knobs: ``max_replans`` (3), ``max_tasks`` per plan (6, bounded by the output grammar),
``few_shot`` (None: all examples of the benchmark), ``stream`` (False waits for the whole plan
before running any task: the non-overlapped baseline), token caps and ``obs_chars`` (how much
of each observation later prompts show).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import UsageError
from .base import Agent, AgentContext, Episode, Generation, Knobs
from .llmcompiler_exec import POLICIES, Executor, TaskResult
from .llmcompiler_plan import JOINER_REGEX, MAX_TASKS_LIMIT, PlanStream, parse_verdict, plan_regex
from .llmcompiler_prompts import JOINER_EXAMPLES, PLANNER_EXAMPLES, Round, joiner_segments, planner_segments

__all__ = ["LLMCompilerKnobs", "LLMCompiler", "UNPARSABLE_PLAN", "OBS_CHARS"]

OBS_CHARS = {"hotpotqa": 600, "webshop": 1500}  # a search page lists ~10 products in 1500 characters
UNPARSABLE_PLAN = ('the plan had no task line that could be read; write a Thought line, then tasks like '
                   '1. search("entity") one per line, then join()')


@dataclass(frozen=True, slots=True)
class LLMCompilerKnobs(Knobs):
    max_replans: int = 3
    max_tasks: int = 6
    few_shot: int | None = None  # None: every example written for the benchmark
    stream: bool = True
    planner_max_tokens: int = 256
    joiner_max_tokens: int = 128
    obs_chars: int | None = None  # None: by benchmark (OBS_CHARS)
    temperature: float = 0.0

    def __post_init__(self) -> None:
        if self.max_replans < 0:
            raise UsageError(f"max_replans must be 0 or more, not {self.max_replans}")
        if not 1 <= self.max_tasks <= MAX_TASKS_LIMIT:
            raise UsageError(f"max_tasks must be between 1 and {MAX_TASKS_LIMIT}, not {self.max_tasks}")
        if self.few_shot is not None and self.few_shot < 0:
            raise UsageError(f"few_shot must be 0 or more, not {self.few_shot}")
        for name in ("planner_max_tokens", "joiner_max_tokens", "obs_chars"):
            if getattr(self, name) is not None and getattr(self, name) < 16:
                raise UsageError(f"{name} must be at least 16, not {getattr(self, name)}")


@dataclass(slots=True)
class _Parent:
    """The running planner call's event id, known from ``on_start`` (or once the call returns)."""

    event_id: int | None = None

    def set(self, event_id: int) -> None:
        self.event_id = event_id

    def get(self) -> int | None:
        return self.event_id


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes keyword ``name`` (the LLM's optional ``on_start`` hook)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


@dataclass(slots=True)
class _Notes:
    plans: list[str] = field(default_factory=list)
    tasks: int = 0
    malformed_lines: int = 0
    truncated_plans: int = 0
    reopened_pages: int = 0
    replans: list[str] = field(default_factory=list)
    stream_mismatch: int = 0

    def as_dict(self, **extra: Any) -> dict[str, Any]:
        return {"plans": list(self.plans), "tasks": self.tasks, "malformed_lines": self.malformed_lines,
                "truncated_plans": self.truncated_plans, "reopened_pages": self.reopened_pages,
                "replans": list(self.replans), "stream_mismatch": self.stream_mismatch, **extra}


class LLMCompiler(Agent):
    """Planner, executor and joiner; see the module docstring."""

    name: ClassVar[str] = "llmcompiler"
    datasets: ClassVar[tuple[str, ...]] = ("hotpotqa", "webshop")
    knobs_type: ClassVar[type[Knobs]] = LLMCompilerKnobs

    @property
    def k(self) -> LLMCompilerKnobs:
        assert isinstance(self.knobs, LLMCompilerKnobs)
        return self.knobs

    def few_shot(self, dataset: str) -> int:
        """The number of examples each prompt shows on ``dataset``."""
        available = min(len(PLANNER_EXAMPLES[dataset]), len(JOINER_EXAMPLES[dataset]))
        if self.k.few_shot is None:
            return available
        if self.k.few_shot > available:
            raise UsageError(f"llmcompiler has {available} examples for {dataset}; pass few_shot {available} "
                             f"or less, not {self.k.few_shot}")
        return self.k.few_shot

    def obs_chars(self, dataset: str) -> int:
        """How many characters of each observation later prompts show on ``dataset``."""
        return self.k.obs_chars if self.k.obs_chars is not None else OBS_CHARS[dataset]

    def settings(self, dataset: str) -> dict[str, Any]:
        if dataset not in POLICIES:
            raise UsageError(f"llmcompiler runs on {', '.join(self.datasets)}, not {dataset}")
        return {**self.k.to_dict(), "few_shot": self.few_shot(dataset), "obs_chars": self.obs_chars(dataset),
                "plan_tools": list(POLICIES[dataset].tools), "chain": POLICIES[dataset].chain}

    async def run(self, ctx: AgentContext) -> Episode:
        if ctx.dataset not in POLICIES:
            return Episode("", "error", 0, {"error": f"llmcompiler runs on {', '.join(self.datasets)}, "
                                                     f"not {ctx.dataset}"})
        k, notes = self.k, _Notes()
        few = self.few_shot(ctx.dataset)
        hook = _accepts(ctx.llm, "on_start")
        rounds: list[Round] = []
        parent: int | None = None  # the joiner call that asked for this round (None: the request)
        for it in range(k.max_replans + 1):
            gen, plan, results = await self._plan_and_execute(ctx, rounds, it, parent, few, hook, notes)
            if not gen.ok:
                return Episode("", "error", it + 1, notes.as_dict(error=f"planner call failed: {gen.error}"))
            if not plan.steps and not plan.joined:
                notes.replans.append(UNPARSABLE_PLAN)
                rounds.append(Round(gen.text, (), UNPARSABLE_PLAN))
                parent = gen.event_id
                continue
            segs = joiner_segments(ctx.dataset, ctx.task.prompt, rounds, gen.text, results, few_shot=few,
                                   obs_chars=self.obs_chars(ctx.dataset))
            joined = await ctx.llm(segs, role="joiner", iteration=it, parent=gen.event_id, temperature=0.0,
                                   max_tokens=k.joiner_max_tokens, regex=JOINER_REGEX)
            if not joined.ok:
                return Episode("", "error", it + 1, notes.as_dict(error=f"joiner call failed: {joined.error}"))
            verdict = parse_verdict(joined.text)
            if verdict.action == "finish":
                return Episode(verdict.text, "finished", it + 1, notes.as_dict())
            notes.replans.append(verdict.text)
            rounds.append(Round(gen.text, tuple(results), verdict.text))
            parent = joined.event_id
        return Episode("", "budget", k.max_replans + 1, notes.as_dict())

    async def _plan_and_execute(self, ctx: AgentContext, rounds: list[Round], it: int, parent: int | None,
                                few: int, hook: bool, notes: _Notes) -> tuple[Generation, PlanStream,
                                                                             list[TaskResult]]:
        """One planner call, its tasks run while it streams (``stream``) or after it (not ``stream``)."""
        k, policy = self.k, POLICIES[ctx.dataset]
        planner = _Parent()
        executor = Executor(ctx.tool, policy, iteration=it, parent=planner.get)
        plan = PlanStream(k.max_tasks, on_step=executor.submit if k.stream else None, refs=policy.quoted)
        segs = planner_segments(ctx.dataset, ctx.task.prompt, rounds, few_shot=few, max_tasks=k.max_tasks,
                                obs_chars=self.obs_chars(ctx.dataset), first_page=ctx.task.fields.get("observation"))
        extra: dict[str, Any] = {"on_start": planner.set} if hook else {}
        try:
            gen = await ctx.llm(segs, role="planner", iteration=it, parent=parent, temperature=k.temperature,
                                max_tokens=k.planner_max_tokens,
                                regex=plan_regex(policy.tools, k.max_tasks, refs=policy.quoted),
                                on_text=plan.feed if k.stream else None, **extra)
            if not gen.ok:
                await executor.cancel()
                return gen, plan, []
            planner.set(gen.event_id)
            streamed = plan.text
            if gen.text.startswith(streamed):  # what the stream did not deliver (all of it without streaming)
                plan.feed(gen.text[len(streamed):])
            else:
                notes.stream_mismatch += 1
            plan.close()
            if not k.stream:
                for step in plan.steps:
                    executor.submit(step)
            results = await executor.results()
        except BaseException:
            await executor.cancel()
            raise
        notes.plans.append(gen.text)
        notes.tasks += len(plan.steps)
        notes.malformed_lines += len(plan.malformed)
        notes.truncated_plans += int(plan.truncated)
        notes.reopened_pages += executor.reopened
        return gen, plan, results
