"""Tool instrumentation: every tool call an agent makes goes through ``ToolRunner.call``.

Each call becomes one ``tool_call`` event: name, backend, parent LLM call, start/end,
argument and output sizes in characters and in tokens of the served tokenizer,
ok/error, and whether the per-call timeout stopped it. Tools are async callables;
a plain function is run in a worker thread so that it never stalls other tasks'
LLM calls on the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..traceformat import ToolCall, TraceWriter

__all__ = ["ToolResult", "ToolRunner", "ToolFn"]

ToolFn = Callable[[str], Awaitable[str]] | Callable[[str], str]
TokenCounter = Callable[[list[str]], list[int]]


@dataclass(frozen=True, slots=True)
class ToolResult:
    ok: bool
    output: str  # the observation the agent sees (an error message when not ok)
    error: str | None
    timed_out: bool
    event_id: int


class ToolRunner:
    """Runs tools for one capture and records each call. Holds no per-task state."""

    def __init__(
        self,
        writer: TraceWriter,
        count_tokens: TokenCounter | None = None,
        *,
        default_timeout_s: float = 30.0,
        record_text: bool = True,
    ) -> None:
        self._w = writer
        self._count = count_tokens
        self._timeout = default_timeout_s
        self._text = record_text

    async def call(
        self,
        name: str,
        fn: ToolFn,
        argument: str,
        *,
        request_id: int | None,
        parent_event_id: int | None,
        iteration: int | None = None,
        backend: str = "local",
        timeout_s: float | None = None,
    ) -> ToolResult:
        timeout = self._timeout if timeout_s is None else timeout_s
        eid = self._w.new_id()
        start = time.monotonic_ns()
        ok, timed_out, error, output = True, False, None, ""
        try:
            if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__):
                output = await asyncio.wait_for(fn(argument), timeout)
            else:
                output = await asyncio.wait_for(asyncio.to_thread(fn, argument), timeout)
            output = "" if output is None else str(output)
        except asyncio.TimeoutError:
            ok, timed_out = False, True
            error = f"tool {name} timed out after {timeout:g} s"
            output = error
        except asyncio.CancelledError:
            self._write(eid, start, time.monotonic_ns(), name, backend, argument, "", False, "cancelled", False,
                        timeout, request_id, parent_event_id, iteration, (None, None))
            raise
        except Exception as exc:  # a tool failure is data for the agent and the trace, not a crash
            ok, error = False, f"{type(exc).__name__}: {exc}"
            output = f"error: {error}"
        end = time.monotonic_ns()  # before token counting, which is not the tool's time
        tokens = (None, None)
        if self._count is not None:
            tokens = tuple(await asyncio.to_thread(self._count, [argument, output]))
        self._write(eid, start, end, name, backend, argument, output, ok, error, timed_out, timeout,
                    request_id, parent_event_id, iteration, tokens)
        return ToolResult(ok, output, error, timed_out, eid)

    def _write(self, eid, start, end, name, backend, argument, output, ok, error, timed_out, timeout,
               request_id, parent_event_id, iteration, tokens) -> None:
        w = self._w
        w.write(ToolCall(
            event_id=eid, request_id=request_id, parent_event_id=parent_event_id,
            start_ns=w.to_run_clock(start), end_ns=w.to_run_clock(end), iteration=iteration, ok=ok, error=error,
            tool_name=name, tool_backend=backend, tool_arg_chars=len(argument), tool_arg_tokens=tokens[0],
            tool_output_chars=len(output), tool_output_tokens=tokens[1], tool_timed_out=timed_out,
            tool_timeout_ns=int(timeout * 1e9),
            tool_input_text=argument if self._text else None, tool_output_text=output if self._text else None,
        ))
