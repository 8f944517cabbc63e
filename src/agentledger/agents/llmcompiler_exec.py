"""LLMCompiler's executor: each planned task runs as soon as the tasks it depends on have results.

Tasks arrive one by one (while the planner still streams). Each becomes an asyncio task that
waits for its dependencies, replaces ``$k`` in its argument by task ``k``'s result and calls
the tool through the agent's ``ToolCaller``, so independent tasks run concurrently with
each other and with the planner.

What a benchmark's tools share decides extra ordering, given by :class:`Policy`:

* ``chain`` (WebShop): the actions drive one browser session, so every task waits for the
  one before it.
* ``page_tool`` (HotpotQA's ``lookup``): it reads the page the last ``search`` opened. A
  lookup without a written dependency waits for the nearest search above it; it then runs
  alone (no search in flight), and if another search has run since its search, that search
  is issued again first, so the lookup reads the page the plan meant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .base import ToolCaller
from .llmcompiler_plan import Step

__all__ = ["Policy", "POLICIES", "TaskResult", "Executor", "PageGuard"]

_MISSING = -1


@dataclass(frozen=True, slots=True)
class Policy:
    """Ordering rules of a benchmark's tools (see the module docstring)."""

    tools: tuple[str, ...]
    chain: bool = False
    page_opener: str | None = None  # the tool that sets the page (search)
    page_tool: str | None = None  # the tool that reads it (lookup)
    quoted: bool = True  # tasks written tool("argument", $k); else tool[argument], without references


POLICIES = {
    "hotpotqa": Policy(("search", "lookup"), page_opener="search", page_tool="lookup"),
    "webshop": Policy(("search", "click"), chain=True, quoted=False),
}


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A task's outcome: the tool's observation (or why it did not run) and its event id."""

    step: Step
    argument: str  # after substitution
    output: str
    ok: bool
    event_id: int | None


def _outcome(step: Step, task: asyncio.Task[TaskResult]) -> TaskResult:
    if task.cancelled():
        return TaskResult(step, step.argument, "The task was cancelled.", False, None)
    exc = task.exception()
    if exc is not None:
        return TaskResult(step, step.argument, f"error: {type(exc).__name__}: {exc}", False, None)
    return task.result()


class PageGuard:
    """Searches may run together; a lookup runs alone, after re-opening its search's page if needed."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._searching: set[int] = set()
        self._searched: set[int] = set()
        self._stale: set[int] = set()  # searches whose page may no longer be the current one
        self._looking = False

    async def search(self, idx: int, call: Callable[[], Awaitable[TaskResult]]) -> TaskResult:
        async with self._cond:
            await self._cond.wait_for(lambda: not self._looking)
            self._stale |= self._searching | self._searched
            if self._searching:
                self._stale.add(idx)
            self._searching.add(idx)
        try:
            return await call()
        finally:
            async with self._cond:
                self._searching.discard(idx)
                self._searched.add(idx)
                self._cond.notify_all()

    async def lookup(self, dep: int | None, call: Callable[[], Awaitable[TaskResult]],
                     reopen: Callable[[], Awaitable[object]]) -> TaskResult:
        async with self._cond:
            await self._cond.wait_for(lambda: not self._looking and not self._searching)
            self._looking = True
        try:
            if dep is not None and dep in self._stale:
                await reopen()
                self._stale = self._searched - {dep}
            return await call()
        finally:
            async with self._cond:
                self._looking = False
                self._cond.notify_all()


class Executor:
    """Runs one plan's tasks for one task env. ``submit`` is synchronous (called from the stream)."""

    def __init__(self, tool: ToolCaller, policy: Policy, *, iteration: int,
                 parent: Callable[[], int | None]) -> None:
        self._tool, self._policy, self._iteration, self._parent = tool, policy, iteration, parent
        self._loop = asyncio.get_running_loop()
        self._futures: dict[int, asyncio.Future[TaskResult]] = {}
        self._steps: dict[int, Step] = {}
        self._tasks: list[asyncio.Task[TaskResult]] = []
        self._guard = PageGuard() if policy.page_tool else None
        self.reopened = 0

    def _extra_dep(self, step: Step) -> int | None:
        """The dependency the policy adds: the previous task (chain) or a lookup's search."""
        p = self._policy
        if p.chain and step.idx > 1:
            return step.idx - 1
        if step.tool == p.page_tool and p.page_opener:
            written = [d for d in step.deps if d < step.idx and self._steps.get(d, step).tool == p.page_opener]
            if written:
                return written[-1]
            openers = [s.idx for s in self._steps.values() if s.tool == p.page_opener and s.idx < step.idx]
            return openers[-1] if openers else None
        return None

    def submit(self, step: Step) -> None:
        self._steps[step.idx] = step
        extra = self._extra_dep(step)
        deps = tuple(dict.fromkeys(step.deps + ((extra,) if extra is not None else ())))
        fut: asyncio.Future[TaskResult] = self._loop.create_future()
        self._futures[step.idx] = fut
        task = self._loop.create_task(self._run(step, deps, extra))
        task.add_done_callback(lambda t: fut.done() or fut.set_result(_outcome(step, t)))
        self._tasks.append(task)

    async def _run(self, step: Step, deps: tuple[int, ...], extra: int | None) -> TaskResult:
        bad = [d for d in deps if d >= step.idx or d not in self._futures]
        if bad:
            return TaskResult(step, step.argument, f"Task {step.idx} refers to ${bad[0]}, which is not an earlier "
                              f"task of this plan; refer only to tasks numbered below {step.idx}.", False, None)
        results = {d: await self._futures[d] for d in deps}
        argument = step.argument
        for ref in sorted(step.arg_refs, reverse=True):  # $12 before $1
            argument = argument.replace(f"${{{ref}}}", results[ref].output).replace(f"${ref}", results[ref].output)
        call = self._caller(step, argument)
        guard, p = self._guard, self._policy
        if guard is not None and step.tool == p.page_opener:
            return await guard.search(step.idx, call)
        if guard is not None and step.tool == p.page_tool:
            dep = extra if extra is not None and self._steps[extra].tool == p.page_opener else None
            return await guard.lookup(dep, call, lambda: self._reopen(results[dep]))
        return await call()

    def _caller(self, step: Step, argument: str) -> Callable[[], Awaitable[TaskResult]]:
        async def call() -> TaskResult:
            obs = await self._tool(step.tool, argument, parent=self._parent(), iteration=self._iteration)
            return TaskResult(step, argument, obs.output, obs.ok, obs.event_id)
        return call

    async def _reopen(self, search: TaskResult) -> None:
        self.reopened += 1
        await self._tool(search.step.tool, search.argument, parent=self._parent(), iteration=self._iteration)

    async def results(self) -> list[TaskResult]:
        """Every submitted task's result, in plan order (waits for those still running)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return [self._futures[i].result() for i in sorted(self._futures)]

    async def cancel(self) -> None:
        """Stop the tasks still running (the plan is abandoned)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
