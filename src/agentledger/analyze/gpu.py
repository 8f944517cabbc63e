"""`analyze gpu`: GPU time by what the run was doing, and the idle time spent waiting on tools
(Fig. 6 of Kim et al. 2025). Definitions: SPEC.md section 11.13.

Every instant of a trace's run window falls in one *activity*, the first that applies:
``prefill`` (a call is in server prefill), ``decode`` (a call is decoding), ``llm_other``
(an LLM call is in flight outside those: server queue, network, or a call without server
timings), ``tool_wait`` (no LLM call, a tool call runs) and ``no_call``. How busy the GPU
was in each comes from ``gpu_sample`` utilization when the trace has it, else from the
engine timings alone (busy exactly during prefill and decode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..errors import TraceError, UsageError
from .load import TraceSet
from .output import Report, Section

__all__ = ["ACTIVITIES", "SOURCES", "Gpu", "phase_bounds", "activity_segments", "gpu_stats", "report"]

ACTIVITIES = ("prefill", "decode", "llm_other", "tool_wait", "no_call")
SOURCES = ("auto", "gpu_sample", "engine")
_SERVER = ("server_queue_ns", "server_prefill_ns", "server_decode_ns")
_GPU_COLS = ["gpu_index", "start_ns", "gpu_util_pct", "gpu_power_w"]


@dataclass
class Gpu:
    summary: pl.DataFrame  # per group: method, time, busy/idle, utilization, idle during tool waits
    activity: pl.DataFrame  # per group and activity: time, share, busy/idle, utilization, power
    methods: dict[str, str]  # trace path -> gpu_sample or engine
    notes: list[str] = field(default_factory=list)


def phase_bounds() -> list[pl.Expr]:
    """Where a call's server phases lie in its interval: queue from ``start_ns`` to
    ``prefill_start_ns``, prefill to ``decode_start_ns``, decode to ``decode_end_ns``. The
    server's durations are laid end to end from the call's start, scaled down to fit the call
    when they add up to more (as in breakdown); null without all three timings."""
    s, dur = pl.col("start_ns"), (pl.col("end_ns") - pl.col("start_ns")).cast(pl.Float64)
    q, p, d = (pl.col(c).cast(pl.Float64) for c in _SERVER)
    has = pl.all_horizontal(pl.col(c).is_not_null() for c in _SERVER)
    fit = pl.when(q + p + d > dur).then(dur / (q + p + d)).otherwise(1.0)
    at = [pl.when(has).then(s + (x * fit).round().cast(pl.Int64)) for x in (q, q + p, q + p + d)]
    return [at[0].alias("prefill_start_ns"), at[1].alias("decode_start_ns"), at[2].alias("decode_end_ns")]


def activity_segments(key: np.ndarray, start: np.ndarray, end: np.ndarray, label: np.ndarray,
                      lo: np.ndarray, hi: np.ndarray, n_labels: int) -> dict[str, np.ndarray]:
    """Split each key's window ``[lo[k], hi[k])`` into segments labelled by the smallest label of
    the intervals covering them (``n_labels`` where none does). Intervals are clipped to their
    key's window. Returns arrays ``key``, ``start``, ``end``, ``label`` sorted by key and time."""
    s, e = np.maximum(start, lo[key]), np.minimum(end, hi[key])
    ok = e > s
    key, s, e, label = key[ok], s[ok], e[ok], label[ok]
    keys = np.arange(len(lo))
    k = np.concatenate([key, key, keys, keys])
    t = np.concatenate([s, e, lo, hi])
    delta = np.zeros((len(t), n_labels), np.int32)
    n = len(key)
    delta[np.arange(n), label] = 1
    delta[n + np.arange(n), label] = -1
    order = np.lexsort((t, k))
    k, t = k[order], t[order]
    active = np.cumsum(delta[order], axis=0, dtype=np.int32) > 0
    top = np.argmax(np.hstack([active, np.ones((len(t), 1), bool)]), axis=1)
    keep = (k[:-1] == k[1:]) & (t[1:] > t[:-1])
    return {"key": k[:-1][keep], "start": t[:-1][keep], "end": t[1:][keep], "label": top[:-1][keep]}


