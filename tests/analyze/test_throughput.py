"""`analyze throughput` on load sweeps whose knee is worked out by hand below."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentledger.analyze.cli import app
from agentledger.analyze.load import open_traces
from agentledger.analyze.throughput import find_knee, offered_rate, throughput
from agentledger.errors import TraceError, UsageError
from tests.analyze.conftest import config, req, write_events

# Five requests per trace, one every 1/qps s. Their latencies are 100, 100, 200, 100, 100 ms times a
# scale, so the p95 (rank 0.95 * 4 = 3.8 of the sorted values) is 100 + 0.8 * 100 = 180 ms times the
# scale. The first and last requests take equally long, so the first and last completions lie 4/qps s
# apart: achieved = (5 - 1) / (4 / qps) = offered.
BASE_MS = [100, 100, 200, 100, 100]
SWEEP = {1: 1.0, 2: 1.1, 4: 3.0}  # qps -> latency scale: p95 180, 198, 540 ms


def sweep_trace(path, qps: float, scale: float, *, prefix_caching: bool = True, rate_param: bool = True):
    cfg = config(prefix_caching=prefix_caching)
    if rate_param:
        cfg["params"]["qps"] = qps
    events = [req(i + 1, i * 1000 / qps, i * 1000 / qps + ms * scale) for i, ms in enumerate(BASE_MS)]
    return write_events(path, events, cfg)


@pytest.fixture
def sweep(tmp_path):
    paths = []
    for pc, slow in ((True, 1.0), (False, 1.5)):
        paths += [sweep_trace(tmp_path / f"pc{pc}-{q}.arrow", q, s * slow, prefix_caching=pc) for q, s in SWEEP.items()]
    return paths


def test_points_and_knee_per_series(sweep):
    res = throughput(open_traces(sweep))
    pts = res.points.filter(res.points["series"] == "prefix_caching=True").to_dicts()
    assert [p["offered_qps"] for p in pts] == [1.0, 2.0, 4.0]
    assert [p["offered_from"] for p in pts] == ["params.qps"] * 3
    assert [p["achieved_qps"] for p in pts] == pytest.approx([1.0, 2.0, 4.0])
    assert [p["p95_s"] for p in pts] == pytest.approx([0.18, 0.198, 0.54])
    assert [p["p95_vs_base"] for p in pts] == pytest.approx([1.0, 1.1, 3.0])
    assert [p["sustainable"] for p in pts] == [True, True, False] and [p["knee"] for p in pts] == [False, True, False]
    knees = {k["series"]: k for k in res.knees.to_dicts()}
    assert set(knees) == {"prefix_caching=True", "prefix_caching=False"}
    on, off = knees["prefix_caching=True"], knees["prefix_caching=False"]
    assert on["knee_offered_qps"] == 2.0 and on["knee_achieved_qps"] == pytest.approx(2.0)
    assert on["base_p95_s"] == pytest.approx(0.18) and on["saturated"] is True and on["next_offered_qps"] == 4.0
    assert off["base_p95_s"] == pytest.approx(0.27) and off["knee_p95_s"] == pytest.approx(0.297)


def test_a_larger_factor_moves_the_knee_and_notes_no_saturation(sweep):
    res = throughput(open_traces(sweep), factor=3.5)
    knees = {k["series"]: k for k in res.knees.to_dicts()}
    assert knees["prefix_caching=True"]["knee_offered_qps"] == 4.0 and knees["prefix_caching=True"]["saturated"] is False
    assert any("every load was sustainable; the knee is at least 4 qps" in n for n in res.notes)


def test_throughput_that_stops_tracking_the_offered_rate_is_not_sustainable(tmp_path):
    low = sweep_trace(tmp_path / "low.arrow", 1, 1.0)
    cfg = config()
    cfg["params"]["qps"] = 4
    # arrivals every 250 ms, completions every 500 ms: achieved (5 - 1) / 2 s = 2 qps, half the offered 4
    events = [req(i + 1, i * 250, i * 500 + 100) for i in range(5)]
    high = write_events(tmp_path / "high.arrow", events, cfg)
    res = throughput(open_traces([low, high]), factor=100)
    row = res.points.row(1, named=True)
    assert row["achieved_qps"] == pytest.approx(2.0) and row["tracking_frac"] == pytest.approx(0.5)
    assert row["p95_s"] == pytest.approx(0.85 + 0.8 * 0.25) and row["sustainable"] is False
    assert res.knees["knee_offered_qps"][0] == 1.0
    loose = throughput(open_traces([low, high]), factor=100, tracking=0.5)
    assert loose.knees["knee_offered_qps"][0] == 4.0
    alone = throughput(open_traces([high]))  # the lowest load itself does not keep up: no knee
    assert alone.knees["knee_offered_qps"][0] is None and alone.knees["saturated"][0] is True
    assert alone.points["knee"].to_list() == [False] and "even the lowest load did not keep up" in alone.notes[0]


def test_offered_rate_from_arrivals_without_a_rate_parameter(tmp_path):
    p = write_events(tmp_path / "closed.arrow", [req(1, 0, 400), req(2, 500, 900), req(3, 1000, 1300)])
    row = throughput(open_traces([p])).points.row(0, named=True)
    assert row["offered_from"] == "arrivals" and row["offered_qps"] == pytest.approx(2.0)  # (3 - 1) / 1 s
    assert row["achieved_qps"] == pytest.approx(2 / 0.9)  # (3 - 1) / (1.3 - 0.4) s


def test_offered_rate_rules():
    assert offered_rate({"request_rate": 3}, [0, 5]) == (3.0, "params.request_rate")
    assert offered_rate({"qps": None}, [0, 2_000_000_000]) == (0.5, "arrivals")
    assert offered_rate({}, [7]) == (None, "arrivals")
    for bad in ("fast", True, 0, -1.0):
        with pytest.raises(TraceError, match="is not a positive number of requests per second"):
            offered_rate({"qps": bad}, [0, 1])


def test_find_knee_stops_at_the_first_unsustainable_load():
    pts = [{"p95_s": v, "offered_from": "arrivals", "offered_qps": q, "achieved_qps": q}
           for q, v in ((1, 1.0), (2, 1.5), (3, 2.5), (4, 1.2))]
    ok, knee = find_knee(pts, 2.0, 0.9)
    assert ok == [True, True, False, True] and knee == 1  # a later recovery does not count
    with pytest.raises(ValueError, match="at least one load point"):
        find_knee([], 2.0, 0.9)


def test_concurrency_sweep_forms_one_series(tmp_path):
    paths = []
    for conc, scale in ((1, 1.0), (4, 5.0)):
        cfg = config()
        cfg["params"]["concurrency"] = conc
        events = [req(i + 1, i * 100 / conc, i * 100 / conc + 50 * scale) for i in range(4)]
        paths.append(write_events(tmp_path / f"c{conc}.arrow", events, cfg))
    res = throughput(open_traces(paths))
    assert res.knees.height == 1 and res.knees["series"][0] == "all" and res.knees["loads"][0] == 2
    assert res.points["offered_qps"].to_list() == pytest.approx([10.0, 40.0])
    assert res.knees["knee_offered_qps"][0] == pytest.approx(10.0)  # p95 250 ms is 5x the 50 ms at concurrency 1


def test_unknown_load_everywhere_is_an_error(tmp_path):
    p = write_events(tmp_path / "one.arrow", [req(1, 0, 100)])
    with pytest.raises(TraceError, match="no trace has a known offered load"):
        throughput(open_traces([p]))


def test_bad_options(sweep):
    with pytest.raises(UsageError, match="--factor 0.5"):
        throughput(open_traces(sweep), factor=0.5)
    with pytest.raises(UsageError, match="--tracking 1.5"):
        throughput(open_traces(sweep), tracking=1.5)
    res = CliRunner().invoke(app, ["throughput", str(sweep[0]), "--factor", "0.5"])
    assert res.exit_code == 2 and "at least 1" in res.output


def test_cli_json_table_and_chart(sweep, tmp_path):
    res = CliRunner().invoke(app, ["throughput", *map(str, sweep), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["command"] == "throughput" and data["factor"] == 2.0 and len(data["points"]) == 6
    assert [k["knee_offered_qps"] for k in data["knees"]] == [2.0, 2.0]
    table = CliRunner().invoke(app, ["throughput", *map(str, sweep)])
    assert table.exit_code == 0 and "prefix_caching=False" in table.stdout and "knee_offered_qps" in table.stdout
    out = tmp_path / "tp.svg"
    assert CliRunner().invoke(app, ["throughput", *map(str, sweep), "--chart", str(out)]).exit_code == 0
    assert b"<svg" in out.read_bytes()[:200]


def test_synthetic_trace_runs(synthetic_trace):
    res = throughput(open_traces([synthetic_trace]))
    assert res.points.height == 1 and res.points["offered_from"][0] == "arrivals" and res.points["knee"][0]
    assert any("one load point only" in n for n in res.notes)
