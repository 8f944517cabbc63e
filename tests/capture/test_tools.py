"""Tool calls become tool_call events; blocking tools never stall the event loop."""

from __future__ import annotations

import asyncio
import time

import polars as pl

from agentledger.capture.tools import ToolRunner
from agentledger.traceformat import Request, TraceWriter, read_trace, validate_trace


def _count(texts):
    return [len(t.split()) for t in texts]


def test_tool_calls_are_recorded_with_sizes_errors_and_timeouts(tmp_path):
    path = tmp_path / "t.arrow"

    async def search(arg: str) -> str:
        await asyncio.sleep(0.01)
        return f"Paris is the capital of {arg}"

    def lookup(arg: str) -> str:  # blocking: must run in a thread
        time.sleep(0.3)
        return "found"

    async def broken(arg: str) -> str:
        raise ValueError("no such page")

    async def main(w: TraceWriter):
        runner = ToolRunner(w, _count, default_timeout_s=5)
        rid = w.new_id()
        ticks = 0

        async def ticker():
            nonlocal ticks
            for _ in range(20):
                await asyncio.sleep(0.01)
                ticks += 1

        r1, r2, _ = await asyncio.gather(
            runner.call("search", search, "France", request_id=rid, parent_event_id=rid, iteration=0, backend="local_index"),
            runner.call("lookup", lookup, "capital", request_id=rid, parent_event_id=rid, iteration=1),
            ticker(),
        )
        r3 = await runner.call("lookup", lookup, "slow", request_id=rid, parent_event_id=rid, timeout_s=0.05)
        r4 = await runner.call("search", broken, "x", request_id=rid, parent_event_id=rid)
        w.write(Request(event_id=rid, item_id="q", start_ns=0, end_ns=w.now_ns()))
        return ticks, (r1, r2, r3, r4)

    with TraceWriter(path) as w:
        ticks, (r1, r2, r3, r4) = asyncio.run(main(w))
    assert ticks == 20  # the loop kept running while lookup slept in its thread
    assert r1.ok and r1.output == "Paris is the capital of France"
    assert r2.ok and r2.output == "found"
    assert not r3.ok and r3.timed_out and "timed out after 0.05 s" in r3.output
    assert not r4.ok and r4.error == "ValueError: no such page" and not r4.timed_out
    tr = read_trace(path)
    assert validate_trace(tr) == []
    tools = tr.events("tool_call").sort("start_ns")
    assert tools.height == 4
    first = tools.filter(pl.col("event_id") == r1.event_id).row(0, named=True)
    assert first["tool_backend"] == "local_index" and first["tool_arg_chars"] == 6 and first["tool_arg_tokens"] == 1
    assert first["tool_output_tokens"] == 6 and first["tool_output_text"] == r1.output
    assert first["end_ns"] - first["start_ns"] >= 10_000_000
    slow = tools.filter(pl.col("event_id") == r3.event_id).row(0, named=True)
    assert slow["tool_timed_out"] is True and slow["tool_timeout_ns"] == 50_000_000 and slow["ok"] is False
    assert slow["end_ns"] - slow["start_ns"] < 250_000_000  # the agent was not kept waiting for the tool


def test_a_callable_object_with_async_call_is_awaited(tmp_path):
    class Tool:
        async def __call__(self, arg: str) -> str:
            await asyncio.sleep(0)
            return arg.upper()

    async def main(w):
        return await ToolRunner(w).call("up", Tool(), "abc", request_id=None, parent_event_id=None)

    with TraceWriter(tmp_path / "t.arrow") as w:
        res = asyncio.run(main(w))
    assert res.ok and res.output == "ABC"
