"""`analyze prefix`: prompt prefix overlap and what a prefix cache could serve (Fig. 9 of Kim et al. 2025).

From each llm_call's chained block hashes (SPEC.md sections 6 and 11.14): the leading blocks a
call shares with its request's previous call, with earlier calls of other requests, with an
infinite cache and with an LRU cache of ``capacity`` blocks, which also hold the blocks of
earlier calls' outputs (``output_block_hashes``, inserted when a call ends); the cached
tokens each model predicts under vLLM's rules (full blocks only, the last prompt token
always recomputed) against the ``cached_tokens`` the engine reported; and prefill time with vs. without prefix
caching when traces of both are given. The cache simulation is in :mod:`.lru`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..errors import TraceError, UsageError
from ..traceformat.hashing import DEFAULT_BLOCK_SIZE
from .load import TraceRef, TraceSet
from .lru import CacheHits, CallBlocks, coarsen_with_output, consecutive_overlap, schedule, simulate
from .output import Report, Section

__all__ = ["MODELS", "Prefix", "trace_block_size", "prefix_calls", "prefix_stats", "report"]

MODELS = ("ideal", "lru")
_HEADERS = {"prompt_tokens": "prompt tok", "block_size_tokens": "block", "capacity_blocks": "capacity",
            "consecutive_overlap_share": "consecutive", "cross_request_overlap_share": "cross-request",
            "ideal_hit_rate": "ideal hit", "lru_hit_rate": "LRU hit", "reported_hit_rate": "reported hit",
            "mean_prefill_s": "prefill_s", "predicted_tokens": "predicted", "reported_tokens": "reported",
            "agreement_rate": "agree", "mean_abs_error_tokens": "mean |err|", "max_abs_error_tokens": "max |err|"}
_COLS = ["event_id", "request_id", "start_ns", "end_ns", "prompt_tokens", "cached_tokens", "server_prefill_ns",
         "client_ttft_ns", "prompt_block_hashes", "output_block_hashes"]


@dataclass
class Prefix:
    per_call: pl.DataFrame  # one row per llm_call (see prefix_calls)
    summary: pl.DataFrame  # per group: overlap shares, hit rates of each model and reported
    agreement: pl.DataFrame  # per group and model: predicted vs. reported cached tokens
    caching: pl.DataFrame  # pairs of groups with vs. without prefix caching: prefill time
    notes: list[str] = field(default_factory=list)


def trace_block_size(trace: TraceRef, notes: list[str] | None = None) -> int:
    """Token block size of the trace's hashes (metadata; 16 where the producer did not record it)."""
    bs = trace.meta.block_size_tokens
    if bs is None and notes is not None:
        notes.append(f"{trace.path}: no block_size_tokens in the metadata; assuming {DEFAULT_BLOCK_SIZE}")
    return int(bs or DEFAULT_BLOCK_SIZE)


def _flags(trace: TraceRef) -> dict[str, Any]:
    return dict((trace.meta.config.get("engine") or {}).get("flags") or {})


def _plan(trace: TraceRef, block_size: int | None, capacity: int | None, notes: list[str]) -> tuple[int, int, int | None]:
    """(block size used, merge factor, capacity in blocks) for one trace."""
    base = trace_block_size(trace, notes)
    size = block_size or base
    if size % base:
        raise UsageError(f"--block-size {size} is not a multiple of {trace.path}'s block size {base}: hashes can only "
                         f"be merged into larger blocks; use a multiple of {base}")
    if capacity is None and _flags(trace).get("num_gpu_blocks") is not None:
        capacity = int(_flags(trace)["num_gpu_blocks"])  # the engine's own block count, if the capture recorded it
    return size, size // base, capacity


