"""`analyze memory`: KV-cache memory per request and over time, with vs. without prefix caching
(Fig. 12 of Kim et al. 2025). Definitions: SPEC.md section 11.15.

Two sources. The engine's own samples (``engine_kv_cache_usage_frac``) give the usage it
reported. The token model rebuilds the footprint from the calls: an LLM call holds the KV
blocks of its prompt and completion while it is in flight; without prefix caching every call
holds its own, with it the prompt's full blocks are held once however many concurrent calls
share them (same chained hash). Tokens become bytes through the model's KV bytes per token:
``2 (K and V) x layers x KV heads x head dim x dtype bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..errors import TraceError, UsageError
from .intervals import merge_intervals
from .load import TraceSet
from .output import Report, Section
from .prefix import trace_block_size
from .stats import quantile

__all__ = ["MODES", "Memory", "kv_bytes_per_token", "step_profile", "memory_stats", "report"]

MODES = ("without_prefix_caching", "with_prefix_caching")


@dataclass
class Memory:
    summary: pl.DataFrame  # per group and mode: mean and max KV tokens (and bytes) over time
    per_request: pl.DataFrame  # per group: KV footprint per request
    engine: pl.DataFrame  # per group: engine-reported KV-cache usage
    bytes_per_token: int | None
    notes: list[str] = field(default_factory=list)


def kv_bytes_per_token(bytes_per_token: int | None = None, *, layers: int | None = None, kv_heads: int | None = None,
                       head_dim: int | None = None, dtype_bytes: int = 2) -> int | None:
    """KV-cache bytes per token: given, or ``2 x layers x kv_heads x head_dim x dtype_bytes``
    (SmolLM2-135M: 2 x 30 x 3 x 64 x 2 = 23,040); None when neither is given."""
    model = {"--layers": layers, "--kv-heads": kv_heads, "--head-dim": head_dim}
    if bytes_per_token is not None:
        if bytes_per_token <= 0:
            raise UsageError(f"--bytes-per-token {bytes_per_token} must be positive")
        return bytes_per_token
    given = {k: v for k, v in model.items() if v is not None}
    if not given:
        return None
    if len(given) < 3:
        missing = ", ".join(k for k in model if k not in given)
        raise UsageError(f"KV bytes per token need --layers, --kv-heads and --head-dim together; also give {missing}")
    if min(*given.values(), dtype_bytes) <= 0:
        raise UsageError("--layers, --kv-heads, --head-dim and --dtype-bytes must be positive")
    return 2 * int(layers) * int(kv_heads) * int(head_dim) * dtype_bytes  # type: ignore[arg-type]


def step_profile(key: np.ndarray, start: np.ndarray, end: np.ndarray, weight: np.ndarray, n_keys: int) -> pl.DataFrame:
    """The sum of ``weight`` over each key's intervals in flight, as a step function of time:
    per key ``0 .. n_keys-1`` its ``area`` (level x time) and ``peak`` (0 without intervals)."""
    ok = end > start
    k = np.concatenate([key[ok], key[ok]])
    t = np.concatenate([start[ok], end[ok]])
    delta = np.concatenate([weight[ok], -weight[ok]]).astype(np.float64)
    order = np.lexsort((t, k))
    k, t, level = k[order], t[order], np.cumsum(delta[order])
    length = np.where(k[1:] == k[:-1], t[1:] - t[:-1], 0)  # each key's intervals net to zero
    steps = pl.DataFrame({"key": k[:-1], "level": level[:-1], "length": length}).filter(pl.col("length") > 0)
    out = steps.group_by("key").agg((pl.col("level") * pl.col("length")).sum().alias("area"),
                                    pl.col("level").max().alias("peak"))
    full = pl.DataFrame({"key": np.arange(n_keys, dtype=np.int64)})
    return full.join(out.cast({"key": pl.Int64}), on="key", how="left").fill_null(0.0)


def _calls(ts: TraceSet, notes: list[str]) -> pl.DataFrame:
    cols = ["request_id", "start_ns", "end_ns", "prompt_tokens", "completion_tokens", "prompt_block_hashes"]
    llm = ts.scan("llm_call", cols).collect()
    ts.require(llm, "llm_call", "memory", "LLM calls with prompt_tokens")
    sizes = {t.index: trace_block_size(t, notes) for t in ts.traces}
    llm = llm.with_columns(pl.col("trace").replace_strict(sizes, return_dtype=pl.Int64).alias("bs"),
                           pl.col("prompt_block_hashes").list.len().fill_null(0).alias("shared_blocks"))
    for t in ts.traces:
        if llm.filter((pl.col("trace") == t.index) & pl.col("prompt_tokens").is_not_null()).height == 0:
            raise TraceError(f"{t.path}: no llm_call has prompt_tokens (the server reported no usage); "
                             "analyze memory needs token counts")
    tokens = pl.col("prompt_tokens") + pl.col("completion_tokens").fill_null(0)
    blocks = (tokens + pl.col("bs") - 1) // pl.col("bs")  # the engine allocates whole blocks
    return llm.filter(pl.col("prompt_tokens").is_not_null()).with_columns(
        (blocks * pl.col("bs")).alias("kv_tokens"),
        ((blocks - pl.col("shared_blocks")).clip(0) * pl.col("bs")).alias("private_tokens"))


def _over_time(ts: TraceSet, calls: pl.DataFrame) -> pl.DataFrame:
    """Per trace: area and peak of KV tokens in flight without and with prefix caching, and its window."""
    n = len(ts.traces)
    tr, s, e = calls["trace"].to_numpy().astype(np.int64), calls["start_ns"].to_numpy(), calls["end_ns"].to_numpy()
    without = step_profile(tr, s, e, calls["kv_tokens"].to_numpy(), n)
    shared = merge_intervals(calls.lazy().select("trace", "bs", "start_ns", "end_ns", "prompt_block_hashes")
                             .explode("prompt_block_hashes").drop_nulls("prompt_block_hashes")
                             .rename({"prompt_block_hashes": "h"}), ["trace", "bs", "h"]).collect()
    with_ = step_profile(np.concatenate([tr, shared["trace"].to_numpy().astype(np.int64)]),
                         np.concatenate([s, shared["start_ns"].to_numpy()]), np.concatenate([e, shared["end_ns"].to_numpy()]),
                         np.concatenate([calls["private_tokens"].to_numpy(), shared["bs"].to_numpy()]), n)
    win = ts.scan(("request", "llm_call", "tool_call"), ["start_ns", "end_ns"]).group_by("trace").agg(
        (pl.col("end_ns").max() - pl.col("start_ns").min()).alias("window_ns")).collect()
    span = dict(zip(win["trace"].to_list(), win["window_ns"].to_list(), strict=True))
    return pl.DataFrame({
        "trace": np.arange(n), "group": [t.group for t in ts.traces], "window_ns": [span.get(i, 0) for i in range(n)],
        "area_without": without["area"], "peak_without": without["peak"], "area_with": with_["area"],
        "peak_with": with_["peak"]}).cast({"group": pl.Enum(ts.labels)})


def _per_request(calls: pl.DataFrame, ts: TraceSet) -> pl.DataFrame:
    req = ts.scan("request", ["request_id", "start_ns", "end_ns"]).collect().with_row_index("rk")
    own = calls.join(req.select("trace", "request_id", "rk"), on=["trace", "request_id"], how="inner")
    prof = step_profile(own["rk"].to_numpy().astype(np.int64), own["start_ns"].to_numpy(), own["end_ns"].to_numpy(),
                        own["kv_tokens"].to_numpy(), req.height)
    dur = (req["end_ns"] - req["start_ns"]).to_numpy().astype(np.float64)
    area = prof["area"].to_numpy()
    mean = np.divide(area, dur, out=np.zeros_like(area), where=dur > 0)
    per = req.select("group").with_columns(peak=prof["peak"], mean=pl.Series(mean))
    return per.group_by("group").agg(
        pl.len().alias("requests"), pl.col("peak").mean().alias("mean_peak_kv_tokens"),
        quantile("peak", 0.95).alias("p95_peak_kv_tokens"), pl.col("peak").max().alias("max_peak_kv_tokens"),
        pl.col("mean").mean().alias("mean_kv_tokens")).sort("group")


def _engine(ts: TraceSet, capacity_blocks: int | None, bpt: int | None) -> pl.DataFrame:
    es = ts.scan("engine_sample", ["engine_kv_cache_usage_frac"]).collect().drop_nulls("engine_kv_cache_usage_frac")
    cap_bytes = {}
    for t in ts.traces:  # capacity: the option, else the engine's block count where the capture recorded it
        blocks = capacity_blocks or ((t.meta.config.get("engine") or {}).get("flags") or {}).get("num_gpu_blocks")
        cap_bytes[t.index] = None if blocks is None or bpt is None else int(blocks) * trace_block_size(t) * bpt
    used = pl.col("engine_kv_cache_usage_frac") * pl.col("trace").replace_strict(cap_bytes, return_dtype=pl.Int64)
    return es.group_by("group").agg(
        pl.len().alias("samples"), pl.col("engine_kv_cache_usage_frac").mean().alias("mean_usage_frac"),
        pl.col("engine_kv_cache_usage_frac").max().alias("max_usage_frac"),
        used.mean().alias("mean_used_bytes"), used.max().alias("max_used_bytes")).sort("group")


def memory_stats(ts: TraceSet, *, bytes_per_token: int | None = None, capacity_blocks: int | None = None) -> Memory:
    """KV-cache memory per group: over time with and without prefix caching, per request, and as the engine reported."""
    if capacity_blocks is not None and capacity_blocks <= 0:
        raise UsageError(f"--capacity-blocks {capacity_blocks} must be positive (the engine's KV-cache blocks)")
    notes: list[str] = []
    calls = _calls(ts, notes)
    t = _over_time(ts, calls).group_by("group").agg(pl.col("window_ns").sum(), pl.col("area_without", "area_with").sum(),
                                                  pl.col("peak_without", "peak_with").max()).sort("group")
    b = float(bytes_per_token) if bytes_per_token else None
    summary = pl.concat([t.select("group", pl.lit(mode).alias("mode"),
                                  (pl.col(f"area_{w}") / pl.col("window_ns")).alias("mean_kv_tokens"),
                                  pl.col(f"peak_{w}").alias("max_kv_tokens"))
                         for mode, w in zip(MODES, ("without", "with"), strict=True)]).sort("group", maintain_order=True)
    per_request = _per_request(calls, ts)
    scale = [(pl.col(c) * b if b else pl.lit(None, pl.Float64)).alias(c.replace("tokens", "bytes"))
             for c in ("mean_kv_tokens", "max_kv_tokens")]
    summary = summary.with_columns(scale)
    per_request = per_request.with_columns(
        (pl.col(c) * b if b else pl.lit(None, pl.Float64)).alias(c.replace("tokens", "bytes"))
        for c in ("mean_peak_kv_tokens", "max_peak_kv_tokens"))
    engine = _engine(ts, capacity_blocks, bytes_per_token)
    if b is None:
        notes.append("bytes need the model's KV size: pass --bytes-per-token, or --layers, --kv-heads and --head-dim "
                     "(SmolLM2-135M: 30 layers x 3 KV heads x 64 x 2 (K, V) x 2 bytes (bf16) = 23,040 bytes per token)")
    if not engine.height:
        notes.append("no engine_sample with KV-cache usage: only the token model is shown")
    elif engine["mean_used_bytes"].null_count():
        notes.append("engine usage in bytes needs --capacity-blocks (the engine's KV-cache blocks) and bytes per token")
    return Memory(summary, per_request, engine, bytes_per_token, notes)


def _chart(summary: pl.DataFrame) -> Any:
    import altair as alt

    unit = "bytes" if summary["mean_kv_bytes"].null_count() < summary.height else "tokens"
    data = summary.with_columns(pl.col("group").cast(pl.String)).unpivot(
        index=["group", "mode"], on=[f"mean_kv_{unit}", f"max_kv_{unit}"], variable_name="statistic", value_name="kv")
    data = data.with_columns(pl.col("statistic").str.split("_").list.first())
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("kv:Q", title=f"KV cache ({unit})"), y=alt.Y("mode:N", title=None, sort=list(MODES)),
        color=alt.Color("mode:N", sort=list(MODES), legend=None), row=alt.Row("group:N", title=None),
        column=alt.Column("statistic:N", title=None, sort=["mean", "max"]),
        tooltip=["group", "mode", "statistic", alt.Tooltip("kv:Q", format=",.0f")],
    ).properties(title="KV-cache memory over time, with vs. without prefix caching", width=260)


def report(ts: TraceSet, *, bytes_per_token: int | None = None, capacity_blocks: int | None = None) -> Report:
    res = memory_stats(ts, bytes_per_token=bytes_per_token, capacity_blocks=capacity_blocks)
    return Report("memory", ts.describe(), [
        Section("summary", "KV-cache memory over time (token model)", res.summary),
        Section("per_request", "KV-cache memory per request (token model, without prefix caching)", res.per_request),
        Section("engine", "KV-cache usage reported by the engine", res.engine, table=res.engine.height > 0),
    ], res.notes, chart=lambda: _chart(res.summary), data={"bytes_per_token": res.bytes_per_token})
