"""Rendering reports: cell formats, JSON without NaN, chart paths."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from agentledger.analyze.output import Report, Section, check_chart_path, emit, format_value, report_json
from agentledger.errors import UsageError


def test_cell_formats():
    assert format_value(0.1234, "mean_share") == "12.3%"
    assert format_value(1.23456, "p95_s") == "1.235"
    assert format_value(1234567, "calls") == "1,234,567"
    assert format_value(1520.25, "mean") == "1,520.2"
    assert format_value(None, "mean") == "-" and format_value(float("nan"), "mean") == "-"
    assert format_value(0.5, "x", ".2f") == "0.50" and format_value("a[b]", "measure") == "a[b]"


def test_json_turns_nan_into_null_and_keeps_extra_data():
    r = Report("demo", [{"group": "g"}], [Section("summary", "t", pl.DataFrame({"v": [1.0, float("nan")]}))],
               notes=["n"], data={"calls": 3})
    out = report_json(r)
    assert out["summary"] == [{"v": 1.0}, {"v": None}] and out["calls"] == 3 and out["notes"] == ["n"]
    json.dumps(out, allow_nan=False)


def test_chart_paths_are_checked_before_work(tmp_path):
    check_chart_path(None)
    check_chart_path(tmp_path / "a.SVG")
    with pytest.raises(UsageError, match=r"unknown chart format '\(none\)'"):
        check_chart_path(tmp_path / "chart")
    with pytest.raises(UsageError, match="folder .* does not exist"):
        check_chart_path(Path(tmp_path / "no" / "a.png"))


def test_report_without_chart_refuses_chart(tmp_path, capsys):
    r = Report("demo", [], [Section("summary", "Demo", pl.DataFrame({"measure": ["llm_calls[x]"], "mean": [2.0]}))])
    with pytest.raises(UsageError, match="has no chart"):
        emit(r, chart=tmp_path / "a.svg")
    emit(r)
    out = capsys.readouterr().out
    assert "Demo" in out and "llm_calls[x]" in out and "2.0" in out  # brackets are text, not markup


def test_charts_with_more_than_5000_rows_are_written(tmp_path):
    import altair as alt
    import polars as pl

    from agentledger.analyze.output import write_chart

    data = pl.DataFrame({"x": list(range(12_000)), "y": [i % 7 for i in range(12_000)]})
    chart = alt.Chart(data).mark_line().encode(x="x:Q", y="y:Q")
    write_chart(chart, tmp_path / "big.svg")
    assert (tmp_path / "big.svg").read_text().startswith("<svg")
