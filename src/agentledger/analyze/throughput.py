"""`analyze throughput`: p95 latency against offered load across the traces of a sweep, and the
knee, the peak sustainable throughput (Fig. 11 of Kim et al. 2025). Definitions: SPEC.md 11.8.

Every group (run configuration) is one load point. Points whose configurations differ only
in load parameters (``qps``, ``request_rate``, ``arrival_rate``, ``concurrency``) form one
series, e.g. the sweep with prefix caching and the sweep without it; each series has its knee.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..errors import TraceError, UsageError
from .load import TraceSet
from .output import Report, Section
from .stats import quantile

__all__ = ["RATE_PARAMS", "LOAD_PARAMS", "Throughput", "offered_rate", "find_knee", "throughput", "report"]

RATE_PARAMS = ("qps", "request_rate", "arrival_rate")
"""Run parameters that give the offered load in requests per second, first present wins."""
LOAD_PARAMS = frozenset({*RATE_PARAMS, "concurrency"})
"""Run parameters a load sweep varies; left out of the series key."""


@dataclass
class Throughput:
    points: pl.DataFrame  # one row per group (load point), see SPEC.md 11.8
    knees: pl.DataFrame  # one row per series
    factor: float
    tracking: float
    notes: list[str] = field(default_factory=list)


def offered_rate(params: dict[str, Any], starts_ns: list[int]) -> tuple[float | None, str]:
    """Offered requests per second of one trace and where it came from.

    A rate parameter (``RATE_PARAMS``) wins; otherwise the observed arrival rate,
    ``(n - 1) / (last start - first start)`` over the ``n`` request starts (None for n < 2
    or all starts at one instant).
    """
    for name in RATE_PARAMS:
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
            raise TraceError(f"run parameter {name}={value!r} is not a positive number of requests per second; "
                             "fix the run configuration or analyze traces captured with a numeric rate")
        return float(value), f"params.{name}"
    if len(starts_ns) < 2 or max(starts_ns) == min(starts_ns):
        return None, "arrivals"
    return (len(starts_ns) - 1) / ((max(starts_ns) - min(starts_ns)) / 1e9), "arrivals"


def _series_labels(keys: list[dict[str, Any]]) -> list[str]:
    """Series label: every configuration field that differs between the series, as ``name=value``."""
    flats = []
    for k in keys:
        flat = {n: v for n, v in k.items() if n not in ("flags", "params")}
        flat.update(k.get("flags") or {})
        flat.update({n: v for n, v in (k.get("params") or {}).items() if n not in LOAD_PARAMS})
        flats.append(flat)
    names = list(dict.fromkeys(n for f in flats for n in f))
    varying = [n for n in names if len({json.dumps(f.get(n), sort_keys=True, default=str) for f in flats}) > 1]
    return [" ".join(f"{n}={f.get(n)}" for n in varying) or "all" for f in flats]


def find_knee(points: list[dict[str, Any]], factor: float, tracking: float) -> tuple[list[bool], int | None]:
    """Which points (sorted by offered load) are sustainable, and the index of the knee.

    A point is sustainable when its p95 is at most ``factor`` times the p95 of the lowest
    load and, for a rate given by the run parameters, its achieved throughput is at least
    ``tracking`` times the offered rate. The knee is the last point of the unbroken run of
    sustainable points from the lowest load; None when even the lowest load does not keep up.
    """
    if not points:
        raise ValueError("find_knee needs at least one load point")
    base = points[0]["p95_s"]
    ok = [p["p95_s"] <= factor * base and (p["offered_from"] == "arrivals" or p["achieved_qps"] >= tracking * p["offered_qps"])
          for p in points]
    if not ok[0]:
        return ok, None
    knee = 0
    while knee + 1 < len(points) and ok[knee + 1]:
        knee += 1
    return ok, knee


def _trace_points(ts: TraceSet, req: pl.DataFrame) -> pl.DataFrame:
    """Per trace: offered load, where it came from, and achieved throughput (completion rate)."""
    rows = []
    for part in req.partition_by("trace", maintain_order=True):
        t = ts.traces[part["trace"][0]]
        offered, source = offered_rate(t.meta.config.get("params") or {}, part["start_ns"].to_list())
        ends: list[int] = part["end_ns"].to_list()
        span_s = (max(ends) - min(ends)) / 1e9
        rows.append({"trace": t.index, "group": t.group, "offered_qps": offered, "offered_from": source,
                     "achieved_qps": (part.height - 1) / span_s if span_s > 0 else None})
    return pl.DataFrame(rows, schema={"trace": pl.UInt32, "group": pl.String, "offered_qps": pl.Float64,
                                      "offered_from": pl.String, "achieved_qps": pl.Float64})


def throughput(ts: TraceSet, *, factor: float = 2.0, tracking: float = 0.9) -> Throughput:
    """Load points, their series and each series' knee (SPEC.md 11.8)."""
    if not factor >= 1:
        raise UsageError(f"--factor {factor}: the latency factor must be at least 1 (e.g. 2 for twice the lowest-load p95)")
    if not 0 < tracking <= 1:
        raise UsageError(f"--tracking {tracking}: the tracking fraction must lie in (0, 1] (e.g. 0.9)")
    req = ts.scan("request", ["start_ns", "end_ns"]).collect()
    ts.require(req, "request", "throughput", "request events (finished agent tasks)")
    per_trace = _trace_points(ts, req)
    lat = req.select(pl.col("group").cast(pl.String), ((pl.col("end_ns") - pl.col("start_ns")) / 1e9).alias("e2e_s")).group_by(
        "group").agg(pl.len().alias("requests"), quantile("e2e_s", 0.5).alias("p50_s"), quantile("e2e_s", 0.95).alias("p95_s"))
    pts = per_trace.group_by("group").agg(
        pl.len().alias("traces"), pl.col("offered_qps").mean(), pl.col("achieved_qps").mean(),
        pl.when(pl.col("offered_from").n_unique() == 1).then(pl.col("offered_from").first()).otherwise(pl.lit("arrivals"))
        .alias("offered_from"))
    pts = pts.join(lat, on="group")
    labels = dict(zip(ts.labels, _series_labels([g.config for g in ts.groups]), strict=True))
    pts = pts.with_columns(pl.col("group").replace_strict(labels).alias("series"))
    notes = [f"{g}: offered load unknown (one request, or all started at once, and no rate parameter); left out"
             for g in pts.filter(pl.col("offered_qps").is_null())["group"].to_list()]
    pts = pts.filter(pl.col("offered_qps").is_not_null())
    if pts.is_empty():
        raise TraceError("no trace has a known offered load; analyze throughput needs a rate parameter (qps) "
                         "or at least two requests that started at different times per trace")
    points, knees = [], []
    for series in dict.fromkeys(labels.values()):
        rows = pts.filter(pl.col("series") == series).sort("offered_qps").to_dicts()
        if not rows:
            continue
        ok, k = find_knee(rows, factor, tracking)
        base = rows[0]["p95_s"]
        for i, (r, good) in enumerate(zip(rows, ok, strict=True)):
            points.append({**r, "p95_vs_base": r["p95_s"] / base if base > 0 else None,
                           "tracking_frac": r["achieved_qps"] / r["offered_qps"] if r["achieved_qps"] is not None else None,
                           "sustainable": good, "knee": i == k})
        at = rows[k] if k is not None else dict.fromkeys(rows[0])
        nxt = 0 if k is None else k + 1  # the first load past the knee
        after = rows[nxt] if nxt < len(rows) else None
        knees.append({"series": series, "loads": len(rows), "base_qps": rows[0]["offered_qps"], "base_p95_s": base,
                      "knee_offered_qps": at["offered_qps"], "knee_achieved_qps": at["achieved_qps"],
                      "knee_p95_s": at["p95_s"], "saturated": after is not None,
                      "next_offered_qps": after["offered_qps"] if after else None})
        if k is None:
            notes.append(f"series {series}: even the lowest load did not keep up (achieved < {tracking:g} x offered); "
                         "sweep lower rates")
        elif len(rows) == 1:
            notes.append(f"series {series}: one load point only; sweep the load (several qps or concurrency values) to find a knee")
        elif after is None:
            notes.append(f"series {series}: every load was sustainable; the knee is at least {at['offered_qps']:.3g} qps")
    cols = ["series", "group", "traces", "requests", "offered_qps", "offered_from", "achieved_qps", "tracking_frac",
            "p50_s", "p95_s", "p95_vs_base", "sustainable", "knee"]
    return Throughput(pl.DataFrame(points).select(cols), pl.DataFrame(knees), factor, tracking, notes)


