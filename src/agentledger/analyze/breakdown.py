"""`analyze breakdown`: where each request's end-to-end latency goes (Fig. 5 of Kim et al. 2025).

Per request (SPEC.md 11.4): LLM time is the union of its llm_call intervals, tool
time the union of its tool_call intervals, overlap their intersection (parallel
calls, LLMCompiler), other the rest of the request; LLM time is further split into
server queue, prefill, decode and client time where the server reported them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .intervals import clip_to, two_set_cover
from .load import TraceSet
from .output import Report, Section
from .stats import quantile

__all__ = ["EXCLUSIVE", "TOTALS", "LLM_SPLIT", "COMPONENTS", "Breakdown", "request_breakdown", "breakdown", "report"]

EXCLUSIVE = ("llm_only", "tool_only", "overlap", "other")  # add up to e2e
TOTALS = ("llm", "tool")  # llm = llm_only + overlap, tool = tool_only + overlap
LLM_SPLIT = ("llm_queue", "llm_prefill", "llm_decode", "llm_client")  # add up to llm
COMPONENTS = ("e2e", *EXCLUSIVE, *TOTALS, *LLM_SPLIT)
_SUMS_TO = {**dict.fromkeys(EXCLUSIVE, "e2e"), **dict.fromkeys(LLM_SPLIT, "llm")}
_SERVER = ("server_queue_ns", "server_prefill_ns", "server_decode_ns")


@dataclass
class Breakdown:
    per_request: pl.DataFrame  # group, trace, request_id, <component>_s for every component
    summary: pl.DataFrame  # group, component, sums_to, requests, mean_s, mean_share, p50_share, p95_share
    llm_calls: int  # LLM calls inside a request's window (after clipping)
    server_timed_calls: int  # of those, calls with all three server timings
    notes: list[str] = field(default_factory=list)


def _llm_split(llm: pl.LazyFrame) -> pl.LazyFrame:
    """Per request: summed call time and its server queue/prefill/decode parts, client the rest."""
    dur = (pl.col("end_ns") - pl.col("start_ns")).cast(pl.Float64)
    srv = pl.sum_horizontal(_SERVER)
    has = pl.all_horizontal(pl.col(c).is_not_null() for c in _SERVER)
    fit = pl.when(has & (srv > dur)).then(dur / srv).otherwise(1.0)  # server parts never exceed the call
    parts = [pl.when(has).then(pl.col(c) * fit).otherwise(0.0).alias(c) for c in _SERVER]
    return (
        llm.with_columns(*parts, has.alias("_has"), dur.alias("_dur"))
        .group_by("rk")
        .agg(pl.col("_dur").sum().alias("_dur"), *(pl.col(c).sum() for c in _SERVER),
             pl.len().alias("_calls"), pl.col("_has").sum().alias("_server_calls"))
    )


def request_breakdown(ts: TraceSet) -> tuple[pl.DataFrame, int, int]:
    """The per-request frame, the number of llm_calls, and how many of them carry server timings."""
    events = ts.scan(("request", "llm_call", "tool_call"), ["kind", "request_id", "start_ns", "end_ns", *_SERVER]).collect()
    req = events.filter(pl.col("kind") == "request").select("group", "trace", "request_id", "start_ns", "end_ns")
    ts.require(req, "request", "breakdown", "request events (finished agent tasks)")
    req = req.with_row_index("rk")
    win = req.lazy().select("trace", "request_id", "rk", pl.col("start_ns").alias("_lo"), pl.col("end_ns").alias("_hi"))
    calls = events.lazy().filter(pl.col("kind") != "request").drop("group")
    calls = clip_to(calls, win, ["trace", "request_id"], "_lo", "_hi", keep_lo=True).select(
        "rk", (pl.col("kind") == "tool_call").alias("tool"), *_SERVER,
        (pl.col("start_ns") - pl.col("_lo")).alias("start_ns"), (pl.col("end_ns") - pl.col("_lo")).alias("end_ns"))
    calls, split = pl.collect_all([calls, _llm_split(calls.filter(~pl.col("tool")))])
    cover = two_set_cover(calls, "rk", "tool", n_keys=req.height).drop("rk")
    df = pl.concat([req, cover], how="horizontal").join(split, on="rk", how="left", maintain_order="left").fill_null(0)
    n_calls, n_server = int(df["_calls"].sum()), int(df["_server_calls"].sum())
    s = 1e9
    scale = pl.when(pl.col("_dur") > 0).then(pl.col("a_ns") / pl.col("_dur")).otherwise(0.0) / s
    server = [(pl.col(c) * scale if n_server else pl.lit(None, pl.Float64)).alias(f"llm_{c.split('_')[1]}_s") for c in _SERVER]
    df = df.select(
        "group", "trace", "request_id",
        ((pl.col("end_ns") - pl.col("start_ns")) / s).alias("e2e_s"),
        ((pl.col("a_ns") - pl.col("both_ns")) / s).alias("llm_only_s"),
        ((pl.col("b_ns") - pl.col("both_ns")) / s).alias("tool_only_s"),
        (pl.col("both_ns") / s).alias("overlap_s"),
        ((pl.col("end_ns") - pl.col("start_ns") - pl.col("either_ns")) / s).alias("other_s"),
        (pl.col("a_ns") / s).alias("llm_s"),
        (pl.col("b_ns") / s).alias("tool_s"),
        *server,
        (pl.col("a_ns") / s - pl.sum_horizontal(pl.col(c) * scale for c in _SERVER)).alias("llm_client_s"),
    )
    return df.sort("group", "trace", "request_id"), n_calls, n_server


def _summary(per: pl.DataFrame) -> pl.DataFrame:
    """One row per group and component; aggregated wide (one pass), then reshaped."""
    share = {c: pl.when(pl.col("e2e_s") > 0).then(pl.col(f"{c}_s") / pl.col("e2e_s")) for c in COMPONENTS}
    aggs = [pl.len().alias("requests")]
    for c in COMPONENTS:
        aggs += [pl.col(f"{c}_s").mean().alias(f"{c}|mean_s"), share[c].mean().alias(f"{c}|mean_share"),
                 quantile(share[c], 0.5).alias(f"{c}|p50_share"), quantile(share[c], 0.95).alias(f"{c}|p95_share")]
    wide = per.group_by("group").agg(aggs).sort("group")
    stats = ("mean_s", "mean_share", "p50_share", "p95_share")
    return pl.concat([
        wide.select("group", pl.lit(c).alias("component"), pl.lit(_SUMS_TO.get(c), pl.String).alias("sums_to"),
                    "requests", *(pl.col(f"{c}|{st}").alias(st) for st in stats))
        for c in COMPONENTS
    ]).sort("group", maintain_order=True)


def breakdown(ts: TraceSet) -> Breakdown:
    """Per-request latency breakdown and its per-group summary."""
    per, n_calls, n_server = request_breakdown(ts)
    notes = []
    if n_calls and not n_server:
        notes.append("server timings not recorded: LLM time is client-measured only (llm_client = llm; "
                     "queue/prefill/decode need an engine with per-request metrics)")
    elif n_server < n_calls:
        notes.append(f"{n_calls - n_server:,} of {n_calls:,} llm_calls carry no server timings; their time counts as llm_client")
    return Breakdown(per, _summary(per), n_calls, n_server, notes)


def _chart(summary: pl.DataFrame) -> Any:
    import altair as alt

    data = summary.filter(pl.col("component").is_in(EXCLUSIVE)).with_columns(
        pl.col("group").cast(pl.String),
        pl.col("component").replace_strict({c: i for i, c in enumerate(EXCLUSIVE)}, return_dtype=pl.Int32).alias("stack_order"))
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("group:N", title=None),
        x=alt.X("mean_share:Q", stack="zero", axis=alt.Axis(format="%"), title="mean share of end-to-end latency"),
        color=alt.Color("component:N", sort=list(EXCLUSIVE)),
        order=alt.Order("stack_order:Q"),
        tooltip=["group", "component", alt.Tooltip("mean_share:Q", format=".1%"), alt.Tooltip("mean_s:Q", format=".3f")],
    ).properties(
        title="End-to-end latency breakdown per request", width=480)


def report(ts: TraceSet) -> Report:
    res = breakdown(ts)
    return Report("breakdown", ts.describe(), [Section("summary", "Latency breakdown per request", res.summary)],
                  res.notes, chart=lambda: _chart(res.summary),
                  data={"llm_calls": res.llm_calls, "server_timed_calls": res.server_timed_calls})
