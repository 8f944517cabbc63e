"""One way for every analysis to show its result: a rich table, JSON, or a chart file.

An analysis builds a :class:`Report`: named sections (polars frames), notes, and
optionally a function that makes an altair chart. ``emit`` renders it as tables
on stdout, as one JSON object (``--json``), and writes the chart (``--chart``)
by the file's extension: ``.html`` (self-contained, scripts inlined), ``.png``
or ``.svg`` (rendered by vl-convert, no browser or network needed).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console

from .._cli import print_json, stderr
from ..errors import UsageError

__all__ = ["CHART_FORMATS", "Section", "Report", "check_chart_path", "write_chart", "report_json", "emit", "format_value"]

CHART_FORMATS = (".html", ".png", ".svg")


@dataclass
class Section:
    """One result frame: ``key`` names it in JSON, ``title`` heads its table."""

    key: str
    title: str
    frame: pl.DataFrame
    table: bool = True  # False: JSON (and charts) only, e.g. long lists of curve points
    formats: dict[str, str] = field(default_factory=dict)  # column -> format spec, e.g. ".1%"
    headers: dict[str, str] = field(default_factory=dict)  # column -> shorter table header


@dataclass
class Report:
    """What one analysis command shows."""

    command: str
    groups: list[dict[str, Any]]
    sections: list[Section]
    notes: list[str] = field(default_factory=list)
    chart: Callable[[], Any] | None = None  # -> an altair chart
    data: dict[str, Any] = field(default_factory=dict)  # extra scalar results for JSON

    def section(self, key: str) -> pl.DataFrame:
        for s in self.sections:
            if s.key == key:
                return s.frame
        raise KeyError(key)


def check_chart_path(path: Path | None) -> None:
    """Fail early (before any work) on a chart path we cannot write."""
    if path is None:
        return
    if path.suffix.lower() not in CHART_FORMATS:
        raise UsageError(f"--chart {path}: unknown chart format {path.suffix or '(none)'!r}; "
                         f"end the file name in {', '.join(CHART_FORMATS)}")
    if not path.parent.is_dir():
        raise UsageError(f"--chart {path}: folder {path.parent} does not exist; create it or choose another path")


def chart_spec(chart: Any) -> dict[str, Any]:
    """The chart's Vega-Lite spec, with its data inline however many rows it has."""
    import altair as alt

    with alt.data_transformers.disable_max_rows():  # scoped: altair's 5,000-row guard is for notebooks
        return chart.to_dict()


def write_chart(chart: Any, path: Path) -> None:
    """Write an altair chart to ``path`` as HTML, PNG or SVG (by extension)."""
    import vl_convert as vlc

    check_chart_path(path)
    spec = chart_spec(chart)
    ext = path.suffix.lower()
    if ext == ".html":
        path.write_text(vlc.vegalite_to_html(spec, bundle=True), encoding="utf-8")
    elif ext == ".svg":
        path.write_text(vlc.vegalite_to_svg(spec), encoding="utf-8")
    else:
        path.write_bytes(vlc.vegalite_to_png(spec, scale=2))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def report_json(report: Report) -> dict[str, Any]:
    """The report as one JSON-ready dict: command, groups, each section's rows, notes, data."""
    out: dict[str, Any] = {"command": report.command, "groups": report.groups}
    for s in report.sections:
        out[s.key] = [{k: _clean(v) for k, v in row.items()} for row in s.frame.to_dicts()]
    out.update(report.data)
    out["notes"] = report.notes
    return out


def format_value(value: Any, column: str, spec: str | None = None) -> str:
    """Text of one table cell: shares as percentages, seconds and ratios with 3 decimals, counts with separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if spec:
        return format(value, spec)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if "share" in column or column.endswith("_frac"):
        return f"{value:.1%}"
    if column.endswith("_s") or column in ("cv", "p"):
        return f"{value:,.3f}"
    return f"{value:,.1f}"


def _table(section: Section):
    from rich.table import Table
    from rich.text import Text

    frame = section.frame
    cells = [[format_value(v, c, section.formats.get(c)) for v in frame.get_column(c).to_list()] for c in frame.columns]
    t = Table(title=section.title, title_justify="left")
    for c, col in zip(frame.columns, cells, strict=True):
        header = section.headers.get(c, c)
        if frame.schema[c].is_numeric():
            width = max([len(header), *map(len, col)])
            t.add_column(header, justify="right", no_wrap=True, min_width=min(width, 14))
        else:
            t.add_column(header, overflow="fold")
    for row in zip(*cells, strict=True):
        t.add_row(*(Text(v) for v in row))
    return t


def emit(report: Report, *, as_json: bool = False, chart: Path | None = None) -> None:
    """Print the report (tables, or JSON with ``as_json``) and write its chart to ``chart``."""
    from rich.markup import escape

    if chart is not None:
        if report.chart is None:
            raise UsageError(f"analyze {report.command} has no chart; leave out --chart")
        write_chart(report.chart(), chart)
    if as_json:
        print_json(report_json(report))
        return
    con = Console(width=None if sys.stdout.isatty() else 160)
    for s in report.sections:
        if s.table:
            con.print(_table(s))
    err = stderr()
    for note in report.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if chart is not None:
        err.print(f"chart written to {chart}", highlight=False)
