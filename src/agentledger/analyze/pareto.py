"""`analyze pareto`: accuracy against cost over configurations, the Pareto frontier, accuracy
per unit cost, and the marginal cost of the last accuracy gain (Figs. 13-17 of Kim et al. 2025).
Definitions: SPEC.md 11.10.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import polars as pl

from ..errors import TraceError, UsageError
from .load import TraceSet
from .output import Report, Section

__all__ = ["COSTS", "SCORED_OUTCOMES", "Cost", "Pareto", "check_cost", "request_accuracy", "frontier", "pareto", "report"]

SCORED_OUTCOMES = ("correct", "incorrect", "error", "timeout", "max_iterations")
"""Outcomes that count for accuracy when a request has no score (1 for correct, 0 for the rest)."""


class Cost(NamedTuple):
    column: str  # cost per request
    efficiency: str  # accuracy per unit cost
    per: float  # units of cost the efficiency is given per
    title: str


COSTS: dict[str, Cost] = {
    "latency": Cost("cost_s", "accuracy_per_s", 1.0, "mean end-to-end latency per request (s)"),
    "tokens": Cost("cost_tokens", "accuracy_per_ktoken", 1000.0, "mean prompt + completion tokens per request"),
    "energy": Cost("cost_wh", "accuracy_per_wh", 1.0, "mean GPU energy per request (Wh)"),
}


@dataclass
class Pareto:
    cost: str
    points: pl.DataFrame  # group, requests, scored, accuracy, <cost>, <efficiency>, frontier, top_accuracy, top_efficiency
    marginal: pl.DataFrame  # at most one row: the last accuracy gain along the frontier
    notes: list[str] = field(default_factory=list)


def check_cost(cost: str) -> Cost:
    """The cost axis named ``cost``, or a one-line error listing the known ones."""
    if cost not in COSTS:
        raise UsageError(f"unknown --cost value {cost!r}; use one of: {', '.join(COSTS)}")
    return COSTS[cost]


def request_accuracy() -> pl.Expr:
    """A request's accuracy value: its score, else 1/0 from a scored outcome, else null."""
    by_outcome = pl.when(pl.col("outcome").is_in(list(SCORED_OUTCOMES))).then((pl.col("outcome") == "correct").cast(pl.Float64))
    return pl.coalesce(pl.col("score"), by_outcome).alias("accuracy")


def frontier(points: pl.DataFrame, cost: str) -> pl.Series:
    """True for the points no other point dominates (accuracy at least as high and cost at most
    as high, one of them strictly)."""
    p = points.select("accuracy", cost).with_row_index("_i")
    q = p.rename({"accuracy": "_qa", cost: "_qc", "_i": "_j"})
    dominated = p.join(q, how="cross").filter(
        (pl.col("_qa") >= pl.col("accuracy")) & (pl.col("_qc") <= pl.col(cost))
        & ((pl.col("_qa") > pl.col("accuracy")) | (pl.col("_qc") < pl.col(cost))))["_i"].unique()
    return (~p["_i"].is_in(dominated.implode())).alias("frontier")


def _costs(ts: TraceSet, cost: str, req: pl.DataFrame) -> pl.DataFrame:
    """Per request: group, trace, request_id, the cost column."""
    col = COSTS[cost].column
    if cost == "latency":
        return req.select("group", "trace", "request_id", ((pl.col("end_ns") - pl.col("start_ns")) / 1e9).alias(col))
    if cost == "energy":
        from .energy import energy

        return energy(ts).per_request.select("group", "trace", "request_id", pl.col("energy_wh").alias(col))
    llm = ts.scan("llm_call", ["request_id", "prompt_tokens", "completion_tokens"]).collect()
    counted = set(llm.filter(pl.col("prompt_tokens").is_not_null())["trace"].unique().to_list())
    for t in ts.traces:
        if t.index not in counted:
            raise TraceError(f"{t.path}: no llm_call has prompt_tokens (the server reported no usage); "
                             "analyze pareto --cost tokens needs token counts")
    per = llm.group_by("trace", "request_id").agg(
        (pl.col("prompt_tokens").fill_null(0).cast(pl.Int64) + pl.col("completion_tokens").fill_null(0).cast(pl.Int64))
        .sum().alias(col))
    return req.select("group", "trace", "request_id").join(per, on=["trace", "request_id"], how="left").with_columns(
        pl.col(col).fill_null(0).cast(pl.Float64))


def _marginal(points: pl.DataFrame, c: Cost) -> pl.DataFrame:
    front = points.filter(pl.col("frontier")).sort(c.column, pl.col("accuracy"), descending=[False, True])
    top = front.sort("accuracy", c.column, descending=[True, False]).head(1)
    if top.is_empty():
        return pl.DataFrame()
    a_top, c_top = top["accuracy"][0], top[c.column][0]
    below = front.filter(pl.col("accuracy") < a_top).sort("accuracy", descending=True).head(1)
    if below.is_empty():
        return pl.DataFrame()
    a_prev, c_prev = below["accuracy"][0], below[c.column][0]
    gain = a_top - a_prev
    return pl.DataFrame([{
        "from_group": below["group"][0], "to_group": top["group"][0], "accuracy_from": a_prev, "accuracy_to": a_top,
        "accuracy_gain": gain, f"{c.column}_from": c_prev, f"{c.column}_to": c_top,
        "cost_ratio": c_top / c_prev if c_prev > 0 else None, "marginal_cost_per_point": (c_top - c_prev) / (gain * 100),
    }])


