"""`analyze energy`: GPU energy per query, per LLM call and per token, and the idle bucket
(Table III of Kim et al. 2025). Definitions: SPEC.md 11.9.

Each GPU's samples give its cumulative energy as a function of time: the driver's energy
counter where every sample has it and it never decreases, else the trapezoid integral of
board power. Between two consecutive instants at which a sample is taken or a request
starts or ends, the energy of all GPUs is split equally between the requests running
then; with none running it is idle energy. Equal splitting makes a request's energy a
difference of one prefix sum, so the whole attribution is a few vectorized numpy passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..errors import TraceError
from .load import TraceRef, TraceSet
from .output import Report, Section
from .stats import quantile

__all__ = ["J_PER_WH", "METHODS", "ATTRIBUTION", "Energy", "gpu_cumulative_j", "attribute", "energy", "report"]

J_PER_WH = 3600.0
METHODS = {"counter": "energy counter", "power": "power integration (trapezoid)"}
ATTRIBUTION = ("each instant's GPU energy is split equally between the requests running then; "
               "energy while none runs is idle")
_GPU_COLS = ["gpu_index", "gpu_energy_j", "gpu_power_w", "gpu_power_avg_w"]
_NEED = ("GPU telemetry with energy or power: capture on a GPU machine with NVML or DCGM sampling "
         "(`capture run ...` on a host with an NVIDIA GPU)")


@dataclass
class Energy:
    per_request: pl.DataFrame  # group, trace, request_id, e2e_s, llm_calls, tokens, energy_j, energy_wh
    summary: pl.DataFrame  # one row per group, see SPEC.md 11.9
    notes: list[str] = field(default_factory=list)


def gpu_cumulative_j(t_ns: np.ndarray, energy_j: np.ndarray, power_w: np.ndarray) -> tuple[np.ndarray, np.ndarray, str] | None:
    """One GPU's sample times and cumulative energy (J, 0 at its first sample), and the method used.

    Inputs are sorted by time; ``energy_j``/``power_w`` hold NaN where missing. The energy
    counter is used when every sample has it and it never decreases; otherwise power is
    integrated with the trapezoid rule over the samples that have it. None: neither works.
    """
    first = np.concatenate([[True], t_ns[1:] != t_ns[:-1]])  # sorted: the first sample of each instant
    t, e, p = t_ns[first], energy_j[first], power_w[first]
    if len(t) >= 2 and not np.isnan(e).any() and (np.diff(e) >= 0).all():
        return t, e - e[0], "counter"
    ok = ~np.isnan(p)
    t, p = t[ok], p[ok]
    if len(t) < 2:
        return None
    steps = (p[1:] + p[:-1]) / 2 * (np.diff(t) / 1e9)
    return t, np.concatenate([[0.0], np.cumsum(steps)]), "power"


def attribute(curves: list[tuple[np.ndarray, np.ndarray]], start_ns: np.ndarray,
              end_ns: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Energy (J) of each request ``[start_ns, end_ns)``, the idle energy and the total energy.

    ``curves`` are the GPUs' (times, cumulative J). Energy outside a GPU's first and last
    sample is unknown and counts nowhere.
    """
    times = [t for t, _ in curves]
    b = np.sort(np.concatenate([start_ns, end_ns, *times]))
    b = b[np.concatenate([[True], b[1:] != b[:-1]])]  # distinct instants (np.unique hashes: slower here)
    g = np.zeros(len(b))
    for t, f in curves:
        g += np.interp(b, t, f)  # constant outside the samples: no energy there
    de = np.diff(g)
    i_s, i_e = np.searchsorted(b, start_ns), np.searchsorted(b, end_ns)
    running = np.cumsum(np.bincount(i_s, minlength=len(b)) - np.bincount(i_e, minlength=len(b)))[:-1]
    share = np.divide(de, running, out=np.zeros_like(de), where=running > 0)
    prefix = np.concatenate([[0.0], np.cumsum(share)])
    per_request = prefix[i_e] - prefix[i_s]
    return per_request, float(de[running == 0].sum()), float(g[-1] - g[0])


