"""`analyze calls` on a trace whose counts are known."""

from __future__ import annotations

import pytest

from agentledger.analyze.calls import call_counts
from agentledger.analyze.load import open_traces
from tests.analyze.conftest import llm, req, tool, write_events

# request 0: 3 LLM calls (actor, actor, reflection), 2 tool calls (search, lookup)
# request 9: 1 LLM call (actor), no tool call
EVENTS = [
    req(0, 0, 100), req(9, 0, 50),
    llm(1, 0, 0, 10, role="actor"), llm(2, 0, 10, 20, role="actor"), llm(3, 0, 20, 30, role="reflection"),
    tool(4, 0, 30, 40, name="search"), tool(5, 0, 40, 50, name="lookup"),
    llm(10, 9, 0, 10, role="actor"),
]


def test_counts_per_measure_with_zeros(tmp_path):
    res = call_counts(open_traces([write_events(tmp_path / "t.arrow", EVENTS)]))
    s = {r["measure"]: r for r in res.summary.to_dicts()}
    assert list(s) == ["llm_calls", "tool_calls", "llm_calls:actor", "llm_calls:reflection",
                       "tool_calls:lookup", "tool_calls:search"]
    # llm_calls per request: [3, 1]: mean 2, linear p50 2, p95 1 + 0.95 * 2 = 2.9, max 3
    assert (s["llm_calls"]["mean"], s["llm_calls"]["p50"], s["llm_calls"]["max"]) == (2.0, 2.0, 3)
    assert s["llm_calls"]["p95"] == pytest.approx(2.9)
    # tool_calls per request: [2, 0]
    assert s["tool_calls"]["mean"] == 1.0 and s["tool_calls"]["total"] == 2 and s["tool_calls"]["p95"] == pytest.approx(1.9)
    assert s["llm_calls:actor"]["mean"] == 1.5 and s["llm_calls:reflection"]["mean"] == 0.5
    assert s["tool_calls:search"]["total"] == 1 and s["tool_calls:search"]["max"] == 1
    assert all(r["requests"] == 2 for r in s.values())
    per = {(r["request_id"], r["measure"]): r["calls"] for r in res.per_request.to_dicts()}
    assert per[(9, "tool_calls")] == 0 and per[(9, "llm_calls:reflection")] == 0 and per[(0, "llm_calls:actor")] == 2


def test_groups_count_separately(tmp_path):
    from tests.analyze.conftest import config

    a = write_events(tmp_path / "a.arrow", EVENTS)
    b = write_events(tmp_path / "b.arrow", [req(0, 0, 10), llm(1, 0, 0, 5, role="planner")], config(agent="llmcompiler"))
    s = call_counts(open_traces([a, b])).summary
    groups = s["group"].cast(str).unique(maintain_order=True).to_list()
    assert groups == ["react/hotpotqa", "llmcompiler/hotpotqa"]
    comp = {r["measure"]: r for r in s.filter(s["group"].cast(str) == "llmcompiler/hotpotqa").to_dicts()}
    assert set(comp) == {"llm_calls", "tool_calls", "llm_calls:planner"}
    assert comp["tool_calls"]["max"] == 0 and comp["llm_calls:planner"]["total"] == 1