def pareto(ts: TraceSet, *, cost: str = "latency") -> Pareto:
    """Accuracy and ``cost`` per group, the frontier and the marginal cost of the last gain (SPEC.md 11.10)."""
    c = check_cost(cost)
    req = ts.scan("request", ["request_id", "start_ns", "end_ns", "score", "outcome"]).collect()
    ts.require(req, "request", "pareto", "request events (finished agent tasks)")
    req = req.with_columns(request_accuracy())
    if req["accuracy"].null_count() == req.height:
        raise TraceError("no request has a score or a scored outcome (all unscored); analyze pareto needs tasks "
                         "scored by their benchmark (capture an agent benchmark such as hotpotqa, not sharegpt)")
    per = req.join(_costs(ts, cost, req), on=["group", "trace", "request_id"], how="left")
    points = per.group_by("group").agg(
        pl.len().alias("requests"), pl.col("accuracy").count().alias("scored"), pl.col("accuracy").mean(),
        pl.col(c.column).mean()).sort("group")
    notes = [f"{g}: no scored request; left out of the frontier" for g in points.filter(pl.col("scored") == 0)["group"].to_list()]
    points = points.filter(pl.col("scored") > 0)
    points = points.with_columns(
        pl.when(pl.col(c.column) > 0).then(pl.col("accuracy") / pl.col(c.column) * c.per).alias(c.efficiency))
    points = points.with_columns(frontier(points, c.column))
    top_acc = points.sort("accuracy", c.column, descending=[True, False])["group"][0]
    eff = points.filter(pl.col(c.efficiency).is_not_null())
    top_eff = eff.sort(c.efficiency, descending=True)["group"][0] if eff.height else None
    points = points.with_columns((pl.col("group") == top_acc).alias("top_accuracy"),
                                 (pl.col("group") == top_eff).fill_null(False).alias("top_efficiency"))
    if points.height == 1:
        notes.append("one configuration only; compare several (agents, settings or models) for a frontier")
    return Pareto(cost, points, _marginal(points, c), notes)


def _chart(points: pl.DataFrame, c: Cost) -> Any:
    import altair as alt

    data = points.with_columns(pl.col("group").cast(pl.String))
    x = alt.X(f"{c.column}:Q", title=c.title, scale=alt.Scale(zero=False))
    y = alt.Y("accuracy:Q", title="accuracy", axis=alt.Axis(format="%"))
    dots = alt.Chart(data).mark_point(filled=True, size=80).encode(
        x=x, y=y, color=alt.Color("frontier:N", title="on frontier"),
        tooltip=["group", alt.Tooltip("accuracy:Q", format=".1%"), alt.Tooltip(f"{c.column}:Q", format=".4g"),
                 alt.Tooltip(f"{c.efficiency}:Q", format=".4g")])
    labels = alt.Chart(data).mark_text(align="left", dx=6, dy=-6, fontSize=10).encode(x=x, y=y, text="group:N")
    line = alt.Chart(data).transform_filter("datum.frontier").mark_line(color="gray", strokeDash=[4, 3]).encode(
        x=x, y=y, order=alt.Order(f"{c.column}:Q"))
    return (line + dots + labels).properties(title="Accuracy vs cost: the Pareto frontier", width=480, height=320)


def report(ts: TraceSet, *, cost: str = "latency") -> Report:
    res = pareto(ts, cost=cost)
    c = COSTS[res.cost]
    data: dict[str, Any] = {"cost": res.cost, "cost_column": c.column}
    if res.marginal.height:
        m = res.marginal.row(0, named=True)
        ratio = f"{m['cost_ratio']:.3g}x the cost" if m["cost_ratio"] is not None else "a cost"
        data["marginal_text"] = (f"the last {m['accuracy_gain']:.1%} of accuracy ({m['from_group']} -> {m['to_group']}) "
                                 f"takes {ratio} ({c.title})")
    return Report("pareto", ts.describe(), [
        Section("points", f"Accuracy vs {res.cost} per configuration", res.points,
                formats={"accuracy": ".1%", c.column: ".4g", c.efficiency: ".4g"}),
        Section("marginal", "Marginal cost of the last accuracy gain on the frontier", res.marginal, table=res.marginal.height > 0,
                formats={"accuracy_from": ".1%", "accuracy_to": ".1%", "accuracy_gain": ".1%", "cost_ratio": ".3g",
                         f"{c.column}_from": ".4g", f"{c.column}_to": ".4g", "marginal_cost_per_point": ".4g"}),
    ], res.notes, chart=lambda: _chart(res.points, c), data=data)
