"""`analyze timeline`: a trace as Chrome/Perfetto trace-event JSON (SPEC.md section 11.16).

Each trace is a process. Each request is an async track (category ``agent``) holding the
request's span and, nested in it, its LLM and tool calls; an LLM call with server timings
holds ``queue``, ``prefill`` and ``decode`` sub-spans. Calls that overlap an earlier call of
their request (parallel tool calls) go on extra tracks of that request, since spans on one
track must nest. GPU power and utilization (per GPU) and the engine's KV-cache usage are
counter tracks. Times are microseconds on the run clock. Open the file in the Perfetto UI
(ui.perfetto.dev) or chrome://tracing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import TraceError, UsageError
from .gpu import phase_bounds
from .load import TraceRef, TraceSet
from .output import Report, Section

__all__ = ["Timeline", "default_out", "trace_events", "write_timeline", "report"]

_CAT = "agent"  # one category for every span of a request track (Perfetto keys async tracks by category and id)
_LLM = ["event_id", "request_id", "start_ns", "end_ns", "role", "iteration", "ok", "prompt_tokens", "completion_tokens",
        "cached_tokens", "finish_reason", "server_queue_ns", "server_prefill_ns", "server_decode_ns"]
_TOOL = ["event_id", "request_id", "start_ns", "end_ns", "tool_name", "iteration", "ok", "tool_backend",
         "tool_output_tokens", "tool_timed_out"]


@dataclass
class Timeline:
    out: Path
    summary: pl.DataFrame  # per trace: requests, calls, spans, counter samples, events written
    notes: list[str] = field(default_factory=list)


def default_out(trace: Path) -> Path:
    """Where the timeline of ``trace`` goes unless told: beside it, ``NAME.timeline.json``."""
    return trace.with_name(trace.stem + ".timeline.json")


def _us(ns: int) -> float:
    return round(ns / 1000, 3)


def _span(pid: int, track: str, name: str, s: int, e: int, depth: int, args: dict[str, Any]) -> list[tuple]:
    """Begin and end of one span, each with its sort key (ends before begins at equal times;
    deeper ends first, shallower begins first)."""
    base = {"cat": _CAT, "name": name, "pid": pid, "id": track}
    return [((s, 1, depth), {**base, "ph": "b", "ts": _us(s), "args": args}),
            ((e, 0, -depth), {**base, "ph": "e", "ts": _us(e)})]


def _clean(row: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {k: row[k] for k in keys if row.get(k) is not None}


def _request_spans(pid: int, req: dict[str, Any], calls: list[dict[str, Any]], counts: dict[str, int]) -> list[tuple]:
    rid, lo, hi = req["request_id"], req["start_ns"], req["end_ns"]
    out = []
    if hi > lo:
        out += _span(pid, f"{pid}.{rid}", f"request {rid} {req['item_id']}", lo, hi, 0,
                     _clean(req, ["item_id", "outcome", "score", "iterations", "ok"]))
        counts["requests"] += "synthetic" not in req
    lanes: list[int] = []  # end of the last span on each lane
    for c in sorted(calls, key=lambda c: (c["start_ns"], c["event_id"])):
        s, e = max(c["start_ns"], lo), min(c["end_ns"], hi)
        if e <= s:
            continue
        lane = next((i for i, end in enumerate(lanes) if end <= s), len(lanes))
        if lane == len(lanes):
            lanes.append(e)
        else:
            lanes[lane] = e
        track = f"{pid}.{rid}" if lane == 0 else f"{pid}.{rid}.{lane}"
        counts["extra_tracks"] = max(counts["extra_tracks"], len(lanes) - 1)
        if "tool_name" in c:
            counts["tool_calls"] += 1
            out += _span(pid, track, f"tool {c['tool_name']}", s, e, 1,
                         _clean(c, ["event_id", "tool_name", "tool_backend", "iteration", "ok", "tool_output_tokens",
                                    "tool_timed_out"]))
            continue
        counts["llm_calls"] += 1
        it = "" if c["iteration"] is None else f" #{c['iteration']}"
        out += _span(pid, track, f"llm {c['role']}{it}", s, e, 1,
                     _clean(c, ["event_id", "role", "iteration", "ok", "prompt_tokens", "completion_tokens",
                                "cached_tokens", "finish_reason"]))
        if c["prefill_start_ns"] is not None:
            bounds = [c["start_ns"], c["prefill_start_ns"], c["decode_start_ns"], c["decode_end_ns"]]
            for name, a, b in zip(("queue", "prefill", "decode"), bounds, bounds[1:], strict=False):
                a, b = max(a, s), min(b, e)
                if b > a:
                    counts["phase_spans"] += 1
                    out += _span(pid, track, name, a, b, 2, {})
    return out


def _counters(pid: int, ts: TraceSet, t: TraceRef) -> list[tuple]:
    out = []
    gpu = ts.events(t).filter(pl.col("kind") == "gpu_sample").select(
        "start_ns", "gpu_index", "gpu_power_w", "gpu_util_pct").sort("start_ns").collect()
    for r in gpu.iter_rows(named=True):
        for name, unit, v in ((f"GPU{r['gpu_index']} power", "W", r["gpu_power_w"]),
                              (f"GPU{r['gpu_index']} utilization", "%", r["gpu_util_pct"])):
            if v is not None:
                out.append(((r["start_ns"], 2, 0), {"ph": "C", "name": name, "pid": pid, "ts": _us(r["start_ns"]),
                                                    "args": {unit: v}}))
    eng = ts.events(t).filter(pl.col("kind") == "engine_sample").select(
        "start_ns", "engine_kv_cache_usage_frac", "engine_running", "engine_waiting").sort("start_ns").collect()
    for r in eng.iter_rows(named=True):
        if r["engine_kv_cache_usage_frac"] is not None:
            out.append(((r["start_ns"], 2, 0), {"ph": "C", "name": "KV cache usage", "pid": pid, "ts": _us(r["start_ns"]),
                                                "args": {"%": round(100 * r["engine_kv_cache_usage_frac"], 4)}}))
        queue = {k: r[f"engine_{k}"] for k in ("running", "waiting") if r[f"engine_{k}"] is not None}
        if queue:
            out.append(((r["start_ns"], 2, 0), {"ph": "C", "name": "engine requests", "pid": pid,
                                                "ts": _us(r["start_ns"]), "args": queue}))
    return out


def trace_events(ts: TraceSet, t: TraceRef, counts: dict[str, int]) -> Iterator[dict[str, Any]]:
    """The trace-event dicts of one trace, in timestamp order; ``counts`` is filled in as they are made."""
    pid = t.index + 1
    ev = ts.events(t)
    reqs = ev.filter(pl.col("kind") == "request").select(
        "request_id", "start_ns", "end_ns", "item_id", "outcome", "score", "iterations", "ok").collect()
    llm = ev.filter(pl.col("kind") == "llm_call").select(_LLM).with_columns(*phase_bounds()).collect()
    tool = ev.filter(pl.col("kind") == "tool_call").select(_TOOL).collect()
    by_req: dict[Any, list[dict[str, Any]]] = {}
    for frame in (llm, tool):
        for c in frame.iter_rows(named=True):
            by_req.setdefault(c["request_id"], []).append(c)
    spans = []
    rows = reqs.to_dicts()
    known = set(reqs["request_id"].to_list())
    for rid, calls in by_req.items():  # calls without a request event: a track of their own, spanning them
        if rid not in known:
            counts["unattributed_calls"] += len(calls)
            rows.append({"request_id": "none" if rid is None else rid, "item_id": "(no request event)", "synthetic": True,
                         "start_ns": min(c["start_ns"] for c in calls), "end_ns": max(c["end_ns"] for c in calls)})
    for r in sorted(rows, key=lambda r: (r["start_ns"], str(r["request_id"]))):
        spans += _request_spans(pid, r, by_req.get(None if r["request_id"] == "none" else r["request_id"], []), counts)
    spans += _counters(pid, ts, t)
    counts["counter_samples"] = sum(1 for key, _ in spans if key[1] == 2)
    yield {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": f"{t.path.name} ({t.group})"}}
    yield {"ph": "M", "name": "process_sort_index", "pid": pid, "args": {"sort_index": pid}}
    spans.sort(key=lambda x: x[0])
    for _, e in spans:
        yield e


def write_timeline(ts: TraceSet, out: Path | None = None) -> Timeline:
    """Write every trace of ``ts`` to one trace-event JSON file (``out``, default beside the first trace)."""
    out = out or default_out(ts.traces[0].path)
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist; create it or choose another path")
    for t in ts.traces:
        if ts.events(t).select(pl.len()).collect().item() == 0:
            raise TraceError(f"{t.path}: the trace holds no events (the capture recorded nothing); "
                             "remove it from the command")
    rows: list[dict[str, Any]] = []
    with out.open("w", encoding="utf-8") as f:
        f.write('{"displayTimeUnit": "ms", "otherData": ')
        f.write(json.dumps({"traces": [str(t.path) for t in ts.traces], "run_ids": [t.meta.run_id for t in ts.traces],
                            "clock": "microseconds on each trace's run clock"}))
        f.write(', "traceEvents": [\n')
        first = True
        for t in ts.traces:
            counts = dict.fromkeys(("requests", "llm_calls", "tool_calls", "phase_spans", "extra_tracks",
                                    "unattributed_calls"), 0)
            n = 0
            for e in trace_events(ts, t, counts):
                f.write(("" if first else ",\n") + json.dumps(e, separators=(",", ":")))
                first, n = False, n + 1
            rows.append({"trace": t.path.name, **counts, "events": n})
        f.write("\n]}\n")
    notes = [f"wrote {out}; open it in the Perfetto UI (ui.perfetto.dev, 'Open trace file') or chrome://tracing"]
    lost = sum(int(r["unattributed_calls"]) for r in rows)
    if lost:
        notes.append(f"{lost:,} calls name no request event of their trace; they are on tracks of their own, "
                     "one per request_id, named '(no request event)'")
    return Timeline(out, pl.DataFrame(rows), notes)


def report(ts: TraceSet, *, out: Path | None = None) -> Report:
    res = write_timeline(ts, out)
    return Report("timeline", ts.describe(), [Section("summary", "Timeline written", res.summary)], res.notes,
                  data={"out": str(res.out)})