def _chart(points: pl.DataFrame, factor: float) -> Any:
    import altair as alt

    base = alt.Chart(points).encode(
        x=alt.X("offered_qps:Q", title="offered load (requests/s)"), y=alt.Y("p95_s:Q", title="p95 end-to-end latency (s)"),
        color=alt.Color("series:N"),
        tooltip=["series", "group", alt.Tooltip("offered_qps:Q", format=".3g"), alt.Tooltip("achieved_qps:Q", format=".3g"),
                 alt.Tooltip("p95_s:Q", format=".3f"), "sustainable"])
    line = base.mark_line(point=True)
    knee = base.transform_filter("datum.knee").mark_point(size=220, shape="diamond", filled=False, strokeWidth=2)
    return (line + knee).properties(title=f"p95 latency vs offered load (diamond: knee, p95 within {factor:g}x of lowest load)",
                                    width=480, height=300)


def report(ts: TraceSet, *, factor: float = 2.0, tracking: float = 0.9) -> Report:
    res = throughput(ts, factor=factor, tracking=tracking)
    return Report("throughput", ts.describe(), [
        Section("points", "Latency by offered load", res.points, formats={"offered_qps": ".3g", "achieved_qps": ".3g"}),
        Section("knees", "Knee: peak sustainable throughput per series", res.knees,
                formats={c: ".3g" for c in res.knees.columns if c.endswith("_qps")}),
    ], res.notes, chart=lambda: _chart(res.points, res.factor), data={"factor": res.factor, "tracking": res.tracking})
