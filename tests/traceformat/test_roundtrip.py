"""Write events through the real writer and read them back, value for value."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest

from agentledger.errors import TraceError
from agentledger.traceformat import (
    EngineSample,
    GpuSample,
    LlmCall,
    Request,
    RunMeta,
    ToolCall,
    TraceWriter,
    block_hashes,
    hashes_to_list,
    read_meta,
    read_trace,
    row_fields,
    scan_trace,
    validate_trace,
)
from agentledger.traceformat.synthetic import SyntheticSpec, agent_events
from tests.conftest import write_synthetic


def test_every_kind_round_trips(tmp_path):
    path = tmp_path / "t.arrow"
    hashes = block_hashes(list(range(40)), 16)
    with TraceWriter(path, RunMeta(config={"agent": "cot"}, block_size_tokens=16)) as w:
        rid = w.new_id()
        llm = LlmCall(request_id=rid, parent_event_id=rid, start_ns=10, end_ns=20, iteration=0, model="m",
                      role="planner", temperature=0.5, max_tokens=64, stop=["\n", "Obs"], prompt_tokens=40,
                      completion_tokens=3, cached_tokens=32, tokens_instruction=10, tokens_few_shot=0,
                      tokens_user=20, tokens_llm_history=0, tokens_tool_history=0, tokens_template=10,
                      server_prefill_ns=5, client_ttft_ns=7, prompt_block_hashes=hashes, prompt_text="hi",
                      output_text="ok", finish_reason="stop")
        lid = w.write(llm)
        w.write(ToolCall(request_id=rid, parent_event_id=lid, start_ns=20, end_ns=25, tool_name="search",
                         ok=False, error="timeout", tool_timed_out=True, tool_timeout_ns=5))
        w.write(Request(event_id=rid, start_ns=0, end_ns=30, item_id="q7", outcome="correct", score=1.0,
                        final_answer="Paris", iterations=1))
        w.write(GpuSample(start_ns=15, end_ns=15, gpu_index=1, gpu_source="dcgm", gpu_power_w=250.5,
                          gpu_energy_j=1000.0, gpu_sm_active_frac=0.4, gpu_mem_used_bytes=2**40))
        w.write(EngineSample(start_ns=16, end_ns=16, engine_kv_cache_usage_frac=0.25, engine_running=3,
                             engine_waiting=1, engine_prefix_queries_total=100, engine_prefix_hits_total=80))
    tr = read_trace(path)
    assert tr.complete and tr.meta.config == {"agent": "cot"} and tr.meta.block_size_tokens == 16
    df = tr.frame()
    llm_row = df.filter(pl.col("kind") == "llm_call").row(0, named=True)
    assert llm_row["request_id"] == rid and llm_row["role"] == "planner" and llm_row["stop"] == ["\n", "Obs"]
    assert llm_row["prompt_block_hashes"] == hashes_to_list(hashes) and len(llm_row["prompt_block_hashes"]) == 2
    assert llm_row["server_decode_ns"] is None and llm_row["client_ttft_ns"] == 7
    tool = df.filter(pl.col("kind") == "tool_call").row(0, named=True)
    assert tool["parent_event_id"] == lid and tool["ok"] is False and tool["tool_timed_out"] is True
    req = df.filter(pl.col("kind") == "request").row(0, named=True)
    assert req["request_id"] == rid and req["final_answer"] == "Paris" and req["score"] == 1.0
    gpu = df.filter(pl.col("kind") == "gpu_sample").row(0, named=True)
    assert gpu["gpu_index"] == 1 and gpu["gpu_mem_used_bytes"] == 2**40 and gpu["request_id"] is None
    eng = df.filter(pl.col("kind") == "engine_sample").row(0, named=True)
    assert eng["engine_prefix_hits_total"] == 80
    assert set(df["run_id"]) == {tr.meta.run_id}
    assert tr.prompt_texts() == {lid: "hi"}
    assert validate_trace(tr) == []


def test_hash_lists_accept_python_ints_and_reject_bad_bytes(tmp_path):
    with TraceWriter(tmp_path / "a.arrow") as w:
        w.write(LlmCall(model="m", prompt_block_hashes=[1, 2**64 - 1], output_block_hashes=[]))
        w.write(LlmCall(model="m", prompt_block_hashes=None, output_block_hashes=[7]))
    frame = read_trace(tmp_path / "a.arrow").frame()
    assert frame["prompt_block_hashes"].to_list() == [[1, 2**64 - 1], None]
    assert frame["output_block_hashes"].to_list() == [[], [7]]
    w = TraceWriter(tmp_path / "b.arrow")
    w.write(LlmCall(model="m", prompt_block_hashes=b"\x01\x02\x03"))
    with pytest.raises(TraceError, match="prompt_block_hashes must be packed uint64s"):
        w.close()
    w = TraceWriter(tmp_path / "c.arrow")
    w.write(LlmCall(model="m", output_block_hashes=b"\x01" * 12))
    with pytest.raises(TraceError, match="output_block_hashes must be packed uint64s"):
        w.close()


def test_output_hashes_continue_the_prompt_chain(tmp_path):
    # prompt 40 tokens (2 full blocks of 16, 8 left over) + 30 completion tokens: the engine computed 69 tokens,
    # 4 full blocks; blocks 2 and 3 (the first straddles the prompt/completion boundary) are output blocks
    prompt, output = list(range(40)), list(range(500, 530))
    chain = block_hashes(prompt + output[:-1], 16)
    with TraceWriter(tmp_path / "o.arrow", RunMeta(block_size_tokens=16)) as w:
        w.write(LlmCall(model="m", prompt_tokens=40, completion_tokens=30, prompt_block_hashes=chain[:16],
                        output_block_hashes=chain[16:]))
    row = read_trace(tmp_path / "o.arrow").frame().row(0, named=True)
    assert row["prompt_block_hashes"] == hashes_to_list(block_hashes(prompt, 16))
    assert len(row["output_block_hashes"]) == 2 and row["output_block_hashes"] == hashes_to_list(chain)[2:]


def test_prompt_text_is_stored_as_deltas_and_rebuilt(tmp_path):
    spec = SyntheticSpec(requests=3, iterations=5)
    path = write_synthetic(tmp_path / "t.arrow", spec)
    tr = read_trace(path)
    llm = tr.events("llm_call")
    based = llm.filter(pl.col("prompt_text_base_event_id").is_not_null())
    assert based.height == spec.requests * (spec.iterations - 1)
    # each delta is far smaller than the prompt it rebuilds
    texts = tr.prompt_texts()
    for row in based.iter_rows(named=True):
        full = texts[row["event_id"]]
        assert full.startswith(texts[row["prompt_text_base_event_id"]][: row["prompt_text_prefix_chars"]])
        assert len(row["prompt_text_delta"]) < len(full) / 4
    # the rebuilt texts equal what was written, in order
    counter = iter(range(10**6))
    expected = [r.prompt_text for r in agent_events(spec, lambda: next(counter)) if isinstance(r, LlmCall)]
    assert [texts[e] for e in llm["event_id"]] == expected


def test_writer_without_text_drops_payload_columns(tmp_path):
    path = write_synthetic(tmp_path / "t.arrow", SyntheticSpec(requests=2, iterations=2, text=False))
    tr = read_trace(path)
    assert tr.meta.text_payloads is False
    for col in ("prompt_text_delta", "output_text", "tool_output_text"):
        assert tr.table[col].null_count == tr.table.num_rows
    assert validate_trace(tr) == []


def test_batches_hold_one_kind_and_flush_by_rows(tmp_path):
    path = write_synthetic(tmp_path / "t.arrow", SyntheticSpec(requests=6, iterations=4), flush_rows=10)
    reader = pa.ipc.open_file(str(path))
    kinds = [set(reader.get_batch(i)["kind"].to_pylist()) for i in range(reader.num_record_batches)]
    assert all(len(k) == 1 for k in kinds)
    assert max(reader.get_batch(i).num_rows for i in range(reader.num_record_batches)) == 10
    assert reader.num_record_batches >= 6 * 4 * 2 // 10


def test_timer_flush_makes_events_durable_without_close(tmp_path):
    import time

    path = tmp_path / "t.arrow"
    w = TraceWriter(path, flush_interval_s=0.05)
    w.write(Request(item_id="a"))
    deadline = time.monotonic() + 5
    while w.rows_written < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.rows_written == 1
    tr = read_trace(path)  # unfinished file, read as the writer left it
    assert not tr.complete and tr.table.num_rows == 1
    w.close()
    assert read_trace(path).complete


def test_emit_fast_path_and_row_fields(tmp_path):
    cols = row_fields("engine_sample")
    assert cols[:6] == ("event_id", "request_id", "parent_event_id", "start_ns", "end_ns", "engine_kv_cache_usage_frac")
    with TraceWriter(tmp_path / "t.arrow") as w:
        for i in range(100):
            row = {c: None for c in cols} | {"event_id": w.new_id(), "start_ns": i, "end_ns": i, "engine_running": i}
            w.emit("engine_sample", tuple(row[c] for c in cols))
    df = read_trace(tmp_path / "t.arrow").frame()
    assert df["engine_running"].to_list() == list(range(100))


def test_existing_file_is_not_overwritten(tmp_path):
    path = tmp_path / "t.arrow"
    path.write_bytes(b"precious")
    with pytest.raises(TraceError, match="exists"):
        TraceWriter(path)
    assert path.read_bytes() == b"precious"


def test_scan_reads_lazily_with_polars(synthetic_trace):
    lf = scan_trace(synthetic_trace)
    out = lf.filter(pl.col("kind") == "llm_call").select("event_id", "prompt_tokens").collect()
    assert out.height == 16 and out["prompt_tokens"].min() > 1400
    meta, version = read_meta(synthetic_trace)
    assert version == (1, 1) and meta.config["agent"] == "react"


def test_plain_pyarrow_and_polars_read_a_trace_without_agentledger(synthetic_trace):
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['agentledger'] = None\n"  # any import of agentledger would fail
        "import pyarrow as pa, polars as pl, json\n"
        f"t = pa.ipc.open_file({str(synthetic_trace)!r}).read_all()\n"
        f"df = pl.scan_ipc({str(synthetic_trace)!r}).filter(pl.col('kind') == 'llm_call').collect()\n"
        "meta = json.loads(t.schema.metadata[b'agentledger.meta'])\n"
        "print(t.num_rows, df.height, t.schema.metadata[b'agentledger.version'].decode(), meta['block_size_tokens'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "16" and out[2] == "1.1" and out[3] == "16" and int(out[0]) > 32
