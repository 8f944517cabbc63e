"""End to end on the real CPU vLLM server: the client, the sampler and `capture run cot sharegpt`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import polars as pl
import pytest

from agentledger.capture.client import LLMClient, Segment
from agentledger.capture.engine import EmbeddedEngine, EngineConfig
from agentledger.capture.run import _hf_counter
from agentledger.capture.sampler import EngineSampler
from agentledger.traceformat import Request, RunMeta, TraceWriter, read_trace, validate_trace
from agentledger.traceformat.validate import CATEGORY_COLUMNS

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    log = tmp_path_factory.mktemp("engine") / "server.log"
    with EmbeddedEngine(EngineConfig(log_path=log)) as eng:
        yield eng


def test_client_records_categories_timings_hashes_and_prefix_hits(engine, tmp_path):
    info = engine.info
    count = _hf_counter(str(info.model))
    block = info.block_size_tokens or 16
    shots = " ".join(f"Example {i}: the capital of country {i} is city {i}." for i in range(60))
    path = tmp_path / "client.arrow"

    async def main(w: TraceWriter):
        client = LLMClient(info.base_url, engine.served_model, w, count_tokens=count, block_size=block)
        sampler = EngineSampler(info.base_url, w, hz=10)
        sampler.start()
        rid = w.new_id()
        results = []
        for i, question in enumerate(["What is the capital of France?", "And of Italy?"]):
            segs = [Segment("instruction", "Answer briefly.", role="system"), Segment("few_shot", shots),
                    Segment("user", " " + question)]
            results.append(await client.chat(segs, request_id=rid, parent_event_id=rid, iteration=i, max_tokens=8))
        await asyncio.sleep(0.3)
        await sampler.stop()
        await client.aclose()
        w.write(Request(event_id=rid, item_id="q", start_ns=0, end_ns=w.now_ns()))
        return results

    with TraceWriter(path, RunMeta(block_size_tokens=block)) as w:
        first, second = asyncio.run(main(w))
    assert first.ok and second.ok and first.completion_tokens <= 8
    tr = read_trace(path)
    assert validate_trace(tr) == []
    llm = tr.events("llm_call").sort("iteration")
    for row in llm.iter_rows(named=True):
        assert sum(row[c] for c in CATEGORY_COLUMNS) == row["prompt_tokens"]  # exact identity
        assert row["tokens_few_shot"] > 500 and 0 <= row["tokens_template"] < 40
        for col in ("server_queue_ns", "server_prefill_ns", "server_decode_ns", "client_ttft_ns"):
            assert row[col] is not None and row[col] >= 0, col
        assert row["client_ttft_ns"] <= row["client_e2e_ns"] == row["end_ns"] - row["start_ns"]
        assert len(row["prompt_block_hashes"]) == row["prompt_tokens"] // block
        # output blocks: the full blocks of the computed tokens (all but the last completion token) past the prompt's
        computed_blocks = (row["prompt_tokens"] + row["completion_tokens"] - 1) // block
        assert len(row["output_block_hashes"]) == computed_blocks - row["prompt_tokens"] // block
    a, b = llm.row(0, named=True), llm.row(1, named=True)
    shared = min(len(a["prompt_block_hashes"]), len(b["prompt_block_hashes"])) - 1
    assert a["prompt_block_hashes"][:shared] == b["prompt_block_hashes"][:shared]
    assert b["cached_tokens"] >= shared * block > 0  # the engine's prefix cache served the shared blocks
    assert json.loads(tr.prompt_texts()[b["event_id"]])[-1]["content"].endswith("And of Italy?")
    eng = tr.events("engine_sample")
    assert eng.height >= 3 and eng["engine_prefix_hits_total"].max() >= b["cached_tokens"]


def test_capture_run_cot_sharegpt_cli(tmp_path):
    out = tmp_path / "cot.arrow"
    res = subprocess.run(
        [sys.executable, "-m", "agentledger.capture.cli", "run", "cot", "sharegpt", "--limit", "8",
         "--concurrency", "4", "--max-tokens", "16", "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "cot on sharegpt" in res.stdout and str(out) in "".join(ln.strip(" │") for ln in res.stdout.splitlines())
    assert (tmp_path / "cot.server.log").stat().st_size > 0  # the server log is kept next to the trace
    tr = read_trace(out)
    assert validate_trace(tr) == []
    cfg = tr.meta.config
    assert cfg["agent"] == "cot" and cfg["engine"]["name"] == "vllm" and cfg["engine"]["flags"]["prefix_caching"]
    assert tr.meta.block_size_tokens == cfg["engine"]["block_size_tokens"]
    req, llm = tr.events("request"), tr.events("llm_call")
    assert req.height == 8 and llm.height == 8 and llm["ok"].all()
    assert llm.filter(pl.col("completion_tokens") > 16).height == 0
    assert (llm.select(sum(pl.col(c) for c in CATEGORY_COLUMNS) == pl.col("prompt_tokens")).to_series().all())
    assert set(llm["request_id"]) == set(req["event_id"])
    assert tr.events("engine_sample").height > 0
    assert llm["output_block_hashes"].null_count() == 0  # the streamed choices carried their token ids
    # concurrency 4: some calls overlapped in time
    spans = sorted(zip(llm["start_ns"], llm["end_ns"], strict=False))
    assert any(s2 < e1 for (s1, e1), (s2, e2) in zip(spans, spans[1:], strict=False))
    info = subprocess.run([sys.executable, "-m", "agentledger.analyze.cli", "info", str(out), "--json"],
                          capture_output=True, text=True)
    assert json.loads(info.stdout)["events_per_kind"]["llm_call"] == 8
