"""`analyze project`: P = Wh/query x queries/day / 24 h, worked out by hand below."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentledger.analyze.cli import app
from agentledger.analyze.load import open_traces
from agentledger.analyze.project import DEFAULT_SCENARIOS, parse_count, parse_pairs, projection, report
from agentledger.errors import UsageError
from tests.analyze.conftest import req, write_events
from tests.analyze.test_energy import HAND_J, write_hand


def invoke(*args: str):
    return CliRunner().invoke(app, ["project", *args])


@pytest.mark.parametrize("text, value", [("71.4M", 71.4e6), ("13.7B", 13.7e9), ("13.7g", 13.7e9), ("2k", 2000.0),
                                         ("1e3", 1000.0), ("0.5T", 5e11), ("42", 42.0)])
def test_parse_count(text, value):
    assert parse_count(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "-5", "0", "5X", "1e999"])
def test_parse_count_refuses(text):
    with pytest.raises(ValueError):
        parse_count(text)


def test_parse_pairs_errors():
    assert parse_pairs(["a=1k", "b = 2M"], "--scenario", "QUERIES_PER_DAY", suffixes=True) == [("a", 1e3), ("b", 2e6)]
    with pytest.raises(UsageError, match=r"--scenario 'nodigits': expected NAME=QUERIES_PER_DAY"):
        parse_pairs(["nodigits"], "--scenario", "QUERIES_PER_DAY", suffixes=True)
    with pytest.raises(UsageError, match="given twice"):
        parse_pairs(["x=1", "x=2"], "--reference", "MW", suffixes=False)
    with pytest.raises(UsageError, match="--reference 'grid=2GW': expected NAME=MW"):
        parse_pairs(["grid=2GW"], "--reference", "MW", suffixes=False)


def test_projection_by_hand():
    # 0.34 Wh x 13.7e9 queries/day = 4.658e9 Wh/day = 4.658 GWh/day; / 24 h = 194.083 MW
    proj, comp = projection({"g": 0.34}, [("big", 13.7e9)], [("plant", 1000.0)])
    row = proj.row(0, named=True)
    assert row["power_mw"] == pytest.approx(4.658e9 / 24 / 1e6) and row["power_gw"] == pytest.approx(4.658e9 / 24 / 1e9)
    assert row["energy_gwh_per_day"] == pytest.approx(4.658)
    assert comp.row(0, named=True)["power_over_reference"] == pytest.approx(4.658e9 / 24 / 1e6 / 1000)


def test_defaults_are_the_studys_two_volumes():
    rep = report(None, wh_per_query=1.0)
    rows = rep.section("projection").to_dicts()
    assert [(r["scenario"], r["queries_per_day"]) for r in rows] == list(DEFAULT_SCENARIOS)
    assert rows[0]["power_mw"] == pytest.approx(71.4e6 / 24 / 1e6)  # 2.975 MW
    assert rows[1]["power_gw"] == pytest.approx(13.7e9 / 24 / 1e9)  # 0.5708 GW
    assert [s.key for s in rep.sections] == ["projection"] and rep.data["basis"] == "given"


def test_from_traces_request_and_run_basis(tmp_path):
    ts = open_traces([write_hand(tmp_path / "e.arrow")])
    req_wh, run_wh = sum(HAND_J.values()) / 3 / 3600, 100 / 3 / 3600  # the run also counts 20 J of idle energy
    rep = report(ts, scenarios=[("s", 24e6)])
    row = rep.section("projection").row(0, named=True)
    assert row["group"] == "react/hotpotqa" and row["wh_per_query"] == pytest.approx(req_wh)
    assert row["power_mw"] == pytest.approx(req_wh)  # 24e6 queries a day: one million an hour
    assert rep.data["method"] == {"react/hotpotqa": "energy counter"}
    run = report(ts, scenarios=[("s", 24e6)], basis="run").section("projection").row(0, named=True)
    assert run["wh_per_query"] == pytest.approx(run_wh)


def test_option_errors(tmp_path):
    with pytest.raises(UsageError, match="not both"):
        report(open_traces([write_hand(tmp_path / "e.arrow")]), wh_per_query=1.0)
    with pytest.raises(UsageError, match="no traces given"):
        report(None)
    with pytest.raises(UsageError, match="unknown --basis value 'day'"):
        report(None, wh_per_query=1.0, basis="day")
    with pytest.raises(UsageError, match="positive energy per query"):
        report(None, wh_per_query=-2.0)


def test_cli_json_with_scenarios_and_references():
    res = invoke("--wh-per-query", "0.34", "--scenario", "search=13.7B", "--reference", "plant=1000",
                 "--reference", "city=250", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["projection"][0]["power_mw"] == pytest.approx(194.0833333)
    refs = {r["reference"]: r["power_over_reference"] for r in data["references"]}
    assert refs == {"plant": pytest.approx(0.1940833333), "city": pytest.approx(0.7763333333)}


def test_cli_table_chart_and_errors(tmp_path):
    res = invoke("--wh-per-query", "0.34", "--reference", "plant=1000")
    assert res.exit_code == 0 and "13.7B/day" in res.stdout and "13,700,000,000" in res.stdout and "plant" in res.stdout
    out = tmp_path / "proj.svg"
    assert invoke("--wh-per-query", "0.34", "--reference", "plant=1000", "--chart", str(out)).exit_code == 0
    assert b"<svg" in out.read_bytes()[:200]
    bad = invoke("--wh-per-query", "0.34", "--scenario", "x=lots")
    assert bad.exit_code == 2 and "expected NAME=QUERIES_PER_DAY" in bad.output
    none = invoke()
    assert none.exit_code == 2 and "no traces given" in none.output


def test_cli_on_trace_without_gpu_samples(synthetic_trace, tmp_path):
    p = write_events(tmp_path / "nogpu.arrow", [req(1, 0, 100)])
    res = invoke(str(p))
    assert res.exit_code == 2 and "NVML or DCGM" in res.output
    ok = invoke(str(synthetic_trace), "--json")
    assert ok.exit_code == 0 and len(json.loads(ok.stdout)["projection"]) == 2
