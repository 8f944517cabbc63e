"""`analyze latency`: the distribution of end-to-end request latency (Fig. 7 of Kim et al. 2025).

Per request (SPEC.md 11.5): ``e2e_s = (end_ns - start_ns) / 1e9`` of its request
event. Per group: count, mean, sample standard deviation, coefficient of
variation, min, p50/p90/p95/p99, max; CDF points (the quantile function on an
even probability grid) and an equal-width histogram over all groups' range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from .load import TraceSet
from .output import Report, Section
from .stats import cv, histogram, pct_name, quantile, quantile_grid

__all__ = ["PERCENTILES", "Latency", "request_latency", "latency", "report"]

PERCENTILES = (50, 90, 95, 99)


@dataclass
class Latency:
    per_request: pl.DataFrame  # group, trace, request_id, ok, outcome, e2e_s
    summary: pl.DataFrame  # group, requests, mean_s, std_s, cv, min_s, p50_s, p90_s, p95_s, p99_s, max_s
    cdf: pl.DataFrame  # group, p, e2e_s
    histogram: pl.DataFrame  # group, e2e_s_from, e2e_s_to, count


def request_latency(ts: TraceSet) -> pl.DataFrame:
    """End-to-end latency of every request, in seconds."""
    req = ts.scan("request", ["request_id", "start_ns", "end_ns", "ok", "outcome"]).collect()
    ts.require(req, "request", "latency", "request events (finished agent tasks)")
    e2e = ((pl.col("end_ns") - pl.col("start_ns")) / 1e9).alias("e2e_s")
    return req.select("group", "trace", "request_id", "ok", "outcome", e2e).sort("group", "trace", "request_id")


def latency(ts: TraceSet, *, points: int = 101, bins: int = 20) -> Latency:
    """Latency summary, CDF points (``points`` probabilities 0..1) and a ``bins``-bin histogram per group."""
    per = request_latency(ts)
    summary = per.group_by("group").agg(
        pl.len().alias("requests"),
        pl.col("e2e_s").mean().alias("mean_s"),
        pl.col("e2e_s").std(ddof=1).alias("std_s"),
        cv("e2e_s").alias("cv"),
        pl.col("e2e_s").min().alias("min_s"),
        *(quantile("e2e_s", p / 100).alias(f"{pct_name(p)}_s") for p in PERCENTILES),
        pl.col("e2e_s").max().alias("max_s"),
    ).sort("group")
    cdf = quantile_grid(per.lazy(), "e2e_s", ["group"], points).collect()
    hist = histogram(per, "e2e_s", ["group"], bins)
    return Latency(per, summary, cdf, hist)


def _chart(cdf: pl.DataFrame) -> Any:
    import altair as alt

    data = cdf.with_columns(pl.col("group").cast(pl.String))
    return alt.Chart(data).mark_line().encode(
        x=alt.X("e2e_s:Q", title="end-to-end latency (s)", scale=alt.Scale(zero=False)),
        y=alt.Y("p:Q", title="fraction of requests", axis=alt.Axis(format="%")),
        color="group:N",
        tooltip=["group", alt.Tooltip("p:Q", format=".0%"), alt.Tooltip("e2e_s:Q", format=".3f")],
    ).properties(title="End-to-end latency CDF", width=480, height=300)


def report(ts: TraceSet) -> Report:
    res = latency(ts)
    return Report("latency", ts.describe(), [
        Section("summary", "End-to-end latency per request", res.summary),
        Section("cdf", "CDF points", res.cdf, table=False),
        Section("histogram", "Histogram", res.histogram, table=False),
    ], chart=lambda: _chart(res.cdf))
