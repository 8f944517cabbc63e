"""Running agent workflows on benchmark tasks: the instrumented ``llm`` and ``tool`` an agent gets.

One ``request`` event per task wraps the task's LLM and tool calls. ``_TaskLLM`` binds a
task's request id to the shared ``LLMClient`` and applies or drops output constraints
(``--constrained/--free``); ``_TaskTools`` maps the action names an agent writes to the
task env's tools and records each call through ``ToolRunner``. Failures of the model, the
tools or the agent end the task with an outcome; they never stop the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..agents.base import Agent, AgentContext, Episode
from ..agents.prompt import Segment
from ..datasets.base import Benchmark, Task, TaskEnv
from ..traceformat import Request, TraceWriter
from .client import Completion, LLMClient
from .tools import ToolRunner

__all__ = ["TaskRunner"]


@dataclass(frozen=True, slots=True)
class _NoTool:
    ok: bool
    output: str
    event_id: int | None = None


class _TaskLLM:
    def __init__(self, client: LLMClient, request_id: int, constrained: bool, seed: int | None,
                 on_done: Callable[[Completion], None]) -> None:
        self._client, self._rid, self._constrained, self._seed, self._done = client, request_id, constrained, seed, on_done

    async def __call__(self, segments: Sequence[Segment], *, role: str, iteration: int | None = None,
                       parent: int | None = None, temperature: float = 0.0, max_tokens: int = 256,
                       stop: list[str] | None = None, n: int = 1, regex: str | None = None,
                       json_schema: dict | None = None, on_text: Callable[[str], None] | None = None,
                       on_start: Callable[[int], None] | None = None) -> Completion:
        res = await self._client.chat(
            segments, request_id=self._rid, parent_event_id=self._rid if parent is None else parent, role=role,
            iteration=iteration, temperature=temperature, max_tokens=max_tokens, stop=stop, n=n,
            seed=self._seed if temperature == 0 else None,  # a fixed seed would make samples identical
            regex=regex if self._constrained else None, json_schema=json_schema if self._constrained else None,
            on_text=on_text, on_start=on_start)
        self._done(res)
        return res


class _TaskTools:
    def __init__(self, runner: ToolRunner, env: TaskEnv, request_id: int) -> None:
        self._runner, self._rid = runner, request_id
        self._tools = {k.lower(): v for k, v in env.tools.items()}
        self._backend = {k.lower(): env.tool_backends.get(k, "local") for k in env.tools}

    async def __call__(self, name: str, argument: str, *, parent: int | None, iteration: int | None = None):
        key = name.strip().lower()
        fn = self._tools.get(key)
        if fn is None:
            return _NoTool(False, f"There is no tool {name!r}. Tools: {', '.join(self._tools) or 'none'}.")
        return await self._runner.call(key, fn, argument, request_id=self._rid,
                                       parent_event_id=self._rid if parent is None else parent,
                                       iteration=iteration, backend=self._backend[key])


class TaskRunner:
    """Runs one agent over tasks of one benchmark, recording each task as a ``request``."""

    def __init__(self, agent: Agent, bench: Benchmark, dataset: str, client: LLMClient, tools: ToolRunner,
                 writer: TraceWriter, *, constrained: bool, seed: int | None, task_timeout_s: float | None,
                 on_call: Callable[[Completion], None]) -> None:
        self.agent, self.bench, self.dataset = agent, bench, dataset
        self.client, self.tools, self.writer = client, tools, writer
        self.constrained, self.seed, self.timeout = constrained, seed, task_timeout_s
        self.on_call = on_call

    async def run_task(self, task: Task) -> tuple[float, Request]:
        w = self.writer
        rid = w.new_id()
        t0 = time.monotonic_ns()
        env = self.bench.new_env(task)
        ctx = AgentContext(
            task=task, env=env, dataset=self.dataset,
            llm=_TaskLLM(self.client, rid, self.constrained, self.seed, self.on_call),
            tool=_TaskTools(self.tools, env, rid),
            evaluate=lambda answer: self.bench.score(task, answer, env), request_event_id=rid)
        error = None
        try:
            episode = await asyncio.wait_for(self.agent.run(ctx), self.timeout)
        except asyncio.TimeoutError:
            episode, error = Episode("", "timeout", 0), f"task exceeded {self.timeout:g} s"
        except Exception as exc:  # an agent bug must not stop the other tasks; it is recorded
            episode, error = Episode("", "error", 0), f"{type(exc).__name__}: {exc}"
        score = None
        outcome = {"budget": "max_iterations", "error": "error", "timeout": "timeout"}.get(episode.outcome)
        if error is None and episode.outcome != "error":
            try:
                s = await self.bench.score(task, episode.answer, env)
                if s is None:
                    outcome = outcome or "unscored"
                else:
                    score = s.value
                    outcome = outcome or ("correct" if s.correct else "incorrect")
            except Exception as exc:
                error, outcome = f"scoring failed: {type(exc).__name__}: {exc}", "error"
        try:
            await env.aclose()
        except Exception:  # closing is best effort; the task's result is already known
            pass
        t1 = time.monotonic_ns()
        req = Request(event_id=rid, request_id=rid, start_ns=w.to_run_clock(t0), end_ns=w.to_run_clock(t1),
                      ok=error is None and episode.outcome != "error",
                      error=error or episode.notes.get("error"), item_id=task.task_id, outcome=outcome or "unscored",
                      score=score, final_answer=episode.answer, iterations=episode.iterations)
        w.write(req)
        return (t1 - t0) / 1e9, req