def _intervals(ts: TraceSet) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Labelled intervals of every trace (prefill 0, decode 1, LLM call 2, tool call 3) and each
    trace's run window (first start to last end of its requests and calls)."""
    ev = ts.scan(("request", "llm_call", "tool_call"), ["kind", "start_ns", "end_ns", *_SERVER]).collect()
    windows = ev.group_by("trace").agg(pl.col("start_ns").min().alias("lo"), pl.col("end_ns").max().alias("hi"))
    calls = ev.filter(pl.col("kind") != "request").with_columns(*phase_bounds())
    parts = [
        calls.filter(pl.col("prefill_start_ns").is_not_null()).select(
            "trace", pl.col("prefill_start_ns").alias("s"), pl.col("decode_start_ns").alias("e"), pl.lit(0).alias("label")),
        calls.filter(pl.col("decode_start_ns").is_not_null()).select(
            "trace", pl.col("decode_start_ns").alias("s"), pl.col("decode_end_ns").alias("e"), pl.lit(1).alias("label")),
        calls.select("trace", pl.col("start_ns").alias("s"), pl.col("end_ns").alias("e"),
                     pl.when(pl.col("kind") == "llm_call").then(2).otherwise(3).alias("label")),
    ]
    return pl.concat([p.cast({"label": pl.Int64}) for p in parts]), windows


def _choose(ts: TraceSet, source: str, samples: pl.DataFrame, timed: set[int]) -> dict[int, str]:
    have = set(samples.filter(pl.col("gpu_util_pct").is_not_null())["trace"].unique().to_list())
    methods = {}
    for t in ts.traces:
        if source in ("auto", "gpu_sample") and t.index in have:
            methods[t.index] = "gpu_sample"
        elif source in ("auto", "engine") and t.index in timed:
            methods[t.index] = "engine"
        else:
            need = {"auto": "gpu_sample events with gpu_util_pct (capture on a machine with an NVIDIA GPU) or llm_call "
                            "server timings (an engine with per-request metrics)",
                    "gpu_sample": "gpu_sample events with gpu_util_pct (capture on a machine with an NVIDIA GPU)",
                    "engine": "llm_call server timings (an engine with per-request metrics)"}[source]
            if ts.events(t).select(pl.len()).collect().item() == 0:
                raise TraceError(f"{t.path}: the trace holds no events (the capture recorded nothing); "
                                 "remove it from the command")
            raise TraceError(f"{t.path}: analyze gpu needs {need}; the trace has none")
    return methods


def _rows(label: np.ndarray, length: np.ndarray, util: np.ndarray, power: np.ndarray) -> np.ndarray:
    """Per activity: time, busy time, power x time (columns), from pieces of known utilization."""
    n = len(ACTIVITIES)
    cols = [np.bincount(label, weights=w, minlength=n) for w in (length, length * util, length * power)]
    return np.stack(cols, axis=1)


