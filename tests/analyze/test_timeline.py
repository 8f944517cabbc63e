"""`analyze timeline`: Chrome/Perfetto trace-event JSON with request tracks, call spans and counters."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from typer.testing import CliRunner

from agentledger.analyze.cli import app
from agentledger.analyze.load import open_traces
from agentledger.analyze.timeline import default_out, write_timeline
from agentledger.errors import UsageError
from agentledger.traceformat import EngineSample, GpuSample, RunMeta, TraceWriter
from tests.analyze.conftest import MS, config, llm, req, tool, write_events


def check_nesting(events: list[dict]) -> dict[tuple, list[tuple]]:
    """Replay b/e events per async track (pid, cat, id) in file order: every end closes the innermost open span
    of the same name, and every span is closed. Returns the closed spans (name, start, end, depth) per track."""
    stacks: dict[tuple, list[tuple]] = defaultdict(list)
    spans: dict[tuple, list[tuple]] = defaultdict(list)
    last_ts: dict[int, float] = defaultdict(lambda: float("-inf"))
    for e in events:
        if e["ph"] == "M":
            continue
        assert e["ts"] >= last_ts[e["pid"]], "each process's events are in timestamp order"
        last_ts[e["pid"]] = e["ts"]
        if e["ph"] not in "be":
            continue
        track = (e["pid"], e["cat"], e["id"])
        if e["ph"] == "b":
            stacks[track].append((e["name"], e["ts"]))
        else:
            name, start = stacks[track].pop()
            assert name == e["name"]
            spans[track].append((name, start, e["ts"], len(stacks[track])))
    assert all(not s for s in stacks.values())
    return spans


@pytest.fixture
def hand(tmp_path):
    return write_events(tmp_path / "tl.arrow", [
        req(0, 0, 100, outcome="correct"),
        llm(1, 0, 0, 40, queue_ms=5, prefill_ms=10, decode_ms=20, iteration=0, role="planner", prompt_tokens=50),
        tool(2, 0, 40, 70, iteration=0), tool(3, 0, 45, 60, name="lookup", iteration=0),  # two tools at once
        llm(4, 0, 70, 90, iteration=1, prompt_tokens=80),  # no server timings: no sub-spans
        llm(9, 77, 0, 5),  # names no request event: a track of its own
        GpuSample(start_ns=10 * MS, end_ns=10 * MS, gpu_index=0, gpu_power_w=150.0, gpu_util_pct=40.0),
        EngineSample(start_ns=20 * MS, end_ns=20 * MS, engine_kv_cache_usage_frac=0.25, engine_running=2,
                     engine_waiting=0),
    ])


def test_tracks_spans_and_counters(hand, tmp_path):
    res = write_timeline(open_traces([hand]), tmp_path / "out.json")
    doc = json.loads(res.out.read_text())
    assert doc["displayTimeUnit"] == "ms" and doc["otherData"]["traces"] == [str(hand)]
    spans = check_nesting(doc["traceEvents"])
    main, extra = spans[(1, "agent", "1.0")], spans[(1, "agent", "1.0.1")]
    by_name = {s[0]: s for s in main}
    assert by_name["request 0 item-0"] == ("request 0 item-0", 0, 100_000, 0)
    assert by_name["llm planner #0"] == ("llm planner #0", 0, 40_000, 1)
    assert [s[:3] for s in main if s[3] == 2] == [("queue", 0, 5000), ("prefill", 5000, 15000), ("decode", 15000, 35000)]
    assert by_name["tool search"][1:3] == (40_000, 70_000) and by_name["llm actor #1"][1:3] == (70_000, 90_000)
    assert extra == [("tool lookup", 45_000, 60_000, 0)]  # overlaps the search call: its own track
    counters = [e for e in doc["traceEvents"] if e["ph"] == "C"]
    assert {(e["name"], e["ts"], json.dumps(e["args"])) for e in counters} == {
        ("GPU0 power", 10_000, '{"W": 150.0}'), ("GPU0 utilization", 10_000, '{"%": 40.0}'),
        ("KV cache usage", 20_000, '{"%": 25.0}'), ("engine requests", 20_000, '{"running": 2, "waiting": 0}')}
    names = [e for e in doc["traceEvents"] if e["ph"] == "M" and e["name"] == "process_name"]
    assert names[0]["args"]["name"].startswith("tl.arrow")
    row = res.summary.row(0, named=True)
    assert (row["requests"], row["llm_calls"], row["tool_calls"], row["phase_spans"], row["extra_tracks"]) == (1, 3, 2, 3, 1)
    assert row["unattributed_calls"] == 1 and row["counter_samples"] == 4 and row["events"] == len(doc["traceEvents"])
    assert spans[(1, "agent", "1.77")] == [("llm actor", 0, 5000, 1), ("request 77 (no request event)", 0, 5000, 0)]
    assert any("no request event" in n for n in res.notes)
    first = next(e for e in doc["traceEvents"] if e["ph"] == "b" and e["name"].startswith("llm planner"))
    assert first["args"] == {"event_id": 1, "role": "planner", "iteration": 0, "ok": True, "prompt_tokens": 50}


def test_touching_spans_end_before_the_next_begins(hand, tmp_path):
    events = json.loads(write_timeline(open_traces([hand]), tmp_path / "o.json").out.read_text())["traceEvents"]
    at_40 = [(e["ph"], e["name"]) for e in events if e.get("ts") == 40_000 and e["ph"] in "be"]
    assert at_40 == [("e", "llm planner #0"), ("b", "tool search")]


def test_cli_and_default_path(hand, tmp_path, synthetic_trace):
    res = CliRunner().invoke(app, ["timeline", str(hand), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["out"] == str(default_out(hand)) == str(tmp_path / "tl.timeline.json")
    assert data["summary"][0]["llm_calls"] == 3
    out = tmp_path / "syn.json"
    res = CliRunner().invoke(app, ["timeline", str(synthetic_trace), str(hand), "-o", str(out)])
    assert res.exit_code == 0 and "synthetic.arrow" in res.stdout
    doc = json.loads(out.read_text())
    spans = check_nesting(doc["traceEvents"])
    assert {track[0] for track in spans} == {1, 2}  # one process per trace
    assert sum(1 for e in doc["traceEvents"] if e["ph"] == "b" and e["name"].startswith("request")) == 4 + 1 + 1
    bad = CliRunner().invoke(app, ["timeline", str(hand), "-o", str(tmp_path / "no" / "x.json")])
    assert bad.exit_code == 2 and "does not exist" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    with pytest.raises(UsageError):
        write_timeline(open_traces([hand]), tmp_path / "missing" / "t.json")


@pytest.mark.parametrize("command", ["gpu", "prefix", "memory", "timeline"])
def test_empty_trace_is_refused_in_one_line(tmp_path, command):
    with TraceWriter(tmp_path / "empty.arrow", RunMeta(config=config()), text=False):
        pass
    res = CliRunner().invoke(app, [command, str(tmp_path / "empty.arrow")])
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [f"error: {tmp_path / 'empty.arrow'}: the trace holds no events (the "
                                               "capture recorded nothing); remove it from the command"]
