"""Trace-format benchmark: write rate, scan speed and size, each measured side by side.

    python benchmarks/bench_traceformat.py            # full: 1 M writes, 10 M-event scan
    python benchmarks/bench_traceformat.py --quick    # smaller, for a smoke run

Prints three ratios (targets from the foundation issue):
  1. events/s written by TraceWriter vs. a plain per-column-list recorder   (target >= 1,000,000/s)
  2. lazy polars scan of one kind out of N events vs. stdlib JSON Lines    (target >= 50x)
  3. bytes per llm_call event vs. JSON Lines (all columns <= 1/4, scalars <= 1/10), and text
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import zstandard
from rich.console import Console
from rich.table import Table

from agentledger.traceformat import LlmCall, TraceWriter, row_fields, scan_trace
from agentledger.traceformat.hashing import block_hashes, hashes_to_list
from agentledger.traceformat.schema import field_by_name
from agentledger.traceformat.synthetic import SyntheticSpec, agent_events

con = Console(width=max(Console().width, 140))  # the table stays readable when piped to a file


# -- 1. write rate ------------------------------------------------------------------------
class ColumnListRecorder:
    """The reference: one Python list per column, converted and written per 65,536 rows."""

    def __init__(self, path: Path, names: tuple[str, ...], flush_rows: int = 65_536):
        self.names = names
        self.types = [pa.list_(pa.uint64()) if n in HASH_COLUMNS else field_by_name(n).type for n in names]
        self.lists = [[] for _ in names]
        self.flush_rows = flush_rows
        self.schema = pa.schema([pa.field(n, t) for n, t in zip(names, self.types, strict=False)])
        self.sink = pa.OSFile(str(path), "wb")
        self.w = pa.ipc.new_file(self.sink, self.schema, options=pa.ipc.IpcWriteOptions(compression="zstd"))
        self.n = 0

    def record(self, row: tuple) -> None:
        for lst, v in zip(self.lists, row, strict=False):
            lst.append(v)
        self.n += 1
        if self.n >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if self.n:
            arrays = [pa.array(lst, type=t) for lst, t in zip(self.lists, self.types, strict=False)]
            self.w.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
            self.lists = [[] for _ in self.names]
            self.n = 0

    def close(self) -> None:
        self.flush()
        self.w.close()
        self.sink.close()


HASH_COLUMNS = ("prompt_block_hashes", "output_block_hashes")


def agent_pool(requests: int = 512) -> list[tuple]:
    """llm_call rows of an agent run (the default workload).

    ``requests`` ReAct-shaped requests of 8 calls each, interleaved as concurrent tasks
    write them: prompts of 1.5-2.6 k tokens share the instruction and few-shot prefix
    and grow by their history, so their chained block hashes (94-160 per call, plus 2-3
    output block hashes) repeat prefixes the way a real capture's do.
    """
    names = row_fields("llm_call", text=False)
    ids = iter(range(10**9))
    spec = SyntheticSpec(requests=requests, iterations=8, text=False, gpu_hz=1e-9)
    calls = [r for r in agent_events(spec, lambda: next(ids)) if isinstance(r, LlmCall)]
    calls.sort(key=lambda c: (c.iteration, c.request_id))
    return [tuple(getattr(c, n) for n in names) for c in calls]


def random_pool(n: int = 4096) -> list[tuple]:
    """Distinct llm_call rows whose block hashes share nothing (the stress case: incompressible hashes)."""
    names = row_fields("llm_call", text=False)
    rng = random.Random(0)
    pool = []
    for i in range(n):
        prompt = 1500 + (i % 8) * 150
        completion = rng.randrange(20, 200)
        ids = [rng.randrange(50_000) for _ in range(prompt + completion)]
        all_hashes = block_hashes(ids[: prompt + completion - 1], 16)
        hashes, out_hashes = all_hashes[: prompt // 16 * 8], all_hashes[prompt // 16 * 8:]
        d = dict(event_id=i, request_id=i // 8, parent_event_id=i // 8, start_ns=i * 10**6, end_ns=i * 10**6 + 5 * 10**8,
                 iteration=i % 8, ok=True, error=None, role="actor", model="SmolLM2-135M-Instruct", temperature=0.7,
                 top_p=1.0, max_tokens=256, n=1, stop=["\nObservation"], seed=None, finish_reason="stop",
                 prompt_tokens=prompt, completion_tokens=completion, cached_tokens=prompt - 150,
                 tokens_instruction=300, tokens_few_shot=1100, tokens_user=50, tokens_llm_history=(i % 8) * 40,
                 tokens_tool_history=(i % 8) * 110, tokens_template=0, server_queue_ns=rng.randrange(10**6),
                 server_prefill_ns=rng.randrange(10**8), server_decode_ns=rng.randrange(10**9),
                 client_ttft_ns=rng.randrange(10**8), client_e2e_ns=rng.randrange(10**9),
                 server_request_id=f"chatcmpl-{i:08x}", prompt_block_hashes=hashes, output_block_hashes=out_hashes)
        pool.append(tuple(d[c] for c in names))
    return pool


def _rate_emit(path: Path, pool: list[tuple], n_events: int) -> float:
    """events/s through ``TraceWriter.emit``, from opening the file to the footer written."""
    gc.collect()
    t0 = time.perf_counter()
    w = TraceWriter(path, text=False)
    emit, k = w.emit, len(pool)
    for i in range(n_events):
        emit("llm_call", pool[i % k])
    w.close()
    return n_events / (time.perf_counter() - t0)


def _rate_reference(path: Path, pool_lists: list[tuple], n_events: int) -> float:
    names = row_fields("llm_call", text=False)
    gc.collect()
    t0 = time.perf_counter()
    ref = ColumnListRecorder(path, names)
    k = len(pool_lists)
    for i in range(n_events):
        ref.record(pool_lists[i % k])
    ref.close()
    return n_events / (time.perf_counter() - t0)


def _rate_records(path: Path, pool: list[tuple], n_events: int) -> float:
    """events/s through ``TraceWriter.write`` with ``LlmCall`` records (what capture hands over)."""
    names = row_fields("llm_call", text=False)
    records = [LlmCall(**{k: v for k, v in zip(names, r, strict=True) if k != "event_id"}) for r in pool[:1024]]
    gc.collect()
    t0 = time.perf_counter()
    w = TraceWriter(path, text=False)
    for i in range(n_events):
        rec = records[i & 1023]
        rec.event_id = None
        w.write(rec)
    w.close()
    return n_events / (time.perf_counter() - t0)


def bench_write(tmp: Path, n_events: int, rounds: int = 3) -> dict:
    """Median of ``rounds`` alternating runs of each recorder, after a warm-up of each."""
    out: dict = {"events": n_events, "rounds": rounds}
    for name, pool in (("agent", agent_pool()), ("random_hashes", random_pool())):
        pool_lists = [r[:-2] + (hashes_to_list(r[-2]), hashes_to_list(r[-1])) for r in pool]
        _rate_emit(tmp / f"warm-{name}.arrow", pool, 100_000)  # first use (imports, kernels, heap growth), in both
        _rate_reference(tmp / f"warm-ref-{name}.arrow", pool_lists, 100_000)
        ours, ref = [], []
        for r in range(rounds):  # a fresh file each run: replacing a file makes its close wait for the disk
            ours.append(_rate_emit(tmp / f"w{r}.arrow", pool, n_events))
            ref.append(_rate_reference(tmp / f"ref{r}.arrow", pool_lists, n_events))
            size = (tmp / f"w{r}.arrow").stat().st_size
            (tmp / f"w{r}.arrow").unlink()
            (tmp / f"ref{r}.arrow").unlink()
        out[name] = {"agentledger_emit_per_s": statistics.median(ours), "column_lists_per_s": statistics.median(ref),
                     "agentledger_emit_runs": ours, "column_lists_runs": ref,
                     "ratio": statistics.median(ours) / statistics.median(ref),
                     "bytes_per_event": size / n_events}
        if name == "agent":
            recs = [_rate_records(tmp / f"r{r}.arrow", pool, n_events // 4) for r in range(rounds)]
            out[name]["agentledger_write_record_per_s"] = statistics.median(recs)
    return out


# -- 2. scan ------------------------------------------------------------------------------------
def _scan_rows(n_events: int):
    """Events in the mix of a real capture: mostly telemetry, a fifth LLM calls."""
    rng = random.Random(1)
    cols = {k: row_fields(k, text=False) for k in ("llm_call", "tool_call", "gpu_sample", "engine_sample")}
    llm_base = dict.fromkeys(cols["llm_call"])
    for i in range(n_events):
        r = i % 10
        if r < 2:
            d = dict(llm_base, event_id=i, request_id=i // 100, start_ns=i * 1000, end_ns=i * 1000 + 900, iteration=r,
                     ok=True, role="actor", model="SmolLM2-135M-Instruct", max_tokens=256, finish_reason="stop",
                     prompt_tokens=1500 + r, completion_tokens=60, cached_tokens=1400, client_e2e_ns=900)
            yield "llm_call", d
        elif r < 3:
            yield "tool_call", dict(dict.fromkeys(cols["tool_call"]), event_id=i, request_id=i // 100, start_ns=i * 1000,
                                    end_ns=i * 1000 + 50, ok=True, tool_name="search", tool_output_chars=600)
        elif r < 8:
            yield "gpu_sample", dict(dict.fromkeys(cols["gpu_sample"]), event_id=i, start_ns=i * 1000, end_ns=i * 1000,
                                     gpu_index=r % 2, gpu_source="nvml", gpu_power_w=100 + rng.random() * 300,
                                     gpu_energy_j=i * 0.1, gpu_util_pct=50.0, gpu_mem_used_bytes=2**33)
        else:
            yield "engine_sample", dict(dict.fromkeys(cols["engine_sample"]), event_id=i, start_ns=i * 1000,
                                        end_ns=i * 1000, engine_kv_cache_usage_frac=0.3, engine_running=4,
                                        engine_waiting=0, engine_prefix_queries_total=i, engine_prefix_hits_total=i // 2)


def bench_scan(tmp: Path, n_events: int) -> dict:
    trace, jsonl = tmp / "scan.arrow", tmp / "scan.jsonl"
    cols = {k: row_fields(k, text=False) for k in ("llm_call", "tool_call", "gpu_sample", "engine_sample")}
    with TraceWriter(trace, text=False) as w, open(jsonl, "w") as fh:
        for kind, d in _scan_rows(n_events):
            w.emit(kind, tuple(d[c] for c in cols[kind]))
            fh.write(json.dumps({"kind": kind, **{k: v for k, v in d.items() if v is not None}}) + "\n")
    query = ("event_id", "request_id", "prompt_tokens", "cached_tokens", "client_e2e_ns")
    gc.collect()
    t0 = time.perf_counter()
    df = scan_trace(trace).filter(pl.col("kind") == "llm_call").select(query).collect()
    t_arrow = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = []
    with open(jsonl) as fh:
        for line in fh:
            ev = json.loads(line)
            if ev["kind"] == "llm_call":
                rows.append(tuple(ev.get(c) for c in query))
    t_json = time.perf_counter() - t0
    assert len(rows) == df.height
    return {"events": n_events, "selected": df.height, "arrow_scan_s": t_arrow, "jsonl_stdlib_s": t_json,
            "ratio": t_json / t_arrow, "trace_bytes": trace.stat().st_size, "jsonl_bytes": jsonl.stat().st_size}


# -- 3. size ---------------------------------------------------------------------------------------------
def _jsonl_bytes(dicts: list[dict]) -> tuple[int, int]:
    raw = "".join(json.dumps(d) + "\n" for d in dicts).encode()
    return len(raw), len(zstandard.ZstdCompressor(level=3).compress(raw))


def bench_size(tmp: Path, requests: int) -> dict:
    spec = SyntheticSpec(requests=requests, iterations=8, gpu_hz=0.0001)
    ids = iter(range(10**9))
    calls = [r for r in agent_events(spec, lambda: next(ids)) if isinstance(r, LlmCall)]
    calls.sort(key=lambda c: (c.iteration, c.request_id))  # interleaved, as concurrent tasks write them
    n = len(calls)
    names = row_fields("llm_call", text=False)

    def trace_bytes(path: Path, text: bool, transform=None) -> int:
        with TraceWriter(path, text=text) as w:
            for c in calls:
                c2 = transform(c) if transform else c
                w.write(c2)
        return path.stat().st_size

    def as_dict(c: LlmCall, *, hashes=True, text=False) -> dict:
        d = {k: getattr(c, k) for k in names if k not in HASH_COLUMNS}
        d["kind"] = "llm_call"
        if hashes:
            for k in HASH_COLUMNS:
                d[k] = hashes_to_list(getattr(c, k))
        if text:
            d["prompt_text"], d["output_text"] = c.prompt_text, c.output_text
        return {k: v for k, v in d.items() if v is not None}

    def no_hashes(c):
        return LlmCall(**{**{k: getattr(c, k) for k in c.__slots__}, "prompt_block_hashes": None, "output_block_hashes": None})

    all_cols = trace_bytes(tmp / "s_all.arrow", False)
    scalars = trace_bytes(tmp / "s_scalar.arrow", False, no_hashes)
    with_text = trace_bytes(tmp / "s_text.arrow", True)
    # naive text storage: the full prompt in every row (no delta), same container
    tbl = pa.ipc.open_file(str(tmp / "s_text.arrow")).read_all()
    full = [c.prompt_text for c in calls]
    tbl = tbl.set_column(tbl.schema.get_field_index("prompt_text_delta"), "prompt_text_delta", pa.array(full))
    for col in ("prompt_text_base_event_id", "prompt_text_prefix_chars"):
        tbl = tbl.set_column(tbl.schema.get_field_index(col), col, pa.nulls(tbl.num_rows, pa.int64()))
    buf = io.BytesIO()
    with pa.ipc.new_file(buf, tbl.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
        w.write_table(tbl, max_chunksize=8192)
    naive_text = len(buf.getvalue())
    j_all, jz_all = _jsonl_bytes([as_dict(c) for c in calls])
    j_sc, jz_sc = _jsonl_bytes([as_dict(c, hashes=False) for c in calls])
    j_tx, jz_tx = _jsonl_bytes([as_dict(c, text=True) for c in calls])
    per = lambda b: b / n  # noqa: E731
    return {
        "llm_calls": n,
        "mean_prompt_tokens": sum(c.prompt_tokens for c in calls) / n,
        "all_columns": {"trace": per(all_cols), "jsonl": per(j_all), "jsonl_zstd": per(jz_all)},
        "scalar_columns": {"trace": per(scalars), "jsonl": per(j_sc), "jsonl_zstd": per(jz_sc)},
        "with_text": {"trace_delta": per(with_text), "trace_full_text": per(naive_text), "jsonl": per(j_tx), "jsonl_zstd": per(jz_tx)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--write-events", type=int, default=1_000_000)
    ap.add_argument("--scan-events", type=int, default=10_000_000)
    ap.add_argument("--size-requests", type=int, default=500)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.quick:
        args.write_events, args.scan_events, args.size_requests = 100_000, 500_000, 50
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, pyarrow {pa.__version__}, polars {pl.__version__}"
    con.print(f"[bold]trace-format benchmark[/] on {machine}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with con.status("write rate…"):
            wr = bench_write(tmp, args.write_events)
        with con.status(f"scan of {args.scan_events:,} events (and their JSON Lines)…"):
            sc = bench_scan(tmp, args.scan_events)
        with con.status("sizes…"):
            sz = bench_size(tmp, args.size_requests)
    t = Table(title="trace format: measured side by side")
    for c in ("measure", "agentledger", "reference", "ratio", "target"):
        t.add_column(c)
    a_w, r_w = wr["agent"], wr["random_hashes"]
    t.add_row("write, llm_call events/s (emit), agent-shaped", f"{a_w['agentledger_emit_per_s']:,.0f}",
              f"{a_w['column_lists_per_s']:,.0f} column lists", f"{a_w['ratio']:.1f}x", ">= 1,000,000/s")
    t.add_row("write, llm_call events/s (emit), unshared hashes", f"{r_w['agentledger_emit_per_s']:,.0f}",
              f"{r_w['column_lists_per_s']:,.0f} column lists", f"{r_w['ratio']:.1f}x", "(stress case)")
    t.add_row("write, llm_call events/s (LlmCall records)", f"{a_w['agentledger_write_record_per_s']:,.0f}", "", "", "")
    t.add_row(f"filter llm_call of {sc['events']:,} events", f"{sc['arrow_scan_s']:.3f} s lazy scan", f"{sc['jsonl_stdlib_s']:.1f} s JSONL stdlib",
              f"{sc['ratio']:.0f}x faster", ">= 50x")
    a, s, x = sz["all_columns"], sz["scalar_columns"], sz["with_text"]
    t.add_row("bytes/llm_call, all columns", f"{a['trace']:.0f}", f"{a['jsonl']:.0f} JSONL / {a['jsonl_zstd']:.0f} JSONL+zstd",
              f"{a['trace'] / a['jsonl']:.3f} / {a['trace'] / a['jsonl_zstd']:.2f}", "<= 0.25 of JSONL")
    t.add_row("bytes/llm_call, scalar columns", f"{s['trace']:.0f}", f"{s['jsonl']:.0f} JSONL / {s['jsonl_zstd']:.0f} JSONL+zstd",
              f"{s['trace'] / s['jsonl']:.3f} / {s['trace'] / s['jsonl_zstd']:.2f}", "<= 0.10 of JSONL")
    t.add_row("bytes/llm_call, with text", f"{x['trace_delta']:.0f} (prefix delta)",
              f"{x['trace_full_text']:.0f} full text / {x['jsonl']:.0f} JSONL / {x['jsonl_zstd']:.0f} JSONL+zstd",
              f"{x['trace_delta'] / x['trace_full_text']:.3f} / {x['trace_delta'] / x['jsonl']:.3f}", "not dominated by history")
    con.print(t)
    con.print(f"write: median of {wr['rounds']} alternating runs of {wr['events']:,} events each, after a warm-up; "
              f"runs: " + "; ".join(f"{k} {[round(x) for x in wr[k]['agentledger_emit_runs']]}" for k in ("agent", "random_hashes")))
    con.print(f"size workload: {sz['llm_calls']:,} agent-shaped llm_calls, mean prompt {sz['mean_prompt_tokens']:.0f} tokens, 8 iterations/request")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "write": wr, "scan": sc, "size": sz}, indent=2))


if __name__ == "__main__":
    main()
