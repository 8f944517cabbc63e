"""`analyze report`: every analysis that applies to the given traces in one self-contained HTML
file, readable offline: tables as HTML, charts as inline SVG rendered by vl-convert, no
scripts, styles or fonts fetched from anywhere. An analysis whose inputs the traces lack
(GPU samples, scores, block hashes, ...) is listed at the end with the reason. SPEC.md 11.12.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .. import __version__
from ..errors import AgentledgerError, UsageError
from .load import TraceSet
from .output import Report, Section, chart_spec, format_value

__all__ = ["ENTRIES", "MAX_ROWS", "HtmlReport", "check_out", "build_html", "write_report"]

ENTRIES: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    # (anchor, module, title, keyword arguments of its report function)
    ("calls", "calls", "LLM and tool calls per request", {}),
    ("breakdown", "breakdown", "Where a request's time goes", {}),
    ("latency", "latency", "End-to-end latency", {}),
    ("tokens", "tokens", "Tokens per LLM call", {}),
    ("gpu", "gpu", "GPU time and utilization", {}),
    ("prefix", "prefix", "Prefix overlap and caching", {}),
    ("memory", "memory", "KV-cache memory", {}),
    ("throughput", "throughput", "Latency vs offered load", {}),
    ("energy", "energy", "GPU energy", {}),
    ("pareto-latency", "pareto", "Accuracy vs latency", {"cost": "latency"}),
    ("pareto-tokens", "pareto", "Accuracy vs tokens", {"cost": "tokens"}),
    ("pareto-energy", "pareto", "Accuracy vs energy", {"cost": "energy"}),
    ("project", "project", "Projected datacenter power", {}),
)
MAX_ROWS = 200  # rows shown per table; `analyze NAME --json` gives all

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{font-size:1em;margin:1.2em 0 .4em}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0 1em}th,td{border:1px solid #ddd;padding:.25em .5em}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#8a5a00;margin:.2em 0}.meta{color:#666}.chart{overflow-x:auto;margin:.5em 0}nav a{margin-right:1em}
"""


@dataclass
class HtmlReport:
    html: str
    included: list[str] = field(default_factory=list)  # anchors of the sections written
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (anchor, why)


def _table(section: Section) -> str:
    frame = section.frame
    if frame.width == 0 or frame.height == 0:
        return "<p class='meta'>(no rows)</p>"
    shown = frame.head(MAX_ROWS)
    numeric = {c for c in frame.columns if frame.schema[c].is_numeric()}
    head = "".join(f"<th>{html.escape(section.headers.get(c, c))}</th>" for c in frame.columns)
    rows = []
    for row in shown.iter_rows(named=True):
        cells = "".join(f"<td{' class=n' if c in numeric else ''}>{html.escape(format_value(v, c, section.formats.get(c)))}</td>"
                        for c, v in row.items())
        rows.append(f"<tr>{cells}</tr>")
    more = f"<p class='meta'>first {MAX_ROWS:,} of {frame.height:,} rows</p>" if frame.height > MAX_ROWS else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _svg(rep: Report) -> str:
    import vl_convert as vlc
    from altair.utils.data import MaxRowsError

    if rep.chart is None:
        return ""
    try:
        svg = vlc.vegalite_to_svg(chart_spec(rep.chart()))
    except (MaxRowsError, ValueError, RuntimeError) as exc:  # a chart that cannot be drawn leaves its tables in place
        return f"<p class='note'>chart not drawn: {html.escape(str(exc).splitlines()[0])}</p>"
    return f"<div class='chart'>{svg}</div>"


def _section(anchor: str, title: str, rep: Report) -> str:
    parts = [f"<section id='{anchor}'><h2>{html.escape(title)} <span class='meta'>(analyze {html.escape(rep.command)})</span></h2>"]
    parts += [f"<p class='note'>note: {html.escape(n)}</p>" for n in rep.notes]
    for key, value in rep.data.items():
        if isinstance(value, str) and " " in value:  # sentences (a rule, a finding), not option echoes
            parts.append(f"<p class='meta'>{html.escape(key)}: {html.escape(value)}</p>")
    parts.append(_svg(rep))
    for s in rep.sections:
        if s.table:
            parts.append(f"<h3>{html.escape(s.title)}</h3>{_table(s)}")
    parts.append("</section>")
    return "\n".join(parts)


def _load(module: str) -> Callable[..., Report] | None:
    try:
        mod = importlib.import_module(f"{__package__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.{module}":
            return None
        raise
    return getattr(mod, "report", None)


def build_html(ts: TraceSet) -> HtmlReport:
    """Run every analysis in ``ENTRIES`` on ``ts`` and lay the results out as one HTML page."""
    out = HtmlReport("")
    body = []
    for anchor, module, title, kwargs in ENTRIES:
        fn = _load(module)
        if fn is None:
            out.skipped.append((anchor, "this version of agentledger has no such analysis"))
            continue
        try:
            rep = fn(ts, **kwargs)
        except AgentledgerError as exc:
            out.skipped.append((anchor, str(exc)))
            continue
        body.append(_section(anchor, title, rep))
        out.included.append(anchor)
    titles = {a: t for a, _, t, _ in ENTRIES}
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    groups = pl.DataFrame({"group": [g.label for g in ts.groups], "traces": [", ".join(map(str, g.paths)) for g in ts.groups]})
    nav = " ".join(f"<a href='#{a}'>{html.escape(titles[a])}</a>" for a in out.included)
    skipped = "".join(f"<li><b>{html.escape(titles[a])}</b>: {html.escape(why)}</li>" for a, why in out.skipped)
    out.html = "\n".join([
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>agentledger report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>agentledger report</h1>",
        f"<p class='meta'>{len(ts.traces)} trace(s) in {len(ts.groups)} group(s); written {stamp} by agentledger {__version__}</p>",
        f"<h2>Traces</h2>{_table(Section('groups', 'Groups', groups))}", f"<nav>{nav}</nav>", *body,
        f"<section id='skipped'><h2>Not included</h2><ul>{skipped}</ul></section>" if skipped else "",
        "</body></html>",
    ])
    return out


def check_out(out: Path) -> None:
    """Fail early (before any work) on a report path we cannot write."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {out}: the report is HTML; end the file name in .html")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist; create it or choose another path")


def write_report(ts: TraceSet, out: Path) -> HtmlReport:
    """Write the HTML report of ``ts`` to ``out`` (which must end in .html)."""
    check_out(out)
    res = build_html(ts)
    out.write_text(res.html, encoding="utf-8")
    return res
