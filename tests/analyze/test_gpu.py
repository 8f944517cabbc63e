"""`analyze gpu`: GPU time by activity from engine timings or GPU samples, and idle time during tool waits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from agentledger.analyze.cli import app
from agentledger.analyze.gpu import ACTIVITIES, activity_segments, gpu_stats
from agentledger.analyze.load import open_traces
from agentledger.errors import TraceError, UsageError
from agentledger.traceformat import GpuSample
from tests.analyze.conftest import MS, llm, req, tool, write_events


def test_activity_segments_take_the_first_label_that_applies():
    # key 0, window [0, 10): label 1 on [2, 6), label 0 on [4, 5), label 2 on [5, 12) (clipped to 10)
    seg = activity_segments(np.array([0, 0, 0]), np.array([2, 4, 5]), np.array([6, 5, 12]), np.array([1, 0, 2]),
                            np.array([0]), np.array([10]), 3)
    got = list(zip(seg["start"].tolist(), seg["end"].tolist(), seg["label"].tolist(), strict=True))
    assert got == [(0, 2, 3), (2, 4, 1), (4, 5, 0), (5, 6, 1), (6, 10, 2)]


# Two requests. Request 0: an LLM call [0, 40) ms (queue 5, prefill 10, decode 20, then 5 client) and a tool call
# [40, 70). Request 1: an LLM call [50, 80) (prefill 10, decode 20). Window [0, 100).
#   prefill   [5, 15) + [50, 60)               = 20 ms
#   decode    [15, 35) + [60, 80)              = 40 ms
#   llm_other [0, 5) + [35, 40)                = 10 ms
#   tool_wait [40, 50) (the tool call while no LLM call runs) = 10 ms
#   no_call   [80, 100)                        = 20 ms
EVENTS = [req(0, 0, 100), req(10, 50, 90),
          llm(1, 0, 0, 40, queue_ms=5, prefill_ms=10, decode_ms=20), tool(2, 0, 40, 70),
          llm(11, 10, 50, 80, queue_ms=0, prefill_ms=10, decode_ms=20)]
EXPECT_MS = {"prefill": 20, "decode": 40, "llm_other": 10, "tool_wait": 10, "no_call": 20}


def sample(t_ms: float, util: float, power: float, gpu: int = 0) -> GpuSample:
    return GpuSample(start_ns=int(t_ms * MS), end_ns=int(t_ms * MS), gpu_index=gpu, gpu_util_pct=util, gpu_power_w=power)


def test_engine_timings(tmp_path):
    p = write_events(tmp_path / "engine.arrow", EVENTS)
    res = gpu_stats(open_traces([p]))
    act = {r["activity"]: r for r in res.activity.to_dicts()}
    assert list(act) == list(ACTIVITIES)
    for a, ms in EXPECT_MS.items():
        assert act[a]["time_s"] == pytest.approx(ms / 1000) and act[a]["share"] == pytest.approx(ms / 100)
    assert act["prefill"]["utilization"] == 1.0 and act["tool_wait"]["gpu_idle_s"] == pytest.approx(0.01)
    s = res.summary.row(0, named=True)
    assert s["method"] == "engine" and s["time_s"] == pytest.approx(0.1) and s["utilization"] == pytest.approx(0.6)
    assert s["idle_tool_wait_s"] == pytest.approx(0.01) and s["idle_tool_wait_share"] == pytest.approx(0.25)
    assert s["mean_power_w"] is None and "engine timings" in res.notes[0]


def test_gpu_samples(tmp_path):
    # a sample covers the time since the previous one: [0, 50) runs at 20 % and 100 W, [50, 100) at 60 % and 300 W
    p = write_events(tmp_path / "gpu.arrow", [*EVENTS, sample(0, 99, 999), sample(50, 20, 100), sample(100, 60, 300)])
    res = gpu_stats(open_traces([p]))
    act = {r["activity"]: r for r in res.activity.to_dicts()}
    # busy: prefill 10*.2 + 10*.6 = 8; decode 20*.2 + 20*.6 = 16; llm_other 10*.2 = 2; tool 10*.2 = 2; none 20*.6 = 12
    busy = {"prefill": 8, "decode": 16, "llm_other": 2, "tool_wait": 2, "no_call": 12}
    for a, ms in busy.items():
        assert act[a]["gpu_busy_s"] == pytest.approx(ms / 1000), a
        assert act[a]["time_s"] == pytest.approx(EXPECT_MS[a] / 1000), a
    assert act["prefill"]["mean_power_w"] == pytest.approx(200) and act["no_call"]["mean_power_w"] == pytest.approx(300)
    s = res.summary.row(0, named=True)
    assert s["method"] == "gpu_sample" and s["utilization"] == pytest.approx(0.4)
    assert s["idle_tool_wait_s"] == pytest.approx(0.008) and s["idle_tool_wait_share"] == pytest.approx(8 / 60)
    assert s["mean_power_w"] == pytest.approx(200)
    engine = gpu_stats(open_traces([p]), source="engine").summary.row(0, named=True)
    assert engine["method"] == "engine" and engine["utilization"] == pytest.approx(0.6)


def test_two_gpus_add_gpu_seconds(tmp_path):
    p = write_events(tmp_path / "two.arrow", [*EVENTS, sample(0, 0, 0), sample(100, 50, 100),
                                              sample(0, 0, 0, gpu=1), sample(100, 100, 100, gpu=1)])
    s = gpu_stats(open_traces([p])).summary.row(0, named=True)
    assert s["time_s"] == pytest.approx(0.2) and s["gpu_busy_s"] == pytest.approx(0.15)
    assert s["idle_tool_wait_s"] == pytest.approx(0.005)  # 10 ms at 50 % idle on GPU 0, none on GPU 1


def test_missing_inputs_are_one_line_errors(tmp_path):
    untimed = write_events(tmp_path / "untimed.arrow", [req(0, 0, 10), llm(1, 0, 0, 5)])
    with pytest.raises(TraceError, match="untimed.arrow: analyze gpu needs gpu_sample events .* or llm_call server"):
        gpu_stats(open_traces([untimed]))
    timed = write_events(tmp_path / "timed.arrow", EVENTS)
    with pytest.raises(TraceError, match="needs gpu_sample events with gpu_util_pct"):
        gpu_stats(open_traces([timed]), source="gpu_sample")
    with pytest.raises(UsageError, match="unknown --source value 'nvml'"):
        gpu_stats(open_traces([timed]), source="nvml")


def test_cli(tmp_path, synthetic_trace):
    res = CliRunner().invoke(app, ["gpu", str(synthetic_trace), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    s = data["summary"][0]
    assert data["command"] == "gpu" and s["method"] == "gpu_sample" and 0 < s["utilization"] < 1
    assert sum(r["share"] for r in data["activity"]) == pytest.approx(1.0)
    assert data["methods"] == {str(synthetic_trace): "gpu_sample"}
    chart = tmp_path / "gpu.html"
    table = CliRunner().invoke(app, ["gpu", str(synthetic_trace), "--source", "engine", "--chart", str(chart)])
    assert table.exit_code == 0 and "tool_wait" in table.stdout and b"vega" in chart.read_bytes()
    bad = CliRunner().invoke(app, ["gpu", str(synthetic_trace), "--source", "x"])
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1 and "unknown --source" in bad.stderr
