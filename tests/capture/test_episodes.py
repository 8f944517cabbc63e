"""The agent plumbing against a scripted OpenAI-compatible server: events, parents, outcomes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentledger.agents.base import Agent, AgentContext, Episode
from agentledger.agents.prompt import Segment
from agentledger.capture.client import LLMClient
from agentledger.capture.episodes import TaskRunner
from agentledger.capture.tools import ToolRunner
from agentledger.datasets.registry import open_benchmark
from agentledger.traceformat import RunMeta, TraceWriter, read_trace, validate_trace
from tests.agents.scripted_server import ScriptedServer


class _OneSearch(Agent):
    """Thinks once, searches the question's first supporting title, answers with the reference."""

    name = "one-search"

    async def run(self, ctx: AgentContext) -> Episode:
        gen = await ctx.llm([Segment("instruction", "Answer.", "system"), Segment("user", ctx.task.prompt)],
                            role="actor", iteration=0, regex="Action: .*")
        title = ctx.task.fields["supporting_titles"][0]
        obs = await ctx.tool("Search", title, parent=gen.event_id, iteration=0)
        bad = await ctx.tool("Fly", "away", parent=gen.event_id, iteration=0)
        assert not bad.ok and "search" in bad.output
        if ctx.task.fields.get("explode"):
            raise RuntimeError("agent bug")
        return Episode(ctx.task.reference if obs.ok else "", "finished", 1)


class _Broken(_OneSearch):
    async def run(self, ctx: AgentContext) -> Episode:
        raise RuntimeError("agent bug")


async def _run(agent: Agent, tmp_path: Path, shared_data: Path, constrained: bool) -> tuple[Path, list[dict]]:
    bench = open_benchmark("hotpotqa", shared_data / "hotpotqa", {"require_context": True, "cache_dir": str(tmp_path)})
    tasks = bench.tasks(2)
    path = tmp_path / "t.arrow"
    with ScriptedServer(lambda body: "Thought: search it\nAction: Search[x]") as srv:
        with TraceWriter(path, RunMeta(config={"agent": agent.name, "dataset": "hotpotqa"})) as w:
            client = LLMClient(srv.url, "scripted-model", w, vllm_extras=False)
            runner = TaskRunner(agent, bench, "hotpotqa", client, ToolRunner(w), w, constrained=constrained, seed=0,
                                task_timeout_s=30, on_call=lambda res: None)
            await asyncio.gather(*(runner.run_task(t) for t in tasks))
            await client.aclose()
        await bench.aclose()
        return path, srv.requests


@pytest.mark.parametrize("constrained", [True, False])
def test_each_task_is_a_request_with_its_calls(tmp_path, shared_data, constrained):
    path, requests = asyncio.run(_run(_OneSearch(), tmp_path, shared_data, constrained))
    assert ("structured_outputs" in requests[0]) is constrained
    tr = read_trace(path)
    assert validate_trace(tr) == []
    reqs, llm, tools = (tr.events(k).to_dicts() for k in ("request", "llm_call", "tool_call"))
    assert len(reqs) == 2 and len(llm) == 2 and len(tools) == 2  # the unknown tool is not a tool call
    assert all(r["outcome"] == "correct" and r["score"] == 1.0 for r in reqs)
    by_req = {r["request_id"]: r for r in llm}
    for tool in tools:
        parent = by_req[tool["request_id"]]
        assert tool["parent_event_id"] == parent["event_id"] and tool["tool_name"] == "search"
        assert tool["tool_backend"] == "local_index" and tool["ok"]
        assert parent["start_ns"] <= tool["start_ns"]


def test_an_agent_failure_is_an_outcome_not_a_crash(tmp_path, shared_data):
    path, _ = asyncio.run(_run(_Broken(), tmp_path, shared_data, True))
    reqs = read_trace(path).events("request").to_dicts()
    assert [r["outcome"] for r in reqs] == ["error", "error"]
    assert all("agent bug" in r["error"] and r["ok"] is False for r in reqs)
