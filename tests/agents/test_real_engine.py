"""Every agent × benchmark pair of the study on the real embedded engine (vLLM on this CPU, the
default small model), two tasks each with small budgets: valid traces, the categories identity on
every call, and per-request call counts of each agent's shape. Accuracy is whatever it is."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from agentledger.agents.registry import PAIRS
from agentledger.capture.engine import EmbeddedEngine, EngineConfig
from agentledger.capture.run import RunConfig, run_capture
from agentledger.traceformat import read_trace, validate_trace
from agentledger.traceformat.validate import CATEGORY_COLUMNS

pytestmark = pytest.mark.engine

KNOBS = {
    "cot": {},
    "react": {"max_iterations": 3},
    "reflexion": {"trials": 2, "max_iterations": 2},
    "lats": {"children": 2, "iterations": 2, "max_depth": 2, "reflections": 1, "own_tests": 2},
    "llmcompiler": {"max_replans": 1, "max_tasks": 3},
}
ROLES = {
    "cot": {"actor"},
    "react": {"actor"},
    "reflexion": {"actor", "reflection", "test_generator"},
    "lats": {"actor", "evaluator", "reflection", "test_generator"},
    "llmcompiler": {"planner", "joiner"},
}
CASES = [(a, d) for a, ds in PAIRS.items() for d in ds if d != "sharegpt"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with EmbeddedEngine(EngineConfig(log_path=tmp_path_factory.mktemp("engine") / "vllm.log")) as eng:
        yield eng


@pytest.mark.parametrize(("agent", "dataset"), CASES, ids=[f"{a}-{d}" for a, d in CASES])
def test_pair_on_the_real_engine(engine, agent, dataset, shared_data, tmp_path):
    data: Path | None = None if dataset == "humaneval" else shared_data / dataset
    options = {"hotpotqa": {"require_context": True, "cache_dir": str(tmp_path / "wiki")},
               "math": {"max_workers": 1}}.get(dataset, {})
    out = tmp_path / f"{agent}-{dataset}.arrow"
    s = run_capture(RunConfig(agent=agent, dataset=dataset, data=data, endpoint=engine.info.base_url,
                              model=str(engine.info.model), limit=2, concurrency=2, out=out, knobs=KNOBS[agent],
                              dataset_options=options, max_tokens_cap=128, task_timeout_s=240))
    tr = read_trace(out)
    assert validate_trace(tr) == []
    assert tr.meta.config["agent_settings"]["constrained"] is True
    req, llm, tools = tr.events("request"), tr.events("llm_call"), tr.events("tool_call")
    assert req.height == 2 and s.failed_calls == 0
    assert set(req["outcome"]) <= {"correct", "incorrect", "max_iterations"}, req.select("outcome", "error")
    assert llm.height >= 2 and llm["ok"].all()
    # the categories sum to the server's prompt tokens on every call
    assert llm.select(pl.sum_horizontal(CATEGORY_COLUMNS) == pl.col("prompt_tokens")).to_series().all()
    assert set(llm["role"]) <= ROLES[agent]
    # every tool call descends from an LLM call of its own request
    calls = {(r["event_id"], r["request_id"]) for r in llm.select("event_id", "request_id").to_dicts()}
    for t in tools.select("parent_event_id", "request_id").to_dicts():
        assert (t["parent_event_id"], t["request_id"]) in calls
    per_req = Counter(llm["request_id"].to_list())
    tools_per_req = Counter(tools["request_id"].to_list())
    for rid in req["event_id"]:
        n_llm, n_tool = per_req[rid], tools_per_req[rid]
        if agent == "cot":
            assert n_llm == 1 and n_tool == 0
        elif agent == "react":
            assert 1 <= n_llm <= 3 and n_tool <= n_llm
        elif agent == "reflexion":
            assert 1 <= n_llm <= 2 * 2 + 2 + 1
        elif agent == "lats":
            actors = llm.filter((pl.col("request_id") == rid) & (pl.col("role") == "actor"))
            assert actors.height >= 1 and (actors["n"] == 2).all()  # children in one request
        else:
            roles = llm.filter(pl.col("request_id") == rid)["role"].to_list()
            assert roles[0] == "planner" and "joiner" in roles
