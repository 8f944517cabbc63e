"""32 ReAct tasks on HotpotQA at once in one process: no cross-talk between tasks."""

from __future__ import annotations

import asyncio
import re

from agentledger.capture.run import RunConfig, run_capture
from agentledger.datasets.registry import open_benchmark
from agentledger.traceformat import read_trace, validate_trace
from tests.agents.scripted_server import ScriptedServer

N = 32


def test_32_concurrent_react_tasks_keep_their_own_arguments_and_history(tmp_path, shared_data):
    opts = {"require_context": True, "cache_dir": str(tmp_path / "wiki")}
    bench = open_benchmark("hotpotqa", shared_data / "hotpotqa", opts)
    tasks = bench.tasks(N)

    async def page(title: str) -> str:
        return await bench.new_env(tasks[0]).tools["search"](title)

    expected = {t.task_id: asyncio.run(page(t.fields["supporting_titles"][0])) for t in tasks}
    asyncio.run(bench.aclose())
    title_of = {t.prompt.strip(): t.fields["supporting_titles"][0] for t in tasks}
    assert len(title_of) == N

    def responder(body: dict) -> str:
        """Search the question's own first supporting page, then finish with what the page said."""
        text = "\n".join(m["content"] for m in body["messages"])
        question = max((q for q in title_of if f"Question: {q}" in text), key=len)
        steps = [m for m in body["messages"] if m["role"] == "assistant"]
        if not steps:
            return f"Thought: I should look up {title_of[question]}.\nAction: Search[{title_of[question]}]"
        # the observation this task got must be about its own page
        first_words = re.sub(r"\s+", " ", body["messages"][-1]["content"])[13:60]
        return f"Thought: Done.\nAction: Finish[{first_words}]"

    out = tmp_path / "many.arrow"
    with ScriptedServer(responder, delay_s=0.002) as srv:
        run_capture(RunConfig(agent="react", dataset="hotpotqa", data=shared_data / "hotpotqa", endpoint=srv.url,
                              limit=N, concurrency=N, out=out, dataset_options=opts))
    tr = read_trace(out)
    assert validate_trace(tr) == []
    req = {r["event_id"]: r for r in tr.events("request").to_dicts()}
    tools = tr.events("tool_call").to_dicts()
    llm = tr.events("llm_call").to_dicts()
    assert len(req) == N and len(tools) == N and len(llm) == 2 * N
    # the calls really overlapped
    spans = sorted((r["start_ns"], r["end_ns"]) for r in llm)
    assert sum(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)) >= N // 2
    by_item = {t.task_id: t for t in tasks}
    for tool in tools:
        task = by_item[req[tool["request_id"]]["item_id"]]
        assert tool["tool_input_text"] == task.fields["supporting_titles"][0]  # its own argument
        assert tool["tool_output_text"] == expected[task.task_id]  # and its own page
    for r in req.values():
        task = by_item[r["item_id"]]
        obs = next(t["tool_output_text"] for t in tools if t["request_id"] == r["event_id"])
        assert r["final_answer"] and r["final_answer"][:20] in re.sub(r"\s+", " ", obs)  # its own history
