"""Every analysis on every trace we have (synthetic, and real captures in tests/fixtures/captured):
the results must agree with the events and with each other."""

from __future__ import annotations

import polars as pl
import pytest

from agentledger.analyze.breakdown import EXCLUSIVE, LLM_SPLIT, breakdown
from agentledger.analyze.calls import call_counts
from agentledger.analyze.latency import latency
from agentledger.analyze.load import open_traces
from agentledger.analyze.tokens import token_stats
from agentledger.traceformat import read_trace


def test_analyses_agree_with_events(analysis_trace):
    events = read_trace(analysis_trace).frame()
    n = dict(events.group_by("kind").len().iter_rows())
    ts = open_traces([analysis_trace])
    requests = events.filter(pl.col("kind") == "request")

    lat = latency(ts)
    assert lat.summary["requests"].item() == n["request"]
    e2e = (requests["end_ns"] - requests["start_ns"]) / 1e9
    assert lat.summary["max_s"].item() == pytest.approx(e2e.max()) and lat.summary["mean_s"].item() == pytest.approx(e2e.mean())

    calls = {r["measure"]: r for r in call_counts(ts).summary.to_dicts()}
    owned = events.filter(pl.col("request_id").is_in(requests["event_id"].implode()))
    assert calls["llm_calls"]["total"] == owned.filter(pl.col("kind") == "llm_call").height
    assert calls["tool_calls"]["total"] == owned.filter(pl.col("kind") == "tool_call").height

    bd = breakdown(ts)
    per = bd.per_request
    assert per.height == n["request"]
    assert (per.select(pl.sum_horizontal(f"{c}_s" for c in EXCLUSIVE) - pl.col("e2e_s")).to_series().abs() < 1e-6).all()
    for c in EXCLUSIVE:
        assert (per[f"{c}_s"] >= -1e-9).all(), c
    if bd.server_timed_calls:
        split = per.select(pl.sum_horizontal(f"{c}_s" for c in LLM_SPLIT) - pl.col("llm_s")).to_series()
        assert (split.abs() < 1e-6).all()

    if n.get("llm_call"):
        tok = token_stats(ts)
        assert tok.calls == n["llm_call"]
        prompt = {r["measure"]: r for r in tok.summary.to_dicts()}["prompt_tokens"]
        llm = events.filter(pl.col("kind") == "llm_call")
        assert prompt["mean"] == pytest.approx(llm["prompt_tokens"].mean())
        assert tok.by_iteration["calls"].sum() == llm["iteration"].count()
