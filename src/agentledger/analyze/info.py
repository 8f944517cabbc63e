"""`analyze info`: what a trace is, in one summary."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import polars as pl

from ..traceformat import KINDS, Trace, read_trace

__all__ = ["trace_info", "TraceInfo"]

TraceInfo = dict[str, Any]


def _utc(ns: int | None) -> str | None:
    if ns is None:
        return None
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).isoformat(timespec="milliseconds")


def trace_info(path: str | os.PathLike[str], trace: Trace | None = None) -> TraceInfo:
    """Version, run configuration, events per kind, time span and size of a trace."""
    trace = trace or read_trace(path)
    df = pl.from_arrow(trace.table.select(["kind", "start_ns", "end_ns"]))
    counts = {k: 0 for k in KINDS}
    for kind, n in df.group_by("kind").len().iter_rows():
        counts[kind] = n
    span = df.select(pl.col("start_ns").min().alias("first"), pl.col("end_ns").max().alias("last")).row(0, named=True)
    first, last = span["first"], span["last"]
    origin = trace.meta.clock_origin_wall_ns
    meta = trace.meta
    return {
        "path": str(Path(path)),
        "size_bytes": Path(path).stat().st_size,
        "format_version": f"{trace.version[0]}.{trace.version[1]}",
        "complete": trace.complete,
        "batches": trace.batches,
        "run_id": meta.run_id,
        "created_utc": _utc(meta.created_wall_ns or None),
        "producer": meta.producer,
        "config": meta.config,
        "host": meta.host,
        "gpus": meta.gpus,
        "block_size_tokens": meta.block_size_tokens,
        "text_payloads": meta.text_payloads,
        "events": int(df.height),
        "events_per_kind": counts,
        "first_start_ns": first,
        "last_end_ns": last,
        "duration_s": None if first is None else (last - first) / 1e9,
        "start_utc": None if first is None else _utc(origin + first),
        "end_utc": None if last is None else _utc(origin + last),
    }
