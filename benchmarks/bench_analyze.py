"""Analysis benchmark: `analyze breakdown` and `analyze tokens` on a large trace, side by side
with the same computation in pandas over JSON Lines.

    python benchmarks/bench_analyze.py            # full: 1 M llm_calls in 100 k requests
    python benchmarks/bench_analyze.py --quick    # 100 k llm_calls, for a smoke run

Targets (from the analysis issue, for the full size): each analysis finishes in <= 1 s of
compute (trace path to result, CLI start-up reported separately) and >= 100x faster than
pandas reading the same events from JSON Lines and computing the same numbers. A one-line group-by (mean
prompt tokens per request) calibrates what the format alone gives. The pandas results are
checked against ours, so both sides compute the same thing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from agentledger.analyze.breakdown import breakdown
from agentledger.analyze.load import open_traces
from agentledger.analyze.tokens import MEASURES, token_stats
from agentledger.traceformat import RunMeta, TraceWriter, kind_columns, row_fields
from agentledger.traceformat.validate import CATEGORY_COLUMNS

con = Console(width=None if sys.stdout.isatty() else 132)


# -- the workload ---------------------------------------------------------------------------
def _rows(kind: str, cols: dict[str, object], n: int) -> list[tuple]:
    names = row_fields(kind, text=False)
    lists = [(cols[c].tolist() if isinstance(cols[c], np.ndarray) else cols[c]) if c in cols else [None] * n for c in names]
    return list(zip(*lists, strict=True))


def write_workload(path: Path, requests: int, calls_per_request: int, seed: int = 0) -> dict:
    """An agent-shaped trace: each request alternates LLM and tool calls; every fifth request
    runs its tool call alongside the next LLM call (overlap, as LLMCompiler does)."""
    rng = np.random.default_rng(seed)
    R, K = requests, calls_per_request
    n = R * K
    req = np.arange(R, dtype=np.int64)
    rid = req * (2 * K + 1)  # request event ids; its calls follow
    it = np.tile(np.arange(K, dtype=np.int32), R)
    r_of = np.repeat(req, K)
    llm_ns = rng.integers(200_000_000, 2_000_000_000, n)
    tool_ns = rng.integers(5_000_000, 400_000_000, n)
    gap_ns = rng.integers(100_000, 3_000_000, n)
    parallel = (r_of % 5 == 0)
    step = llm_ns + np.where(parallel, 0, tool_ns) + gap_ns  # a parallel tool call overlaps the LLM call
    step2d = step.reshape(R, K)
    offs = np.concatenate([np.zeros((R, 1), np.int64), np.cumsum(step2d, axis=1)[:, :-1]], axis=1).ravel()
    req_start = (req % 64) * 50_000_000 + (req // 64) * 12_000_000_000  # 64 concurrent slots
    llm_start = np.repeat(req_start, K) + offs
    llm_end = llm_start + llm_ns
    tool_start = np.where(parallel, llm_start + llm_ns // 3, llm_end + gap_ns // 2)
    tool_end = tool_start + tool_ns
    req_end = np.maximum(llm_end, tool_end).reshape(R, K).max(axis=1) + rng.integers(1_000_000, 20_000_000, R)
    queue = rng.integers(0, 5_000_000, n)
    prefill = llm_ns // 10
    decode = llm_ns - queue - prefill - rng.integers(100_000, 1_000_000, n)
    user = rng.integers(20, 120, n).astype(np.int64)
    llm_hist, tool_hist = it * 40, it * 110
    prompt = 300 + 1100 + user + llm_hist + tool_hist + 7
    llm_ids = np.repeat(rid, K) + 1 + 2 * it
    llm = {"event_id": llm_ids, "request_id": np.repeat(rid, K), "parent_event_id": np.repeat(rid, K),
           "start_ns": llm_start, "end_ns": llm_end, "iteration": it, "ok": [True] * n, "role": ["actor"] * n,
           "model": ["SmolLM2-135M-Instruct"] * n, "max_tokens": [256] * n, "finish_reason": ["stop"] * n,
           "prompt_tokens": prompt, "completion_tokens": rng.integers(10, 120, n), "cached_tokens": prompt - user - 150,
           "tokens_instruction": [300] * n, "tokens_few_shot": [1100] * n, "tokens_user": user,
           "tokens_llm_history": llm_hist, "tokens_tool_history": tool_hist, "tokens_template": [7] * n,
           "server_queue_ns": queue, "server_prefill_ns": prefill, "server_decode_ns": decode,
           "client_ttft_ns": queue + prefill, "client_e2e_ns": llm_ns}
    tool = {"event_id": llm_ids + 1, "request_id": np.repeat(rid, K), "parent_event_id": llm_ids,
            "start_ns": tool_start, "end_ns": tool_end, "iteration": it, "ok": [True] * n,
            "tool_name": ["search"] * n, "tool_backend": ["local_index"] * n, "tool_output_chars": rng.integers(50, 2000, n)}
    reqs = {"event_id": rid, "request_id": rid, "start_ns": req_start, "end_ns": req_end, "ok": [True] * R,
            "item_id": [f"item-{i}" for i in range(R)], "outcome": ["correct"] * R, "iterations": [K] * R}
    meta = RunMeta(config={"agent": "react", "dataset": "hotpotqa", "model": "SmolLM2-135M-Instruct",
                           "engine": {"name": "vllm", "flags": {"prefix_caching": True}}, "params": {"concurrency": 64}})
    with TraceWriter(path, meta, text=False, overwrite=True) as w:
        for kind, cols, m in (("llm_call", llm, n), ("tool_call", tool, n), ("request", reqs, R)):
            for row in _rows(kind, cols, m):
                w.emit(kind, row)
    return {"requests": R, "llm_calls": n, "tool_calls": n}


def write_jsonl(trace: Path, out: Path) -> None:
    """The same events as JSON Lines: one object per event with its kind's columns."""
    table = pl.from_arrow(pa.ipc.open_file(str(trace)).read_all())
    with open(out, "wb") as fh:
        for kind in ("request", "llm_call", "tool_call"):
            table.filter(pl.col("kind") == kind).select(kind_columns(kind, text=False)).write_ndjson(fh)


