"""`analyze energy` on traces whose answer is worked out by hand below."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from agentledger.analyze.cli import app
from agentledger.analyze.energy import J_PER_WH, attribute, energy, gpu_cumulative_j
from agentledger.analyze.load import open_traces
from agentledger.errors import TraceError
from agentledger.traceformat import GpuSample, read_trace
from tests.analyze.conftest import MS, llm, req, write_events


def gpu(eid: int, t_ms: float, *, energy_j: float | None = None, power_w: float | None = None, index: int = 0) -> GpuSample:
    return GpuSample(event_id=eid, start_ns=int(t_ms * MS), end_ns=int(t_ms * MS), gpu_index=index,
                     gpu_energy_j=energy_j, gpu_power_w=power_w)


# One GPU, energy counter 0, 10, 30, 60, 100 J at 0, 100, 200, 300, 400 ms.
# Requests 1 [0, 200), 2 [100, 300), 3 [350, 500) ms. Between consecutive boundaries:
#   [0, 100)   10 J, request 1 alone           -> 1: 10
#   [100, 200) 20 J, requests 1 and 2          -> 1: 10, 2: 10
#   [200, 300) 30 J, request 2 alone           -> 2: 30
#   [300, 350) 20 J (half of 40), none running -> idle 20
#   [350, 400) 20 J, request 3                 -> 3: 20
#   [400, 500) no samples: unknown, counts nowhere (100 of request 3's 150 ms)
# so 1: 20 J, 2: 40 J, 3: 20 J, idle 20 J, total 100 J.
# LLM calls: request 1 has two (100 + 10 and 50 + 5 tokens), request 2 one (200 + 20), request 3 none.
HAND = [
    req(1, 0, 200, score=1.0), req(2, 100, 300, score=0.0), req(3, 350, 500, score=1.0),
    llm(11, 1, 0, 50, prompt_tokens=100, completion_tokens=10), llm(12, 1, 60, 150, prompt_tokens=50, completion_tokens=5),
    llm(21, 2, 100, 250, prompt_tokens=200, completion_tokens=20),
    *(gpu(100 + i, t, energy_j=e) for i, (t, e) in enumerate([(0, 0), (100, 10), (200, 30), (300, 60), (400, 100)])),
]
HAND_J = {1: 20.0, 2: 40.0, 3: 20.0}


def write_hand(path):
    return write_events(path, HAND)


def test_per_request_energy_matches_hand_computation(tmp_path):
    res = energy(open_traces([write_hand(tmp_path / "e.arrow")]))
    got = {r["request_id"]: r for r in res.per_request.to_dicts()}
    for rid, joules in HAND_J.items():
        assert got[rid]["energy_j"] == pytest.approx(joules)
        assert got[rid]["energy_wh"] == pytest.approx(joules / 3600)
    assert got[1]["llm_calls"] == 2 and got[1]["tokens"] == 165 and got[3]["llm_calls"] == 0


def test_summary_per_query_call_token_and_idle(tmp_path):
    s = energy(open_traces([write_hand(tmp_path / "e.arrow")])).summary.row(0, named=True)
    assert s["requests"] == 3 and s["llm_calls"] == 3 and s["tokens"] == 385
    assert s["wh_per_request"] == pytest.approx(80 / 3 / J_PER_WH)
    assert s["wh_per_request_p50"] == pytest.approx(20 / J_PER_WH)
    assert s["wh_per_request_p95"] == pytest.approx((20 + 0.9 * 20) / J_PER_WH)  # rank 1.9 of [20, 20, 40]
    assert s["run_wh_per_request"] == pytest.approx(100 / 3 / J_PER_WH)
    assert s["j_per_llm_call"] == pytest.approx(80 / 3)
    assert s["j_per_token"] == pytest.approx(80 / 385) and s["j_per_output_token"] == pytest.approx(80 / 35)
    assert s["active_wh"] == pytest.approx(80 / J_PER_WH) and s["idle_wh"] == pytest.approx(20 / J_PER_WH)
    assert s["total_wh"] == pytest.approx(100 / J_PER_WH) and s["idle_share"] == pytest.approx(0.2)
    assert s["method"] == "energy counter" and s["gpus"] == 1


def test_request_time_outside_the_samples_is_noted(tmp_path):
    res = energy(open_traces([write_hand(tmp_path / "e.arrow")]))
    assert len(res.notes) == 1 and "18.2% of request time lies outside the GPU samples" in res.notes[0]


def test_power_integration_and_two_gpus_add_up(tmp_path):
    # GPU 0: power 100, 200, 200 W at 0, 1, 2 s -> 150 J then 200 J (trapezoid).
    # GPU 1: a counter that goes backwards (reset), so its power is used: 50 W flat -> 100 J over 2 s.
    # One request [0, 2 s): 350 + 100 J. The counter of GPU 0 is missing, so it uses power too.
    p = write_events(tmp_path / "p.arrow", [
        req(1, 0, 2000),
        gpu(10, 0, power_w=100), gpu(11, 1000, power_w=200), gpu(12, 2000, power_w=200),
        gpu(20, 0, energy_j=500, power_w=50, index=1), gpu(21, 1000, energy_j=10, power_w=50, index=1),
        gpu(22, 2000, energy_j=60, power_w=50, index=1),
    ])
    res = energy(open_traces([p]))
    assert res.per_request["energy_j"][0] == pytest.approx(450.0)
    row = res.summary.row(0, named=True)
    assert row["gpus"] == 2 and row["method"] == "power integration (trapezoid)" and row["idle_wh"] == 0


def test_counter_and_power_gpus_name_both_methods(tmp_path):
    p = write_events(tmp_path / "m.arrow", [
        req(1, 0, 1000), gpu(10, 0, energy_j=0), gpu(11, 1000, energy_j=70),
        gpu(20, 0, power_w=30, index=1), gpu(21, 1000, power_w=30, index=1)])
    res = energy(open_traces([p]))
    assert res.per_request["energy_j"][0] == pytest.approx(100.0)
    assert res.summary["method"][0] == "energy counter + power integration (trapezoid)"


def test_gpu_cumulative_and_attribute_directly():
    t = np.array([0, 10, 10, 30], dtype=np.int64)  # a repeated instant keeps its first sample
    t_out, f, method = gpu_cumulative_j(t, np.array([5.0, 7.0, 99.0, 12.0]), np.full(4, np.nan))
    assert method == "counter" and t_out.tolist() == [0, 10, 30] and f.tolist() == [0.0, 2.0, 7.0]
    assert gpu_cumulative_j(t, np.full(4, np.nan), np.full(4, np.nan)) is None
    # three requests overlapping in [5, 10): 3 J there, a J each
    per, idle, total = attribute([(np.array([0, 20]), np.array([0.0, 20.0]))],
                                 np.array([0, 5, 5]), np.array([10, 10, 15]))
    assert per.tolist() == pytest.approx([5 + 5 / 3, 5 / 3, 5 / 3 + 5]) and idle == pytest.approx(5.0) and total == 20.0


def test_no_gpu_samples_is_one_line_error(tmp_path):
    p = write_events(tmp_path / "nogpu.arrow", [req(1, 0, 100), llm(2, 1, 0, 50)])
    with pytest.raises(TraceError, match="no gpu_sample events; analyze energy needs GPU telemetry .*NVML or DCGM"):
        energy(open_traces([p]))
    res = CliRunner().invoke(app, ["energy", str(p)])
    assert res.exit_code == 2 and "NVML or DCGM" in res.output and "Traceback" not in res.output


def test_samples_without_energy_or_power_are_refused(tmp_path):
    p = write_events(tmp_path / "util.arrow", [req(1, 0, 100), gpu(10, 0), gpu(11, 100)])
    with pytest.raises(TraceError, match="neither gpu_energy_j nor gpu_power_w"):
        energy(open_traces([p]))


def test_cli_json_on_synthetic_trace(synthetic_trace):
    res = CliRunner().invoke(app, ["energy", str(synthetic_trace), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    # the synthetic counter is 200 W flat from t = 0; the requests run back to back from t = 0, so all the
    # energy up to the last sample is attributed and none is idle
    tr = read_trace(synthetic_trace).table.to_pydict()
    last_sample_s = max(t for t, k in zip(tr["start_ns"], tr["kind"], strict=True) if k == "gpu_sample") / 1e9
    row = data["summary"][0]
    assert row["wh_per_request"] == pytest.approx(200 * last_sample_s / 4 / 3600)
    assert row["method"] == "energy counter" and data["totals"][0]["idle_wh"] == pytest.approx(0, abs=1e-12)
    assert "split equally" in data["attribution"]


@pytest.mark.parametrize("ext, magic", [(".svg", b"<svg"), (".png", b"\x89PNG")])
def test_chart(tmp_path, ext, magic):
    out = tmp_path / f"energy{ext}"
    res = CliRunner().invoke(app, ["energy", str(write_hand(tmp_path / "e.arrow")), "--chart", str(out)])
    assert res.exit_code == 0, res.output
    assert magic in out.read_bytes()[:200]


def test_real_nvml_trace_from_an_h200():
    """NVML samples around a real workload (benchmarks/gpu_energy_capture.py on one H200): the energy
    attributed to requests plus the idle bucket is the counter's rise over the run."""
    from pathlib import Path

    from agentledger.analyze.energy import energy
    from agentledger.analyze.load import open_traces
    from agentledger.traceformat import read_trace

    path = Path(__file__).parents[1] / "fixtures" / "gpu" / "h200-nvml.arrow"
    g = read_trace(path).events("gpu_sample").sort("start_ns")
    counter_wh = (g["gpu_energy_j"][-1] - g["gpu_energy_j"][0]) / 3600
    row = energy(open_traces([path])).summary.to_dicts()[0]
    assert row["method"] == "energy counter" and row["requests"] == 16 and row["gpus"] == 1
    assert row["total_wh"] == pytest.approx(counter_wh, rel=1e-6)
    assert row["active_wh"] + row["idle_wh"] == pytest.approx(row["total_wh"], rel=1e-9)
    assert 0.05 < row["idle_share"] < 0.6  # the run idles 2 s before and 1 s between batches
    assert row["wh_per_request"] * row["requests"] == pytest.approx(row["active_wh"], rel=1e-6)
    assert g["gpu_power_w"].min() > 50 and g["gpu_power_w"].max() < 1000  # an H200's board power, W
