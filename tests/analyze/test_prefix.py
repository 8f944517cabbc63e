"""`analyze prefix`: block-hash overlap, the ideal and LRU cache simulations, and agreement with the engine."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from agentledger.analyze.cli import app
from agentledger.analyze.load import open_traces
from agentledger.analyze.lru import (
    CallBlocks,
    coarsen,
    coarsen_with_output,
    consecutive_overlap,
    leading_true,
    schedule,
    simulate,
)
from agentledger.analyze.prefix import prefix_calls, prefix_stats
from agentledger.errors import TraceError, UsageError
from agentledger.traceformat import RunMeta, TraceWriter
from agentledger.traceformat.hashing import block_hashes
from tests.analyze.conftest import MS, config, llm, req

BS = 4  # block size of the hand-made traces


def blocks_of(*calls: list[int]) -> CallBlocks:
    return CallBlocks(np.array([h for c in calls for h in c], np.uint64),
                      np.concatenate([[0], np.cumsum([len(c) for c in calls])]).astype(np.int64))


def write(path: Path, events, *, block_size: int | None = BS, **flags) -> Path:
    meta = RunMeta(config=config(**flags), block_size_tokens=block_size)
    with TraceWriter(path, meta, text=False) as w:
        for e in events:
            w.write(e)
    return path


def call(eid: int, rid: int, start_ms: float, tokens: list[int], cached: int | None, **kw):
    return llm(eid, rid, start_ms, start_ms + 1, prompt_tokens=len(tokens), cached_tokens=cached,
               prompt_block_hashes=block_hashes(tokens, BS), **kw)


# --- the simulation core --------------------------------------------------------------------------------------------


def test_leading_true_per_segment():
    mask = np.array([1, 1, 0, 1, 0, 1, 1, 1], bool)
    assert leading_true(mask, np.array([0, 4, 4, 5, 8])).tolist() == [2, 0, 0, 3]


def test_hand_example_ideal_lru_cross_and_consecutive():
    # calls A, B (request 0), C, D (request 1); capacity 4 blocks
    cb = blocks_of([1, 2, 3], [1, 2, 4], [5, 6], [1, 2, 3])
    hits = simulate(cb, np.array([0, 0, 1, 1]), capacity=4)
    assert hits.ideal.tolist() == [0, 2, 0, 3]
    # after A: {1, 2, 3}; B hits 1, 2 and adds 4 (4 blocks); C adds 6, 5 and evicts the least recent: 3 (A's tail)
    # and 4 (B's tail), so D finds 1, 2 but not 3
    assert hits.lru.tolist() == [0, 2, 0, 2]
    assert hits.cross_request.tolist() == [0, 0, 0, 3]  # D's prefix was seen in request 0; B's only in its own
    assert consecutive_overlap(cb, np.array([-1, 0, -1, 2])).tolist() == [0, 2, 0, 0]
    assert simulate(cb, np.array([0, 0, 1, 1]), capacity=0).lru.tolist() == [0, 0, 0, 0]


def _lead(blocks: list[int], pred) -> int:
    k = 0
    while k < len(blocks) and pred(blocks[k]):
        k += 1
    return k


def _reference(calls: list[list[int]], requests: list[int], capacity: int) -> tuple[list[int], list[int], list[int]]:
    """A plain OrderedDict LRU and sets, block by block."""
    lru: OrderedDict[int, None] = OrderedDict()
    owners: dict[int, set[int]] = {}
    ideal, cached, cross = [], [], []
    for blocks, r in zip(calls, requests, strict=True):
        ideal.append(_lead(blocks, lambda h: h in owners))
        cross.append(_lead(blocks, lambda h, r=r: bool(owners.get(h, set()) - {r})))
        cached.append(_lead(blocks, lambda h: h in lru))
        for h in reversed(blocks):  # tail first: the tail is the least recently used
            lru.pop(h, None)
            lru[h] = None
            owners.setdefault(h, set()).add(r)
        while len(lru) > capacity:
            lru.popitem(last=False)
    return ideal, cached, cross


@pytest.mark.parametrize("seed", range(12))
def test_vectorized_lru_matches_a_plain_lru(seed):
    rng = np.random.default_rng(seed)
    shared = [int(x) for x in rng.integers(1, 2**62, 30)]
    prompts = {r: shared[: rng.integers(0, 30)] for r in range(int(rng.integers(2, 10)))}
    calls, requests = [], []
    for _ in range(int(rng.integers(10, 60))):
        r = int(rng.choice(list(prompts)))
        prompts[r] = prompts[r] + [int(x) for x in rng.integers(1, 2**62, rng.integers(0, 8))]
        chain, prev = [], 0
        for tok in prompts[r]:
            prev = hash((prev, tok)) & (2**64 - 1)
            chain.append(prev)
        calls.append(chain)
        requests.append(r)
    capacity = int(rng.integers(0, 120))
    hits = simulate(blocks_of(*calls), np.array(requests), capacity)
    ideal, cached, cross = _reference(calls, requests, capacity)
    assert hits.ideal.tolist() == ideal and hits.lru.tolist() == cached and hits.cross_request.tolist() == cross


def _chain(r: int, n: int) -> list[int]:
    out, prev = [], 0
    for tok in range(n):
        prev = hash((prev, r, tok)) & (2**64 - 1)
        out.append(prev)
    return out


def _event_reference(prompts, outputs, starts, ends, requests, capacity):
    """Plain Python: a call's start looks up and inserts its prompt blocks, its end inserts its output blocks;
    events in time order, an end before a start at the same time, then in call order."""
    events = sorted([(starts[c], 1, c) for c in range(len(prompts))]
                    + [(ends[c], 0, c) for c in range(len(prompts)) if outputs[c]])
    segments = [prompts[c] if is_start else outputs[c] for _, is_start, c in events]
    ideal, cached, cross = _reference(segments, [requests[c] for _, _, c in events], capacity)
    at = {c: i for i, (_, is_start, c) in enumerate(events) if is_start}
    return ([ideal[at[c]] for c in range(len(prompts))], [cached[at[c]] for c in range(len(prompts))],
            [cross[at[c]] for c in range(len(prompts))])


@pytest.mark.parametrize("seed", range(8))
def test_output_blocks_enter_the_caches_when_calls_end(seed):
    """Agent-shaped runs whose next prompt repeats the last output: ``schedule`` + ``simulate`` equal the plain
    event-by-event caches."""
    rng = np.random.default_rng(seed)
    n_req = int(rng.integers(2, 6))
    length = {r: int(rng.integers(0, 5)) for r in range(n_req)}  # blocks of the request's chain so far
    free_at = dict.fromkeys(range(n_req), 0)
    prompts, outputs, starts, ends, requests = [], [], [], [], []
    for _ in range(int(rng.integers(8, 40))):
        r = int(rng.choice(n_req))
        chain = _chain(r % 2, 200)  # requests r and r + 2 share their chain: cross-request hits
        start = free_at[r] + int(rng.integers(0, 3))
        end = start + int(rng.integers(0, 6))
        n_out = int(rng.integers(0, 3))
        prompts.append(chain[:length[r]])
        outputs.append(chain[length[r]:length[r] + n_out])
        starts.append(start)
        ends.append(end)
        requests.append(r)
        length[r] += n_out + int(rng.integers(0, 3)) * int(rng.random() < 0.8)  # the next prompt repeats the output
        free_at[r] = end
    order = np.lexsort((np.arange(len(starts)), starts))  # calls in start order
    prompts, outputs = [prompts[i] for i in order], [outputs[i] for i in order]
    starts, ends, requests = ([x[i] for i in order] for x in (starts, ends, requests))
    capacity = int(rng.integers(0, 40))
    segments, call, at = schedule(blocks_of(*prompts), blocks_of(*outputs), np.array(starts), np.array(ends))
    hits = simulate(segments, np.array(requests)[call], capacity)
    ideal, cached, cross = _event_reference(prompts, outputs, starts, ends, requests, capacity)
    assert hits.ideal[at].tolist() == ideal and hits.lru[at].tolist() == cached
    assert hits.cross_request[at].tolist() == cross


def test_schedule_orders_ends_before_starts_at_equal_times():
    # call 0 runs [0, 5) with output blocks [8, 9]; call 1 starts at 5 (the end: sees them), call 2 at 3 (does not)
    prompt, output = blocks_of([1, 2], [1, 2, 8, 9, 3], [1, 2, 8]), blocks_of([8, 9], [], [])
    segments, call, at = schedule(prompt, output, np.array([0, 3, 5]), np.array([5, 9, 9]))
    assert call.tolist() == [0, 1, 0, 2] and at.tolist() == [0, 1, 3]
    assert segments.hashes.tolist() == [1, 2, 1, 2, 8, 9, 3, 8, 9, 1, 2, 8]
    assert simulate(segments, np.array([0, 1, 0, 2]), 100).ideal[at].tolist() == [0, 2, 3]


def test_coarsen_with_output_splits_the_joined_chain():
    fine_p, fine_o = blocks_of([1, 2, 3], [4, 5]), blocks_of([6, 7, 8], [])
    p, o = coarsen_with_output(fine_p, fine_o, 2)
    # call 0: chain 1, 2, 3, 6, 7, 8 -> coarse 2, 6, 8; its prompt has floor(3 / 2) = 1 coarse block, and the
    # straddling coarse block 6 (fine blocks 3 and 6) is an output block; call 1: chain 4, 5 -> coarse 5
    assert p.hashes.tolist() == [2, 5] and p.offsets.tolist() == [0, 1, 2]
    assert o.hashes.tolist() == [6, 8] and o.offsets.tolist() == [0, 2, 2]
    assert coarsen_with_output(fine_p, fine_o, 1) == (fine_p, fine_o)


def test_coarsen_keeps_every_factor_th_hash():
    tokens = list(range(100, 140))  # 40 tokens: 10 blocks of 4, 5 of 8
    fine = CallBlocks(np.frombuffer(block_hashes(tokens, 4), np.uint64), np.array([0, 10]))
    coarse = coarsen(fine, 2)
    assert coarse.offsets.tolist() == [0, 5] and coarse.hashes.tolist() == fine.hashes[1::2].tolist()
    assert coarsen(blocks_of([1, 2, 3], [4]), 2).offsets.tolist() == [0, 1, 1]


# --- traces ---------------------------------------------------------------------------------------------------------

SHARED = list(range(1000, 1012))  # 3 blocks of 4 shared by both requests


@pytest.fixture
def hand(tmp_path):
    a0 = SHARED + [1, 2, 3, 4]  # 16 tokens, 4 full blocks
    b0 = SHARED + [9, 9, 9]  # 15 tokens, 3 blocks, all seen in request 0
    a1 = a0  # a retry: all 4 blocks cached, but the last token is recomputed, so only (16 - 1) // 4 = 3 are served
    b1 = b0 + [7]  # 16 tokens; its 4th block is new, yet the engine reported 16 cached tokens (one block too many)
    return write(tmp_path / "hand.arrow", [
        req(0, 0, 100), req(10, 0, 100),
        call(1, 0, 0, a0, 0, prefill_ms=9, client_ttft_ns=10 * MS),
        call(11, 10, 5, b0, 12, prefill_ms=3, client_ttft_ns=4 * MS),
        call(2, 0, 10, a1, 12, prefill_ms=1, client_ttft_ns=2 * MS),
        call(12, 10, 15, b1, 16, prefill_ms=2, client_ttft_ns=3 * MS),
    ])


def test_per_call_overlap_and_predictions(hand):
    per = prefix_calls(open_traces([hand]))
    rows = {r["event_id"]: r for r in per.to_dicts()}
    assert list(rows) == [1, 11, 2, 12]  # start order
    assert [rows[e]["blocks"] for e in rows] == [4, 3, 4, 4]
    assert [rows[e]["consecutive_blocks"] for e in rows] == [0, 0, 4, 3]
    assert [rows[e]["cross_request_blocks"] for e in rows] == [0, 3, 3, 3]
    assert [rows[e]["ideal_blocks"] for e in rows] == [0, 3, 4, 3]
    assert [rows[e]["ideal_tokens"] for e in rows] == [0, 12, 12, 12]
    assert all(r["lru_blocks"] is None and r["lru_tokens"] is None for r in rows.values())


def test_summary_and_agreement(hand):
    res = prefix_stats(open_traces([hand]))
    s = res.summary.row(0, named=True)
    prompt = 16 + 15 + 16 + 16
    assert s["calls"] == 4 and s["prompt_tokens"] == prompt and s["block_size_tokens"] == BS
    assert s["consecutive_overlap_share"] == pytest.approx((4 + 3) * BS / prompt)
    assert s["cross_request_overlap_share"] == pytest.approx(9 * BS / prompt)
    assert s["ideal_hit_rate"] == pytest.approx(36 / prompt)
    assert s["reported_hit_rate"] == pytest.approx(40 / prompt) and s["lru_hit_rate"] is None
    assert s["mean_prefill_s"] == pytest.approx(15 / 4 / 1000)
    a = res.agreement.to_dicts()
    assert [r["model"] for r in a] == ["ideal"]  # no capacity: no LRU
    assert a[0]["calls"] == 4 and a[0]["agreement_rate"] == 0.75 and a[0]["max_abs_error_tokens"] == 4
    assert a[0]["predicted_tokens"] == 36 and a[0]["reported_tokens"] == 40
    assert any("--capacity-blocks" in n for n in res.notes)


def test_capacity_from_option_and_from_engine_flags(hand, tmp_path):
    # capacity 3: a0's tail block is evicted at once (tail blocks are the least recent), so the retry a1 finds 3
    assert prefix_calls(open_traces([hand]), capacity_blocks=3)["lru_blocks"].to_list() == [0, 3, 3, 3]
    assert prefix_calls(open_traces([hand]), capacity_blocks=5)["lru_blocks"].to_list() == [0, 3, 4, 3]
    assert prefix_calls(open_traces([hand]), capacity_blocks=1)["lru_blocks"].to_list() == [0, 1, 1, 1]
    flagged = write(tmp_path / "flagged.arrow", [req(0, 0, 9), call(1, 0, 0, SHARED, 0), call(2, 0, 1, SHARED, 8)],
                    num_gpu_blocks=2)
    per = prefix_calls(open_traces([flagged]))
    assert per["capacity_blocks"].to_list() == [2, 2] and per["lru_blocks"].to_list() == [0, 2]
    assert per["lru_tokens"].to_list() == [0, 8]  # 12 prompt tokens: at most 2 blocks


def test_block_size_merges_hashes(hand):
    per = prefix_calls(open_traces([hand]), block_size=8)
    assert per["blocks"].to_list() == [2, 1, 2, 2] and per["block_size_tokens"].to_list() == [8] * 4
    assert per["ideal_blocks"].to_list() == [0, 1, 2, 1] and per["ideal_tokens"].to_list() == [0, 8, 8, 8]
    with pytest.raises(UsageError, match="--block-size 6 is not a multiple of .* block size 4"):
        prefix_calls(open_traces([hand]), block_size=6)
    with pytest.raises(UsageError, match="--capacity-blocks -1 is negative"):
        prefix_calls(open_traces([hand]), capacity_blocks=-1)


def test_missing_hashes_and_block_size(tmp_path):
    bare = write(tmp_path / "bare.arrow", [req(0, 0, 9), llm(1, 0, 0, 1, prompt_tokens=5)])
    with pytest.raises(TraceError, match="no llm_call has prompt_block_hashes"):
        prefix_stats(open_traces([bare]))
    nobs = write(tmp_path / "nobs.arrow", [req(0, 0, 9), llm(1, 0, 0, 1, prompt_tokens=40,
                                                                prompt_block_hashes=block_hashes(list(range(40)), 16))],
                 block_size=None)
    res = prefix_stats(open_traces([nobs]))
    assert res.summary["block_size_tokens"].to_list() == [16] and any("assuming 16" in n for n in res.notes)


def _split(prompt: list[int], output: list[int]) -> dict:
    """Prompt and output block hashes of a call as the capture records them (the last output token not computed)."""
    chain = block_hashes(prompt + output[:-1], BS)
    n = 8 * (len(prompt) // BS)
    return {"prompt_tokens": len(prompt), "completion_tokens": len(output), "prompt_block_hashes": chain[:n],
            "output_block_hashes": chain[n:]}


def test_a_prompt_repeating_an_output_hits_its_blocks(tmp_path):
    a = SHARED + [1, 2, 3]  # 15 tokens: 3 blocks
    out = [4, 5, 6, 7, 8, 9]  # 20 computed tokens: blocks [1, 2, 3, 4] (straddling) and [5, 6, 7, 8] are output
    b = a + out + [10, 11]  # the agent feeds the output back: 23 tokens, 5 blocks
    events = [req(0, 0, 100), req(10, 0, 100),
              llm(1, 0, 0, 10, cached_tokens=0, **_split(a, out)),
              llm(11, 10, 5, 30, cached_tokens=12, **_split(b, [1])),  # starts before call 1 ends: no output blocks
              llm(2, 0, 40, 50, cached_tokens=20, **_split(b, [1]))]
    per = prefix_calls(open_traces([write(tmp_path / "out.arrow", events)]), capacity_blocks=100)
    assert per["event_id"].to_list() == [1, 11, 2] and per["output_blocks"].to_list() == [2, 0, 0]
    assert per["ideal_blocks"].to_list() == [0, 3, 5] and per["lru_blocks"].to_list() == [0, 3, 5]
    assert per["ideal_tokens"].to_list() == per["cached_tokens"].to_list() == [0, 12, 20]
    assert per["cross_request_blocks"].to_list() == [0, 3, 5]  # call 11 (request 10) inserted b's 5 blocks
    alone = [e for e in events if e.event_id != 11]
    alone_trace = open_traces([write(tmp_path / "alone.arrow", alone)])
    per = prefix_calls(alone_trace)
    assert per["ideal_blocks"].to_list() == [0, 5] and per["cross_request_blocks"].to_list() == [0, 0]
    no_output = [e for e in alone if e.event_id != 1] + [llm(1, 0, 0, 10, **{**_split(a, out), "output_block_hashes": None})]
    per = prefix_calls(open_traces([write(tmp_path / "v10.arrow", no_output)]))
    assert per["ideal_blocks"].to_list() == [0, 3]  # prompt hashes alone: one block short of the engine
    coarse = prefix_calls(alone_trace, block_size=8)  # call 1 computed 20 tokens: 2 blocks of 8, 1 of them output
    assert coarse["output_blocks"].to_list() == [1, 0] and coarse["ideal_blocks"].to_list() == [0, 2]


def test_prefill_with_and_without_caching(hand, tmp_path):
    off = write(tmp_path / "off.arrow", [
        req(0, 0, 100), call(1, 0, 0, SHARED + [1], 0, prefill_ms=10, client_ttft_ns=12 * MS),
        call(2, 0, 10, SHARED + [1, 2], 0, prefill_ms=14, client_ttft_ns=16 * MS)], prefix_caching=False)
    res = prefix_stats(open_traces([hand, off]))
    c = res.caching.row(0, named=True)
    assert c["group_on"].endswith("prefix_caching=True") and c["group_off"].endswith("prefix_caching=False")
    assert c["mean_prefill_s_on"] == pytest.approx(0.00375) and c["mean_prefill_s_off"] == pytest.approx(0.012)
    assert c["prefill_speedup"] == pytest.approx(0.012 / 0.00375) and c["mean_ttft_s_off"] == pytest.approx(0.014)
    assert res.agreement["calls"].to_list() == [4]  # calls served without caching are not compared
    assert any("without prefix caching are left out" in n for n in res.notes)


def test_agrees_with_the_engine_on_every_trace(analysis_trace):
    """The synthetic trace reports vLLM's cached tokens (full blocks, the last token recomputed); every captured
    trace in tests/fixtures/captured runs here too, with the engine's block count where it was recorded: the
    prediction (prompt and output blocks) must equal the engine's cached_tokens on every call, no tolerance."""
    res = prefix_stats(open_traces([analysis_trace]))
    if res.agreement.height == 0:  # a capture without prefix caching or without cached_tokens: nothing to compare
        assert any("left out of the agreement" in n or "no cached_tokens" in n for n in res.notes)
        return
    rows = {r["model"]: r for r in res.agreement.to_dicts()}
    model = "lru" if "lru" in rows else "ideal"
    assert rows[model]["calls"] > 0 and rows[model]["agreement_rate"] == 1.0, rows[model]
    assert rows[model]["predicted_tokens"] == rows[model]["reported_tokens"]


