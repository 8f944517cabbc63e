"""`analyze breakdown` on traces whose answer is worked out by hand below."""

from __future__ import annotations

import pytest

from agentledger.analyze.breakdown import COMPONENTS, EXCLUSIVE, LLM_SPLIT, breakdown
from agentledger.analyze.load import open_traces
from tests.analyze.conftest import llm, req, tool, write_events

# Request 0 spans [0, 100] ms:
#   llm  [10, 40] (queue 3, prefill 6, decode 18) and [35, 60] (queue 2, prefill 5, decode 15): union [10, 60] = 50
#   tool [50, 70], [80, 90], and [95, 120] clipped to the request: [95, 100]:          union 20 + 10 + 5 = 35
#   overlap [50, 60] = 10; LLM or tool: [10, 70] + [80, 90] + [95, 100] = 75; other = 100 - 75 = 25
#   llm_only 50 - 10 = 40, tool_only 35 - 10 = 25: 40 + 25 + 10 + 25 = 100
#   the calls last 30 + 25 = 55 ms for 50 ms of LLM time, so their parts scale by 50/55:
#   queue 5 * 50/55, prefill 11 * 50/55 = 10, decode 33 * 50/55 = 30, client (3 + 3) * 50/55
# Request 7 spans [200, 250] ms and makes no call: other = 50.
EVENTS = [
    req(0, 0, 100), req(7, 200, 250),
    llm(1, 0, 10, 40, queue_ms=3, prefill_ms=6, decode_ms=18),
    llm(2, 0, 35, 60, queue_ms=2, prefill_ms=5, decode_ms=15),
    tool(3, 0, 50, 70), tool(4, 0, 80, 90), tool(5, 0, 95, 120),
]
EXPECTED_MS = {"e2e": 100, "llm_only": 40, "tool_only": 25, "overlap": 10, "other": 25, "llm": 50, "tool": 35,
               "llm_queue": 5 * 50 / 55, "llm_prefill": 10, "llm_decode": 30, "llm_client": 6 * 50 / 55}


@pytest.fixture
def hand_trace(tmp_path):
    return write_events(tmp_path / "hand.arrow", EVENTS)


def test_per_request_matches_hand_computation(hand_trace):
    res = breakdown(open_traces([hand_trace]))
    rows = {r["request_id"]: r for r in res.per_request.to_dicts()}
    for comp, ms in EXPECTED_MS.items():
        assert rows[0][f"{comp}_s"] == pytest.approx(ms / 1000, abs=1e-12), comp
    idle = rows[7]
    assert idle["e2e_s"] == pytest.approx(0.05) and idle["other_s"] == pytest.approx(0.05)
    assert idle["llm_s"] == idle["tool_s"] == idle["overlap_s"] == 0
    assert res.llm_calls == 2 and res.server_timed_calls == 2 and res.notes == []


def test_summary_means_and_share_percentiles(hand_trace):
    s = breakdown(open_traces([hand_trace])).summary
    assert s["component"].to_list() == list(COMPONENTS)
    row = {r["component"]: r for r in s.to_dicts()}
    # llm_only shares: 0.40 (request 0) and 0.0 (request 7); linear percentiles of [0, 0.4]
    assert row["llm_only"]["mean_share"] == pytest.approx(0.2)
    assert row["llm_only"]["p50_share"] == pytest.approx(0.2)
    assert row["llm_only"]["p95_share"] == pytest.approx(0.38)
    assert row["other"]["mean_share"] == pytest.approx((0.25 + 1.0) / 2)
    assert row["e2e"]["mean_s"] == pytest.approx(0.075) and row["e2e"]["requests"] == 2
    assert sum(row[c]["mean_share"] for c in EXCLUSIVE) == pytest.approx(1.0)
    assert row["llm_decode"]["sums_to"] == "llm" and row["overlap"]["sums_to"] == "e2e" and row["llm"]["sums_to"] is None


def test_without_server_timings_llm_time_is_client_only(tmp_path):
    p = write_events(tmp_path / "client.arrow", [req(0, 0, 100), llm(1, 0, 0, 60), tool(2, 0, 60, 90)])
    res = breakdown(open_traces([p]))
    row = res.per_request.row(0, named=True)
    assert row["llm_queue_s"] is None and row["llm_prefill_s"] is None and row["llm_decode_s"] is None
    assert row["llm_client_s"] == pytest.approx(0.06) and row["other_s"] == pytest.approx(0.01)
    assert len(res.notes) == 1 and "client-measured only" in res.notes[0]


def test_partial_server_timings_are_noted_and_still_add_up(tmp_path):
    p = write_events(tmp_path / "partial.arrow", [
        req(0, 0, 100), llm(1, 0, 0, 40, queue_ms=10, prefill_ms=10, decode_ms=10), llm(2, 0, 50, 70)])
    res = breakdown(open_traces([p]))
    row = res.per_request.row(0, named=True)
    assert row["llm_queue_s"] == pytest.approx(0.01) and row["llm_decode_s"] == pytest.approx(0.01)
    assert row["llm_client_s"] == pytest.approx(0.010 + 0.020)  # 10 ms of call 1 and all 20 ms of call 2
    assert sum(row[f"{c}_s"] for c in LLM_SPLIT) == pytest.approx(row["llm_s"])
    assert "1 of 2 llm_calls carry no server timings" in res.notes[0]


def test_server_parts_longer_than_the_call_are_scaled_into_it(tmp_path):
    p = write_events(tmp_path / "long.arrow", [req(0, 0, 100), llm(1, 0, 0, 40, queue_ms=20, prefill_ms=20, decode_ms=40)])
    row = breakdown(open_traces([p])).per_request.row(0, named=True)
    assert row["llm_queue_s"] == pytest.approx(0.01) and row["llm_decode_s"] == pytest.approx(0.02)
    assert row["llm_client_s"] == pytest.approx(0.0, abs=1e-12)


def test_traces_of_one_config_pool_without_mixing_request_ids(tmp_path):
    # both traces use request id 0: its calls must stay with its own trace's request
    a = write_events(tmp_path / "a.arrow", [req(0, 0, 100), llm(1, 0, 0, 100)])
    b = write_events(tmp_path / "b.arrow", [req(0, 0, 100), tool(1, 0, 0, 50)])
    res = breakdown(open_traces([a, b]))
    assert res.per_request.height == 2 and res.per_request["group"].n_unique() == 1
    by_trace = {r["trace"]: r for r in res.per_request.to_dicts()}
    assert by_trace[0]["llm_s"] == pytest.approx(0.1) and by_trace[0]["tool_s"] == 0
    assert by_trace[1]["tool_s"] == pytest.approx(0.05) and by_trace[1]["llm_s"] == 0
    assert by_trace[1]["other_s"] == pytest.approx(0.05)
