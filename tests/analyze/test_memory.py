"""`analyze memory`: KV-cache memory over time and per request, with vs. without prefix caching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agentledger.analyze.cli import app
from agentledger.analyze.load import open_traces
from agentledger.analyze.memory import kv_bytes_per_token, memory_stats, step_profile
from agentledger.errors import TraceError, UsageError
from agentledger.traceformat import EngineSample, RunMeta, TraceWriter
from agentledger.traceformat.hashing import block_hashes
from tests.analyze.conftest import MS, config, llm, req

BS = 4


def write(path: Path, events) -> Path:
    with TraceWriter(path, RunMeta(config=config(), block_size_tokens=BS), text=False) as w:
        for e in events:
            w.write(e)
    return path


def test_bytes_per_token():
    assert kv_bytes_per_token(layers=30, kv_heads=3, head_dim=64) == 23_040  # SmolLM2-135M in bf16
    assert kv_bytes_per_token(layers=30, kv_heads=3, head_dim=64, dtype_bytes=1) == 11_520
    assert kv_bytes_per_token(1000, layers=1, kv_heads=1, head_dim=1) == 1000 and kv_bytes_per_token() is None
    with pytest.raises(UsageError, match="also give --head-dim"):
        kv_bytes_per_token(layers=30, kv_heads=3)
    with pytest.raises(UsageError, match="must be positive"):
        kv_bytes_per_token(0)


def test_step_profile():
    # key 0: weight 2 on [0, 10), 3 on [5, 20) -> levels 2, 5, 3 -> area 10 + 25 + 30, peak 5; key 1 empty; key 2: 1 on [0, 4)
    prof = step_profile(np.array([0, 0, 2]), np.array([0, 5, 0]), np.array([10, 20, 4]), np.array([2, 3, 1]), 3)
    assert prof["area"].to_list() == [65, 0, 4] and prof["peak"].to_list() == [5, 0, 1]


def hand_events():
    # Two concurrent calls share their first 2 prompt blocks (block size 4):
    #   A [0, 10) ms: 10 prompt + 3 completion tokens -> 4 blocks (16 tokens), 2 of them the shared prompt blocks
    #   B [5, 15) ms:  9 prompt + 2 completion tokens -> 3 blocks (12 tokens), 2 shared
    shared = list(range(500, 508))
    return [req(0, 0, 20), req(1, 5, 20),
            llm(2, 0, 0, 10, prompt_tokens=10, completion_tokens=3, prompt_block_hashes=block_hashes(shared + [1, 2], BS)),
            llm(3, 1, 5, 15, prompt_tokens=9, completion_tokens=2, prompt_block_hashes=block_hashes(shared + [7], BS)),
            EngineSample(start_ns=2 * MS, end_ns=2 * MS, engine_kv_cache_usage_frac=0.1),
            EngineSample(start_ns=8 * MS, end_ns=8 * MS, engine_kv_cache_usage_frac=0.3)]


def test_over_time_with_and_without_prefix_caching(tmp_path):
    p = write(tmp_path / "mem.arrow", hand_events())
    res = memory_stats(open_traces([p]), bytes_per_token=10)
    rows = {r["mode"]: r for r in res.summary.to_dicts()}
    # without: [0,5) 16, [5,10) 28, [10,15) 12 tokens -> area 280 token-ms over the 20 ms window
    assert rows["without_prefix_caching"]["max_kv_tokens"] == 28
    assert rows["without_prefix_caching"]["mean_kv_tokens"] == pytest.approx(14)
    # with: the 2 shared blocks (8 tokens) once over [0, 15), private A 8 tokens, private B 4 tokens
    #   [0,5) 16, [5,10) 20, [10,15) 12 -> area 240
    assert rows["with_prefix_caching"]["max_kv_tokens"] == 20
    assert rows["with_prefix_caching"]["mean_kv_tokens"] == pytest.approx(12)
    assert rows["with_prefix_caching"]["max_kv_bytes"] == 200 and rows["without_prefix_caching"]["mean_kv_bytes"] == 140


def test_per_request_and_engine(tmp_path):
    p = write(tmp_path / "mem.arrow", hand_events())
    res = memory_stats(open_traces([p]), bytes_per_token=10, capacity_blocks=100)
    r = res.per_request.row(0, named=True)
    # request 0 holds 16 tokens for 10 of its 20 ms, request 1 12 tokens for 10 of its 15 ms
    assert r["requests"] == 2 and r["max_peak_kv_tokens"] == 16 and r["mean_peak_kv_tokens"] == 14
    assert r["mean_kv_tokens"] == pytest.approx((8 + 8) / 2) and r["max_peak_kv_bytes"] == 160
    e = res.engine.row(0, named=True)
    assert e["samples"] == 2 and e["mean_usage_frac"] == pytest.approx(0.2) and e["max_usage_frac"] == 0.3
    # capacity: 100 blocks x 4 tokens x 10 bytes = 4,000 bytes
    assert e["mean_used_bytes"] == pytest.approx(800) and e["max_used_bytes"] == pytest.approx(1200)
    assert res.notes == []


def test_tokens_only_and_missing_counts(tmp_path):
    p = write(tmp_path / "mem.arrow", hand_events())
    res = memory_stats(open_traces([p]))
    assert res.summary["mean_kv_bytes"].to_list() == [None, None]
    assert any("23,040 bytes per token" in n for n in res.notes) and any("--capacity-blocks" in n for n in res.notes)
    bare = write(tmp_path / "bare.arrow", [req(0, 0, 9), llm(1, 0, 0, 5)])
    with pytest.raises(TraceError, match="no llm_call has prompt_tokens"):
        memory_stats(open_traces([bare]))
    with pytest.raises(UsageError, match="--capacity-blocks 0 must be positive"):
        memory_stats(open_traces([p]), capacity_blocks=0)


def test_cli(tmp_path, synthetic_trace):
    res = CliRunner().invoke(app, ["memory", str(synthetic_trace), "--json", "--layers", "30", "--kv-heads", "3",
                                   "--head-dim", "64"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["command"] == "memory" and data["bytes_per_token"] == 23_040
    s = {r["mode"]: r for r in data["summary"]}
    assert s["with_prefix_caching"]["max_kv_bytes"] == s["with_prefix_caching"]["max_kv_tokens"] * 23_040
    assert 0 < s["with_prefix_caching"]["mean_kv_tokens"] <= s["without_prefix_caching"]["mean_kv_tokens"]
    chart = tmp_path / "mem.png"
    table = CliRunner().invoke(app, ["memory", str(synthetic_trace), "--chart", str(chart)])
    assert table.exit_code == 0 and "with_prefix_caching" in table.stdout and chart.read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(app, ["memory", str(synthetic_trace), "--layers", "30"])
    assert bad.exit_code == 2 and "--kv-heads" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