def test_captured_hits_need_the_output_blocks():
    """In the real capture an agent's next prompt repeats its previous completion, and the engine served the
    completion's full block from its cache: prompt blocks alone predict those calls one block short."""
    path = Path(__file__).parents[1] / "fixtures" / "captured" / "react-hotpotqa-prefix-caching.arrow"
    ts = open_traces([path])
    per = prefix_calls(ts)
    assert per["output_blocks"].sum() > 0
    llm = ts.scan("llm_call", ["event_id", "output_block_hashes"]).collect()
    assert llm["output_block_hashes"].null_count() == 0  # every call recorded its output hashes (format 1.1)
    prompt_only = simulate(blocks_of(*per.join(ts.scan("llm_call", ["event_id", "prompt_block_hashes"]).collect(),
                                               on="event_id", maintain_order="left")["prompt_block_hashes"].to_list()),
                           per["request_id"].to_numpy(), None)
    short = per.with_columns(pl.Series("prompt_only", prompt_only.ideal)).filter(
        pl.col("ideal_blocks") > pl.col("prompt_only"))
    assert short.height > 0 and (short["ideal_blocks"] - short["prompt_only"]).to_list() == [1] * short.height
    assert (short["cached_tokens"] == short["ideal_tokens"]).all()


def test_cli_json_table_and_chart(hand, tmp_path):
    res = CliRunner().invoke(app, ["prefix", str(hand), "--json", "--capacity-blocks", "5"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["command"] == "prefix" and data["calls"] == 4 and data["blocks"] == 15
    assert data["summary"][0]["capacity_blocks"] == 5 and [r["model"] for r in data["agreement"]] == ["ideal", "lru"]
    assert [r["lru_blocks"] for r in data["per_call"]] == [0, 3, 4, 3]
    chart = tmp_path / "prefix.svg"
    table = CliRunner().invoke(app, ["prefix", str(hand), "--chart", str(chart)])
    assert table.exit_code == 0 and "ideal hit" in table.stdout and chart.read_text().lstrip().startswith("<svg")
    bad = CliRunner().invoke(app, ["prefix", str(hand), "--block-size", "6"])
    assert bad.exit_code == 2 and "not a multiple" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
