"""`analyze report`: one self-contained HTML file with every analysis that applies."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from agentledger.analyze import report as report_module
from agentledger.analyze.cli import app
from agentledger.analyze.energy import energy
from agentledger.analyze.load import open_traces
from agentledger.analyze.output import Report, Section, format_value
from agentledger.analyze.report import MAX_ROWS, build_html, write_report
from agentledger.errors import UsageError
from tests.analyze.conftest import llm, req, tool, write_events
from tests.analyze.test_energy import write_hand


def sections(page: str) -> list[str]:
    return re.findall(r"<section id='([a-z-]+)'>", page)


def test_full_report_on_a_trace_with_gpu_samples(synthetic_trace, tmp_path):
    out = tmp_path / "r.html"
    ts = open_traces([synthetic_trace])
    res = write_report(ts, out)
    page = out.read_text(encoding="utf-8")
    for anchor in ("calls", "breakdown", "latency", "tokens", "throughput", "energy", "pareto-latency",
                   "pareto-tokens", "pareto-energy", "project"):
        assert anchor in res.included and anchor in sections(page)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == len(res.included)
    # offline: no scripts, and nothing loaded from elsewhere
    assert "<script" not in page and not re.search(r"""(src|href)=["']https?:""", page) and "@import" not in page
    # the energy table shows the same number `analyze energy` computes
    wh = energy(ts).summary["wh_per_request"][0]
    assert f">{format_value(wh, 'wh_per_request', '.4g')}<" in page


def test_missing_inputs_are_skipped_with_the_reason(tmp_path):
    p = write_events(tmp_path / "plain.arrow", [
        req(1, 0, 100, outcome="unscored"), llm(2, 1, 0, 60, iteration=0, prompt_tokens=10, completion_tokens=3),
        tool(3, 1, 60, 90)])
    res = build_html(open_traces([p]))
    why = dict(res.skipped)
    assert {"calls", "breakdown", "latency", "tokens"} <= set(res.included)
    assert "NVML or DCGM" in why["energy"] and "NVML or DCGM" in why["project"]
    assert "no request has a score" in why["pareto-latency"]
    assert "no trace has a known offered load" in why["throughput"]  # one request: no arrival rate
    assert sections(res.html) == [*res.included, "skipped"] and "Not included" in res.html


def test_tables_are_cut_at_max_rows(synthetic_trace, monkeypatch):
    assert MAX_ROWS == 200
    monkeypatch.setattr(report_module, "MAX_ROWS", 2)
    page = build_html(open_traces([synthetic_trace])).html
    assert "first 2 of 9 rows" in page  # tokens: one row per measure


def test_a_chart_that_cannot_be_drawn_leaves_a_note_and_the_tables():
    import polars as pl

    def broken():
        raise ValueError("no usable values to plot\nsecond line")

    rep = Report("calls", [], [Section("summary", "Rows", pl.DataFrame({"a": [1.5]}))], chart=broken)
    html = report_module._section("calls", "Calls", rep)
    assert "chart not drawn: no usable values to plot</p>" in html and "<td class=n>1.5</td>" in html


def test_html_escapes_labels(tmp_path):
    from tests.analyze.conftest import config

    cfg = config(agent="<b>x</b>")
    p = write_events(tmp_path / "esc.arrow", [req(1, 0, 100, score=1.0)], cfg)
    page = build_html(open_traces([p])).html
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_cli_writes_the_file_and_lists_sections(tmp_path):
    trace = write_hand(tmp_path / "e.arrow")
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["report", str(trace), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["out"] == str(out) and "energy" in data["included"] and out.stat().st_size > 10_000
    assert {s["section"] for s in data["skipped"]}.isdisjoint(data["included"])
    table = CliRunner().invoke(app, ["report", str(trace), "--out", str(out)])
    assert table.exit_code == 0 and "report written to" in table.output


@pytest.mark.parametrize("name, message", [("r.txt", "end the file name in .html"), ("nowhere/r.html", "does not exist")])
def test_bad_out_path_is_refused_before_any_work(tmp_path, name, message):
    res = CliRunner().invoke(app, ["report", str(tmp_path / "missing.arrow"), "--out", str(tmp_path / name)])
    assert res.exit_code == 2 and message in res.output
    with pytest.raises(UsageError, match=message):
        write_report(open_traces([write_hand(tmp_path / "e.arrow")]), tmp_path / name)