def _curves(samples: pl.DataFrame) -> tuple[list[tuple[np.ndarray, np.ndarray]], set[str], int]:
    curves, methods, unusable = [], set(), 0
    for gpu in samples.partition_by("gpu_index", maintain_order=True):
        gpu = gpu.sort("start_ns", maintain_order=True)
        power = gpu["gpu_power_w"].fill_null(gpu["gpu_power_avg_w"])
        res = gpu_cumulative_j(gpu["start_ns"].to_numpy(), gpu["gpu_energy_j"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
                               power.cast(pl.Float64).fill_null(np.nan).to_numpy())
        if res is None:
            unusable += 1
            continue
        curves.append(res[:2])
        methods.add(res[2])
    return curves, methods, unusable


def _trace_energy(t: TraceRef, req: pl.DataFrame, samples: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
    curves, methods, unusable = _curves(samples)
    if not curves:
        raise TraceError(f"{t.path}: gpu_sample events carry neither gpu_energy_j nor gpu_power_w (two samples per GPU "
                         f"at least); analyze energy needs {_NEED}")
    s, e = req["start_ns"].to_numpy(), req["end_ns"].to_numpy()
    per, idle, total = attribute(curves, s, e)
    lo, hi = min(c[0][0] for c in curves), max(c[0][-1] for c in curves)
    covered = np.clip(np.minimum(e, hi) - np.maximum(s, lo), 0, None).sum()
    span = (e - s).sum()
    stats = {"trace": t.index, "idle_j": idle, "total_j": total, "gpus": len(curves), "methods": methods,
             "unusable_gpus": unusable, "covered_ns": float(covered), "request_ns": float(span)}
    return req.with_columns(pl.Series("energy_j", per)), stats


def _method(methods: set[str]) -> str:
    return " + ".join(METHODS[m] for m in METHODS if m in methods)


def energy(ts: TraceSet) -> Energy:
    """Energy of every request and the per-group summary (SPEC.md 11.9)."""
    events = ts.scan(("request", "llm_call", "gpu_sample"), ["kind", "request_id", "start_ns", "end_ns",
                                                              "prompt_tokens", "completion_tokens", *_GPU_COLS]).collect()
    samples = events.filter(pl.col("kind") == "gpu_sample")
    ts.require(samples, "gpu_sample", "energy", _NEED)
    req = events.filter(pl.col("kind") == "request").select("group", "trace", "request_id", "start_ns", "end_ns")
    ts.require(req, "request", "energy", "request events (finished agent tasks)")
    calls = (events.filter(pl.col("kind") == "llm_call").group_by("trace", "request_id")
             .agg(pl.len().alias("llm_calls"),
                  (pl.col("prompt_tokens").fill_null(0).cast(pl.Int64)
                   + pl.col("completion_tokens").fill_null(0).cast(pl.Int64)).sum().alias("tokens"),
                  pl.col("completion_tokens").fill_null(0).cast(pl.Int64).sum().alias("output_tokens")))
    parts, stats = [], []
    for t in ts.traces:
        r = req.filter(pl.col("trace") == t.index)
        frame, st = _trace_energy(t, r, samples.filter(pl.col("trace") == t.index))
        parts.append(frame)
        stats.append({**st, "group": t.group})
    per = pl.concat(parts).join(calls, on=["trace", "request_id"], how="left").with_columns(
        pl.col("llm_calls", "tokens", "output_tokens").fill_null(0))
    per = per.select("group", "trace", "request_id", ((pl.col("end_ns") - pl.col("start_ns")) / 1e9).alias("e2e_s"),
                     "llm_calls", "tokens", "output_tokens", "energy_j",
                     (pl.col("energy_j") / J_PER_WH).alias("energy_wh")).sort("group", "trace", "request_id")
    return Energy(per, _summary(per, stats), _notes(ts, stats))


def _summary(per: pl.DataFrame, stats: list[dict[str, Any]]) -> pl.DataFrame:
    wh = "energy_wh"
    req = per.group_by("group").agg(
        pl.len().alias("requests"), pl.col("llm_calls").sum(), pl.col("tokens").sum(),
        (pl.col("energy_j").sum() / J_PER_WH).alias("active_wh"),
        pl.col(wh).mean().alias("wh_per_request"), quantile(wh, 0.5).alias("wh_per_request_p50"),
        quantile(wh, 0.95).alias("wh_per_request_p95"), pl.col(wh).max().alias("wh_per_request_max"),
        pl.col("energy_j").sum().alias("_j"), pl.col("output_tokens").sum().alias("_out"))
    by_group: dict[str, dict[str, Any]] = {}
    for st in stats:
        g = by_group.setdefault(st["group"], {"idle_j": 0.0, "total_j": 0.0, "gpus": 0, "methods": set()})
        g["idle_j"] += st["idle_j"]
        g["total_j"] += st["total_j"]
        g["gpus"] = max(g["gpus"], st["gpus"])
        g["methods"] |= st["methods"]
    side = pl.DataFrame({
        "group": list(by_group), "total_wh": [v["total_j"] / J_PER_WH for v in by_group.values()],
        "idle_wh": [v["idle_j"] / J_PER_WH for v in by_group.values()],
        "gpus": [v["gpus"] for v in by_group.values()], "method": [_method(v["methods"]) for v in by_group.values()],
    }).with_columns(pl.col("group").cast(per.schema["group"]))
    out = req.join(side, on="group").with_columns(
        pl.when(pl.col("total_wh") > 0).then(pl.col("idle_wh") / pl.col("total_wh")).alias("idle_share"),
        (pl.col("total_wh") / pl.col("requests")).alias("run_wh_per_request"),
        pl.when(pl.col("llm_calls") > 0).then(pl.col("_j") / pl.col("llm_calls")).alias("j_per_llm_call"),
        pl.when(pl.col("tokens") > 0).then(pl.col("_j") / pl.col("tokens")).alias("j_per_token"),
        pl.when(pl.col("_out") > 0).then(pl.col("_j") / pl.col("_out")).alias("j_per_output_token"),
    )
    return out.sort("group").select(
        "group", "requests", "wh_per_request", "wh_per_request_p50", "wh_per_request_p95", "wh_per_request_max",
        "run_wh_per_request", "j_per_llm_call", "j_per_token", "j_per_output_token", "active_wh", "idle_wh",
        "idle_share", "total_wh", "llm_calls", "tokens", "gpus", "method")


def _notes(ts: TraceSet, stats: list[dict[str, Any]]) -> list[str]:
    notes = []
    for st in stats:
        path = ts.traces[st["trace"]].path
        if st["unusable_gpus"]:
            notes.append(f"{path}: {st['unusable_gpus']} GPU(s) without usable energy or power samples were left out")
        if st["request_ns"] > 0 and st["covered_ns"] < 0.99 * st["request_ns"]:
            frac = 1 - st["covered_ns"] / st["request_ns"]
            notes.append(f"{path}: {frac:.1%} of request time lies outside the GPU samples and counts no energy")
    return notes


_PER_QUERY = ("wh_per_request", "wh_per_request_p95", "run_wh_per_request", "j_per_llm_call", "j_per_token",
              "j_per_output_token")
_SHORT = {"wh_per_request": "Wh/request", "wh_per_request_p50": "Wh/req p50", "wh_per_request_p95": "Wh/req p95",
          "wh_per_request_max": "Wh/req max", "run_wh_per_request": "run Wh/req", "j_per_llm_call": "J/LLM call",
          "j_per_token": "J/token", "j_per_output_token": "J/output token"}


def _chart(summary: pl.DataFrame) -> Any:
    import altair as alt

    data = summary.select(pl.col("group").cast(pl.String), (pl.col("active_wh") / pl.col("requests")).alias("requests"),
                          (pl.col("idle_wh") / pl.col("requests")).alias("idle"))
    data = data.unpivot(index="group", variable_name="bucket", value_name="wh_per_request")
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("group:N", title=None), x=alt.X("wh_per_request:Q", stack="zero", title="GPU energy per request (Wh)"),
        color=alt.Color("bucket:N", sort=["requests", "idle"]),
        tooltip=["group", "bucket", alt.Tooltip("wh_per_request:Q", format=".4g")],
    ).properties(title="GPU energy per request: attributed and idle", width=480)


def report(ts: TraceSet) -> Report:
    res = energy(ts)
    fmt = {c: ".4g" for c in res.summary.columns if "wh" in c or c.startswith("j_")}
    per_query = res.summary.select("group", "requests", *_PER_QUERY, "idle_share", "method")
    totals = res.summary.select("group", *(c for c in res.summary.columns if c not in (*_PER_QUERY, "idle_share", "method", "group")))
    return Report("energy", ts.describe(), [
        Section("summary", "GPU energy per request, LLM call and token", per_query, formats=fmt, headers=_SHORT),
        Section("totals", "GPU energy totals", totals, formats=fmt, headers=_SHORT),
    ], res.notes, chart=lambda: _chart(res.summary), data={"attribution": ATTRIBUTION})