def _sample_rows(g: pl.DataFrame, s: np.ndarray, e: np.ndarray, lab: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``_rows`` of one GPU's samples ``g`` over the activity segments ``s``, ``e``, ``lab`` of its
    trace: sample i covers the period since sample i-1 (NVML averages backwards), within ``[lo, hi)``."""
    t_ns = g["start_ns"].to_numpy()
    b_s, b_e = np.maximum(t_ns[:-1], lo), np.minimum(t_ns[1:], hi)
    util, power = g["gpu_util_pct"].to_numpy()[1:] / 100.0, g["gpu_power_w"].fill_null(np.nan).to_numpy()[1:]
    first = np.searchsorted(e, b_s, side="right")  # the first segment each sample period overlaps
    count = np.maximum(np.searchsorted(s, b_e, side="left") - first, 0) * (b_e > b_s)
    pair_b = np.repeat(np.arange(len(b_s)), count)
    pair_a = np.repeat(first, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    over = (np.minimum(e[pair_a], b_e[pair_b]) - np.maximum(s[pair_a], b_s[pair_b])).astype(float)
    return _rows(lab[pair_a], over, util[pair_b], power[pair_b])


def gpu_stats(ts: TraceSet, *, source: str = "auto") -> Gpu:
    """GPU time per activity and group, from GPU samples or engine timings (``source``)."""
    if source not in SOURCES:
        raise UsageError(f"unknown --source value {source!r}; use one of: {', '.join(SOURCES)}")
    intervals, windows = _intervals(ts)
    samples = ts.scan("gpu_sample", _GPU_COLS).collect().sort("trace", "gpu_index", "start_ns")
    timed = set(intervals.filter(pl.col("label") == 0)["trace"].unique().to_list())
    methods = _choose(ts, source, samples, timed)
    spans = dict(zip(windows["trace"].to_list(), zip(windows["lo"].to_list(), windows["hi"].to_list(), strict=True),
                     strict=True))
    for t in ts.traces:  # a trace with samples but no calls: its window is the sampled span
        if t.index not in spans:
            own = samples.filter(pl.col("trace") == t.index)["start_ns"]
            spans[t.index] = (own.min(), own.max())
    idx = sorted(spans)
    lo, hi = (np.array([spans[i][j] for i in idx], np.int64) for j in (0, 1))
    pos = {t: i for i, t in enumerate(idx)}
    seg = activity_segments(intervals["trace"].replace_strict(pos, return_dtype=pl.Int64).to_numpy(),
                            intervals["s"].to_numpy(), intervals["e"].to_numpy(), intervals["label"].to_numpy(),
                            lo, hi, 4)
    totals: dict[int, np.ndarray] = {}
    for t in ts.traces:
        k = pos[t.index]
        mask = seg["key"] == k
        s, e, lab = seg["start"][mask], seg["end"][mask], seg["label"][mask]
        if methods[t.index] == "engine":
            busy = (lab <= 1).astype(float)
            totals[t.index] = _rows(lab, (e - s).astype(float), busy, np.full(len(s), np.nan))
            continue
        acc = np.zeros((len(ACTIVITIES), 3))
        for _, g in samples.filter((pl.col("trace") == t.index) & pl.col("gpu_util_pct").is_not_null()).group_by(
                "gpu_index", maintain_order=True):
            acc += _sample_rows(g, s, e, lab, int(lo[k]), int(hi[k]))
        totals[t.index] = acc
    return _frames(ts, totals, methods)


def _frames(ts: TraceSet, totals: dict[int, np.ndarray], methods: dict[int, str]) -> Gpu:
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    notes: list[str] = []
    for g in ts.groups:
        members = [t for t in ts.traces if t.group == g.label]
        tot: np.ndarray = np.sum([totals[t.index] for t in members], axis=0)
        method = "+".join(dict.fromkeys(methods[t.index] for t in members))
        span = tot[:, 0].sum()
        for a, (time_ns, busy_ns, energy) in zip(ACTIVITIES, tot, strict=True):
            rows.append({"group": g.label, "activity": a, "time_s": time_ns / 1e9, "share": time_ns / span if span else None,
                         "gpu_busy_s": busy_ns / 1e9, "gpu_idle_s": (time_ns - busy_ns) / 1e9,
                         "utilization": busy_ns / time_ns if time_ns else None,
                         "mean_power_w": energy / time_ns if time_ns and np.isfinite(energy) else None})
        busy = tot[:, 1].sum()
        idle_tool = tot[3, 0] - tot[3, 1]
        power = tot[:, 2].sum()
        summary.append({"group": g.label, "method": method, "traces": len(members), "time_s": span / 1e9,
                        "gpu_busy_s": busy / 1e9, "gpu_idle_s": (span - busy) / 1e9,
                        "utilization": busy / span if span else None, "idle_tool_wait_s": idle_tool / 1e9,
                        "idle_tool_wait_share": idle_tool / (span - busy) if span - busy > 0 else None,
                        "mean_power_w": power / span if span and np.isfinite(power) else None})
    for t in ts.traces:
        how = ("GPU utilization from gpu_sample (NVML); times are GPU-seconds summed over GPUs"
               if methods[t.index] == "gpu_sample" else
               "from engine timings: the GPU counts as busy exactly during server prefill and decode")
        notes.append(f"{t.path.name}: {how}")
    enum = pl.Enum(ts.labels)
    return Gpu(pl.DataFrame(summary).cast({"group": enum, "mean_power_w": pl.Float64}),
               pl.DataFrame(rows).cast({"group": enum, "mean_power_w": pl.Float64, "utilization": pl.Float64}),
               {str(t.path): methods[t.index] for t in ts.traces}, notes)


def _chart(activity: pl.DataFrame) -> Any:
    import altair as alt

    data = activity.with_columns(pl.col("group").cast(pl.String),
                                 pl.col("activity").replace_strict({a: i for i, a in enumerate(ACTIVITIES)},
                                                                   return_dtype=pl.Int32).alias("stack_order"))
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("group:N", title=None),
        x=alt.X("share:Q", stack="zero", axis=alt.Axis(format="%"), title="share of run time"),
        color=alt.Color("activity:N", sort=list(ACTIVITIES)),
        order=alt.Order("stack_order:Q"),
        tooltip=["group", "activity", alt.Tooltip("share:Q", format=".1%"), alt.Tooltip("utilization:Q", format=".1%"),
                 alt.Tooltip("gpu_idle_s:Q", format=",.3f")],
    ).properties(title="GPU time by activity", width=480)


def report(ts: TraceSet, *, source: str = "auto") -> Report:
    res = gpu_stats(ts, source=source)
    pct = {"utilization": ".1%", "idle_tool_wait_share": ".1%"}
    return Report("gpu", ts.describe(), [
        Section("summary", "GPU busy and idle time", res.summary, formats=pct,
                headers={"idle_tool_wait_s": "idle_tool_s", "idle_tool_wait_share": "idle_tool_share"}),
        Section("activity", "GPU time by activity", res.activity, formats=pct),
    ], res.notes, chart=lambda: _chart(res.activity), data={"methods": res.methods})