# -- pandas reference -------------------------------------------------------------------------
def _pd_union(c: pd.DataFrame) -> pd.Series:
    c = c.sort_values(["request_id", "start_ns"])
    prev = c.groupby("request_id")["end_ns"].cummax().groupby(c["request_id"]).shift()
    seg = (prev.isna() | (c["start_ns"] > prev)).cumsum()
    m = c.groupby(seg).agg(request_id=("request_id", "first"), start_ns=("start_ns", "min"), end_ns=("end_ns", "max"))
    return (m["end_ns"] - m["start_ns"]).groupby(m["request_id"]).sum()


def pandas_breakdown(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    req = df.loc[df["kind"] == "request", ["request_id", "start_ns", "end_ns"]].set_index("request_id")
    calls = df.loc[df["kind"].isin(["llm_call", "tool_call"]),
                   ["kind", "request_id", "start_ns", "end_ns", "server_queue_ns", "server_prefill_ns", "server_decode_ns"]]
    calls = calls.join(req.rename(columns={"start_ns": "lo", "end_ns": "hi"}), on="request_id", how="inner")
    calls["start_ns"] = calls[["start_ns", "lo"]].max(axis=1)
    calls["end_ns"] = calls[["end_ns", "hi"]].min(axis=1)
    calls = calls[calls["end_ns"] > calls["start_ns"]]
    llm = calls[calls["kind"] == "llm_call"].copy()
    out = pd.DataFrame(index=req.index)
    out["e2e"] = req["end_ns"] - req["start_ns"]
    out["llm"] = _pd_union(llm)
    out["tool"] = _pd_union(calls[calls["kind"] == "tool_call"])
    out["either"] = _pd_union(calls)
    out = out.fillna(0)
    out["overlap"] = out["llm"] + out["tool"] - out["either"]
    out["llm_only"], out["tool_only"] = out["llm"] - out["overlap"], out["tool"] - out["overlap"]
    out["other"] = out["e2e"] - out["either"]
    srv = ["server_queue_ns", "server_prefill_ns", "server_decode_ns"]
    llm["dur"] = (llm["end_ns"] - llm["start_ns"]).astype(float)
    tot = llm[srv].sum(axis=1, min_count=3)
    fit = np.where(tot > llm["dur"], llm["dur"] / tot, 1.0)
    for c in srv:
        llm[c] = llm[c].fillna(0) * fit
    sums = llm.groupby("request_id")[["dur", *srv]].sum()
    scale = (out["llm"] / sums["dur"]).fillna(0)
    for c in srv:
        out["llm_" + c.split("_")[1]] = sums[c] * scale
    out["llm_client"] = out["llm"] - out[["llm_queue", "llm_prefill", "llm_decode"]].sum(axis=1)
    comps = ["llm_only", "tool_only", "overlap", "other", "llm", "tool", "llm_queue", "llm_prefill", "llm_decode", "llm_client"]
    out = out.fillna(0)
    share = out[comps].div(out["e2e"], axis=0)
    summary = pd.DataFrame({"mean_s": out[comps].mean() / 1e9, "mean_share": share.mean(),
                            "p50_share": share.quantile(0.5), "p95_share": share.quantile(0.95)})
    return out / 1e9, summary


def pandas_tokens(df: pd.DataFrame) -> dict:
    llm = df[df["kind"] == "llm_call"]
    cols = list(MEASURES)
    summary = llm[cols].agg(["count", "mean", "median", lambda s: s.quantile(0.95), "max"])
    shares = llm[list(CATEGORY_COLUMNS)].sum() / llm["prompt_tokens"].sum()
    by_it = llm.groupby("iteration")[cols].mean()
    slope = llm["iteration"].cov(llm["prompt_tokens"]) / llm["iteration"].var()
    return {"summary": summary, "shares": shares, "by_iteration": by_it, "slope": slope}


# -- measuring ------------------------------------------------------------------------------------
def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _check_breakdown(ours, ref: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    per = ours.per_request.to_pandas().set_index("request_id")
    ref_per = ref[0].loc[per.index]
    for c in ("e2e", "llm", "tool", "overlap", "other", "llm_decode", "llm_client"):
        np.testing.assert_allclose(per[c + "_s"].to_numpy(), ref_per[c].to_numpy(), rtol=1e-9, atol=1e-9)


def _check_tokens(ours, ref: dict) -> None:
    s = ours.summary.to_pandas().set_index("measure")
    np.testing.assert_allclose(s.loc[list(MEASURES), "mean"].to_numpy(), ref["summary"].loc["mean"].to_numpy())
    np.testing.assert_allclose(s.loc[list(MEASURES), "p95"].to_numpy(), ref["summary"].loc["<lambda>"].to_numpy())
    np.testing.assert_allclose(ours.growth["prompt_tokens_per_iteration"][0], ref["slope"])


def _cli_seconds(args: list[str], repeat: int = 3) -> float:
    cmd = [sys.executable, "-m", "agentledger.analyze.cli", *args]
    return _timed(lambda: subprocess.run(cmd, check=True, capture_output=True), repeat)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 k llm_calls instead of 1 M")
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--calls-per-request", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each of our analyses (median reported)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.quick:
        args.requests = 10_000
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, polars {pl.__version__}, pandas {pd.__version__}"
    con.print(f"[bold]analysis benchmark[/] on {machine}")
    res: dict = {"machine": machine}
    with tempfile.TemporaryDirectory() as d:
        trace, jsonl = Path(d) / "bench.arrow", Path(d) / "bench.jsonl"
        with con.status("writing the workload…"):
            res["workload"] = write_workload(trace, args.requests, args.calls_per_request)
            write_jsonl(trace, jsonl)
        res["workload"].update(trace_bytes=trace.stat().st_size, jsonl_bytes=jsonl.stat().st_size)
        with con.status("agentledger…"):
            t_bd, ours_bd = _timed(lambda: breakdown(open_traces([trace])), args.repeat)
            t_tk, ours_tk = _timed(lambda: token_stats(open_traces([trace])), args.repeat)
            t_gb, _ = _timed(lambda: pl.scan_ipc(trace).filter(pl.col("kind") == "llm_call")
                             .group_by("request_id").agg(pl.col("prompt_tokens").mean()).collect(), args.repeat)
        with con.status("CLI…"):
            cli_start = _cli_seconds(["--version"])
            cli_bd = _cli_seconds(["breakdown", str(trace), "--json"])
            cli_tk = _cli_seconds(["tokens", str(trace), "--json"])
        with con.status("pandas over JSON Lines…"):
            t0 = time.perf_counter()
            df = pd.read_json(jsonl, lines=True)
            t_load = time.perf_counter() - t0
            t_pbd, ref_bd = _timed(lambda: pandas_breakdown(df), 1)
            t_ptk, ref_tk = _timed(lambda: pandas_tokens(df), 1)
            t_pgb, _ = _timed(lambda: df[df["kind"] == "llm_call"].groupby("request_id")["prompt_tokens"].mean(), 1)
        _check_breakdown(ours_bd, ref_bd)
        _check_tokens(ours_tk, ref_tk)
    rows = [("group-by (calibration)", t_gb, t_pgb), ("breakdown", t_bd, t_pbd), ("tokens", t_tk, t_ptk)]
    t = Table(title=f"{res['workload']['llm_calls']:,} llm_calls, {res['workload']['requests']:,} requests: measured side by side")
    for c in ("analysis", "agentledger (s)", "pandas: read JSONL + compute (s)", "ratio", "pandas compute only (s)", "target"):
        t.add_column(c, justify="right")
    res["results"] = {}
    for name, ours, theirs in rows:
        ratio = (t_load + theirs) / ours
        res["results"][name] = {"agentledger_s": ours, "pandas_compute_s": theirs, "pandas_read_jsonl_s": t_load, "ratio": ratio}
        target = "" if name.startswith("group") else "<= 1 s, >= 100x"
        t.add_row(name, f"{ours:.3f}", f"{t_load:.1f} + {theirs:.2f}", f"{ratio:,.0f}x", f"{theirs:.2f}", target)
    con.print(t)
    res["cli"] = {"startup_s": cli_start, "breakdown_s": cli_bd, "tokens_s": cli_tk}
    con.print(f"CLI wall time: start-up (--version) {cli_start:.2f} s; `analyze breakdown --json` {cli_bd:.2f} s; "
              f"`analyze tokens --json` {cli_tk:.2f} s (start-up + compute + output)")
    con.print("pandas results checked equal to agentledger's (per-request breakdown, token means, p95 and growth)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
