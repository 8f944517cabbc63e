"""`analyze calls`: LLM and tool invocations per request (Fig. 4 of Kim et al. 2025).

For every request (SPEC.md 11.3): its number of llm_call events, of tool_call
events, and of each by ``role`` (``llm_calls:actor``, ...) and by ``tool_name``
(``tool_calls:search``, ...). A request without a call of some measure counts 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from .load import TraceSet
from .output import Report, Section
from .stats import describe

__all__ = ["CallCounts", "request_calls", "call_counts", "report"]

_KEYS = ["group", "trace", "request_id"]


@dataclass
class CallCounts:
    per_request: pl.DataFrame  # group, trace, request_id, measure, calls (one row per request and measure)
    summary: pl.DataFrame  # group, measure, requests, total, mean, p50, p95, max


def _counts(lf: pl.LazyFrame, prefix: str, by: str | None) -> pl.LazyFrame:
    keys = [*_KEYS, by] if by else _KEYS
    measure = pl.lit(prefix) if by is None else pl.lit(prefix + ":") + pl.col(by).fill_null("?")
    return lf.group_by(keys).agg(pl.len().cast(pl.Int64).alias("calls")).select(*_KEYS, measure.alias("measure"), "calls")


def request_calls(ts: TraceSet) -> pl.DataFrame:
    """Calls per request and measure, zeros included, in measure order (totals, roles, tools)."""
    req = ts.scan("request", ["request_id"]).collect()
    ts.require(req, "request", "calls", "request events (finished agent tasks)")
    llm = ts.scan("llm_call", ["request_id", "role"])
    tool = ts.scan("tool_call", ["request_id", "tool_name"])
    counts = pl.concat([_counts(llm, "llm_calls", None), _counts(tool, "tool_calls", None),
                        _counts(llm, "llm_calls", "role"), _counts(tool, "tool_calls", "tool_name")]).collect()
    counts = counts.join(req.select("trace", "request_id"), on=["trace", "request_id"], how="semi")
    base = pl.DataFrame({"measure": ["llm_calls", "tool_calls"]})
    detail = counts.filter(pl.col("measure").str.contains(":")).select("group", "measure").unique()
    measures = pl.concat([req.select("group").unique().join(base, how="cross"), detail])
    rank = (pl.col("measure").str.starts_with("tool_calls").cast(pl.Int8) + 2 * pl.col("measure").str.contains(":"))
    measures = measures.sort(pl.col("group"), rank, pl.col("measure"))
    grid = req.select(_KEYS).join(measures, on="group", how="inner", maintain_order="right")
    out = grid.join(counts, on=[*_KEYS, "measure"], how="left", maintain_order="left")
    return out.with_columns(pl.col("calls").fill_null(0))


def call_counts(ts: TraceSet) -> CallCounts:
    """Per-request call counts and their mean, p50, p95 and max per group and measure."""
    per = request_calls(ts)
    summary = per.group_by("group", "measure", maintain_order=True).agg(
        pl.len().alias("requests"), pl.col("calls").sum().alias("total"), *describe("calls", (50, 95)))
    return CallCounts(per, summary.sort("group", maintain_order=True))


def _chart(summary: pl.DataFrame) -> Any:
    import altair as alt

    data = summary.with_columns(pl.col("group").cast(pl.String))
    order = list(dict.fromkeys(data["measure"].to_list()))
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("measure:N", sort=order, title=None), xOffset="group:N",
        y=alt.Y("mean:Q", title="calls per request (bar: mean, tick: p95)"), color="group:N",
        tooltip=["group", "measure", "requests", alt.Tooltip("mean:Q", format=".2f"), "p50", "p95", "max"])
    ticks = alt.Chart(data).mark_tick(color="black", thickness=2).encode(
        x=alt.X("measure:N", sort=order), xOffset="group:N", y="p95:Q")
    return (bars + ticks).properties(title="LLM and tool calls per request", width=max(240, 60 * len(order)))


def report(ts: TraceSet) -> Report:
    res = call_counts(ts)
    return Report("calls", ts.describe(), [Section("summary", "Calls per request", res.summary)],
                  chart=lambda: _chart(res.summary))