def _hashes(col: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Flat uint64 hashes and per-call offsets of a list column (null lists hold no blocks)."""
    arr = col.to_arrow()
    lens = col.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = np.asarray(arr.flatten().to_numpy(zero_copy_only=False), dtype=np.uint64)
    return flat, np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)


def _hits(prompt: CallBlocks, output: CallBlocks, requests: np.ndarray, start_ns: np.ndarray, end_ns: np.ndarray,
          capacity: int | None) -> CacheHits:
    """Cache hits of each call's prompt, the caches also fed with the calls' output blocks at their ends."""
    if not len(output.hashes):
        return simulate(prompt, requests, capacity)
    segments, call, at = schedule(prompt, output, start_ns, end_ns)
    h = simulate(segments, requests[call], capacity)
    return CacheHits(h.ideal[at], None if h.lru is None else h.lru[at], h.cross_request[at])


def prefix_calls(ts: TraceSet, *, capacity_blocks: int | None = None, block_size: int | None = None,
                 notes: list[str] | None = None) -> pl.DataFrame:
    """Per llm_call, in start order per trace: its blocks and the leading blocks it shares
    (``consecutive_blocks``, ``cross_request_blocks``), cached under the ideal and LRU caches
    (``*_blocks``) and as predicted cached tokens (``*_tokens``), beside ``cached_tokens``."""
    notes = notes if notes is not None else []
    if capacity_blocks is not None and capacity_blocks < 0:
        raise UsageError(f"--capacity-blocks {capacity_blocks} is negative; give the cache size in blocks (>= 0)")
    if block_size is not None and block_size <= 0:
        raise UsageError(f"--block-size {block_size} must be a positive number of tokens")
    llm = ts.scan("llm_call", _COLS).collect()
    ts.require(llm, "llm_call", "prefix", "LLM calls with prompt_block_hashes")
    llm = llm.sort("trace", "start_ns", "event_id").with_row_index("_i")
    pred = llm.select(pl.when(pl.col("request_id").is_not_null())
                      .then(pl.col("_i").shift(1).over("trace", "request_id")).alias("p"))["p"]
    flat, offsets = _hashes(llm["prompt_block_hashes"])
    out_flat, out_offsets = _hashes(llm["output_block_hashes"])
    starts, ends = llm["start_ns"].to_numpy(), llm["end_ns"].to_numpy()
    req = llm["request_id"].fill_null(-1 - llm["_i"].cast(pl.Int64)).to_numpy()
    traces = llm["trace"].to_numpy()
    parts = []
    for t in ts.traces:
        lo, hi = np.searchsorted(traces, [t.index, t.index + 1])
        if offsets[hi] == offsets[lo]:
            raise TraceError(f"{t.path}: no llm_call has prompt_block_hashes; analyze prefix needs them "
                             "(capture with an engine that returns prompt token ids, e.g. vLLM)")
        size, factor, cap = _plan(t, block_size, capacity_blocks, notes)
        blocks, output = coarsen_with_output(
            CallBlocks(flat[offsets[lo]:offsets[hi]], offsets[lo:hi + 1] - offsets[lo]),
            CallBlocks(out_flat[out_offsets[lo]:out_offsets[hi]], out_offsets[lo:hi + 1] - out_offsets[lo]), factor)
        p = pred[lo:hi].fill_null(lo - 1).to_numpy().astype(np.int64) - lo
        hits = _hits(blocks, output, req[lo:hi], starts[lo:hi], ends[lo:hi], cap)
        parts.append(pl.DataFrame({
            "blocks": blocks.lengths, "output_blocks": output.lengths, "consecutive_blocks": consecutive_overlap(blocks, p),
            "cross_request_blocks": hits.cross_request, "ideal_blocks": hits.ideal,
            "lru_blocks": hits.lru if hits.lru is not None else pl.Series([None] * blocks.calls, dtype=pl.Int64),
            "block_size_tokens": np.full(blocks.calls, size), "capacity_blocks": [cap] * blocks.calls,
            "prefix_caching": [_flags(t).get("prefix_caching")] * blocks.calls,
        }, schema_overrides={"capacity_blocks": pl.Int64, "prefix_caching": pl.Boolean}))
    per = pl.concat([llm.drop("_i", "end_ns", "prompt_block_hashes", "output_block_hashes"), pl.concat(parts)],
                    how="horizontal")
    bs, prompt = pl.col("block_size_tokens"), pl.col("prompt_tokens")
    cap_blocks = pl.when(prompt >= 1).then((prompt - 1) // bs).otherwise(0)  # vLLM recomputes the last token
    per = per.with_columns(
        (pl.when(pl.col(f"{m}_blocks").is_not_null())
         .then(pl.min_horizontal(pl.col(f"{m}_blocks"), pl.coalesce(cap_blocks, pl.col(f"{m}_blocks"))) * bs))
        .alias(f"{m}_tokens") for m in MODELS)
    first = ["group", "trace", "request_id", "event_id", "start_ns", "prompt_tokens", "cached_tokens"]
    return per.select(*first, pl.exclude(first))


def _summary(per: pl.DataFrame) -> pl.DataFrame:
    has_prompt = pl.col("prompt_tokens").is_not_null()
    tokens = pl.col("prompt_tokens").filter(has_prompt).sum()

    def share(expr: pl.Expr) -> pl.Expr:
        return pl.when(tokens > 0).then(expr.filter(has_prompt).sum() / tokens)

    reported = pl.col("cached_tokens").is_not_null() & has_prompt
    return per.group_by("group").agg(
        pl.len().alias("calls"), tokens.alias("prompt_tokens"),
        pl.col("block_size_tokens").max(), pl.col("capacity_blocks").max(),
        share(pl.col("consecutive_blocks") * pl.col("block_size_tokens")).alias("consecutive_overlap_share"),
        share(pl.col("cross_request_blocks") * pl.col("block_size_tokens")).alias("cross_request_overlap_share"),
        share(pl.col("ideal_tokens")).alias("ideal_hit_rate"),
        pl.when(pl.col("lru_tokens").is_not_null().any()).then(share(pl.col("lru_tokens"))).alias("lru_hit_rate"),
        pl.when(reported.any()).then(pl.col("cached_tokens").filter(reported).sum()
                                     / pl.col("prompt_tokens").filter(reported).sum()).alias("reported_hit_rate"),
        (pl.col("server_prefill_ns").mean() / 1e9).alias("mean_prefill_s"),
    ).sort("group")


def _agreement(per: pl.DataFrame) -> pl.DataFrame:
    usable = (pl.col("cached_tokens").is_not_null() & pl.col("prompt_tokens").is_not_null()
              & pl.col("prefix_caching").fill_null(True))
    rows = []
    for m in MODELS:
        pred = pl.col(f"{m}_tokens")
        err = (pred - pl.col("cached_tokens")).abs()
        rows.append(per.filter(usable & pred.is_not_null()).group_by("group").agg(
            pl.lit(m).alias("model"), pl.len().alias("calls"), pred.sum().alias("predicted_tokens"),
            pl.col("cached_tokens").sum().alias("reported_tokens"), (err == 0).mean().alias("agreement_rate"),
            err.mean().alias("mean_abs_error_tokens"), err.max().alias("max_abs_error_tokens")))
    out = pl.concat(rows, how="vertical_relaxed")
    return out.sort("group", pl.col("model").replace_strict({m: i for i, m in enumerate(MODELS)}, return_dtype=pl.Int8))


def _caching(ts: TraceSet, per: pl.DataFrame) -> pl.DataFrame:
    """Pairs of groups whose configurations differ only in prefix caching: prefill time of each."""
    on_off: dict[str, dict[bool, str]] = {}
    for g in ts.groups:
        flags = dict(g.config.get("flags") or {})
        flag = flags.pop("prefix_caching", None)
        flags.pop("num_gpu_blocks", None)  # the cache size is not part of the comparison
        params = {k: v for k, v in (g.config.get("params") or {}).items() if k != "prefix_caching"}
        if isinstance(flag, bool):
            rest = json.dumps({**g.config, "flags": flags, "params": params}, sort_keys=True, default=str)
            on_off.setdefault(rest, {})[flag] = g.label
    stats = per.group_by("group").agg(pl.len().alias("calls"), (pl.col("server_prefill_ns").mean() / 1e9).alias("p"),
                                      (pl.col("client_ttft_ns").mean() / 1e9).alias("t"))
    by = {r["group"]: r for r in stats.to_dicts()}
    rows = []
    for pair in on_off.values():
        if True in pair and False in pair:
            on, off = by[pair[True]], by[pair[False]]
            rows.append({"group_on": pair[True], "group_off": pair[False], "calls_on": on["calls"], "calls_off": off["calls"],
                         "mean_prefill_s_on": on["p"], "mean_prefill_s_off": off["p"],
                         "prefill_speedup": off["p"] / on["p"] if on["p"] and off["p"] is not None else None,
                         "mean_ttft_s_on": on["t"], "mean_ttft_s_off": off["t"]})
    schema = {"group_on": pl.String, "group_off": pl.String, "calls_on": pl.UInt32, "calls_off": pl.UInt32,
              **dict.fromkeys(("mean_prefill_s_on", "mean_prefill_s_off", "prefill_speedup", "mean_ttft_s_on",
                               "mean_ttft_s_off"), pl.Float64)}
    return pl.DataFrame(rows, schema=schema)


def prefix_stats(ts: TraceSet, *, capacity_blocks: int | None = None, block_size: int | None = None) -> Prefix:
    """Prefix overlap, simulated cache hits and their agreement with the engine, per group."""
    notes: list[str] = []
    per = prefix_calls(ts, capacity_blocks=capacity_blocks, block_size=block_size, notes=notes)
    summary, agreement, caching = _summary(per), _agreement(per), _caching(ts, per)
    if per["capacity_blocks"].null_count() == per.height:
        notes.append("no cache capacity: the LRU model is left out (pass --capacity-blocks, the engine's KV blocks)")
    if per["cached_tokens"].null_count() == per.height:
        notes.append("the engine reported no cached_tokens; predictions are not compared")
    if per.filter(pl.col("prefix_caching") == False).height:  # noqa: E712 - polars expression
        notes.append("calls served without prefix caching are left out of the agreement")
    if not caching.height:
        notes.append("prefill with vs. without prefix caching needs traces of both (capture --no-prefix-caching)")
    return Prefix(per, summary, agreement, caching, notes)


def _chart(summary: pl.DataFrame) -> Any:
    import altair as alt

    names = {"consecutive_overlap_share": "consecutive overlap", "cross_request_overlap_share": "cross-request overlap",
             "ideal_hit_rate": "ideal cache", "lru_hit_rate": "LRU cache", "reported_hit_rate": "reported by engine"}
    data = summary.with_columns(pl.col("group").cast(pl.String)).unpivot(
        index="group", on=list(names), variable_name="measure", value_name="share").drop_nulls("share")
    data = data.with_columns(pl.col("measure").replace_strict(names))
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("share:Q", axis=alt.Axis(format="%"), title="share of prompt tokens"),
        y=alt.Y("measure:N", sort=list(names.values()), title=None),
        color=alt.Color("measure:N", sort=list(names.values()), legend=None),
        row=alt.Row("group:N", title=None),
        tooltip=["group", "measure", alt.Tooltip("share:Q", format=".1%")],
    ).properties(title="Prompt prefix overlap and prefix-cache hit rates", width=360)


def report(ts: TraceSet, *, capacity_blocks: int | None = None, block_size: int | None = None) -> Report:
    res = prefix_stats(ts, capacity_blocks=capacity_blocks, block_size=block_size)
    per = res.per_call.with_columns(pl.col("group").cast(pl.String)).drop("server_prefill_ns", "client_ttft_ns")
    pct = {c: ".1%" for c in res.summary.columns if c.endswith(("_share", "_rate"))}
    return Report("prefix", ts.describe(), [
        Section("summary", "Prefix overlap and cache hit rates (shares of prompt tokens)", res.summary, formats=pct,
                headers=_HEADERS),
        Section("agreement", "Predicted vs. engine-reported cached tokens", res.agreement,
                formats={"agreement_rate": ".1%"}, headers=_HEADERS),
        Section("caching", "Prefill time with vs. without prefix caching", res.caching, table=res.caching.height > 0),
        Section("per_call", "Per LLM call", per, table=False),
    ], res.notes, chart=lambda: _chart(res.summary),
        data={"calls": res.per_call.height, "blocks": int(res.per_call["blocks"].sum())})
