"""A capture killed with SIGKILL loses nothing it had flushed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import polars as pl
import pyarrow as pa

from agentledger.traceformat import read_trace, recover_trace, validate_trace

PRODUCER = textwrap.dedent(
    """
    import sys, itertools
    from agentledger.traceformat import TraceWriter, RunMeta
    from agentledger.traceformat.synthetic import SyntheticSpec, agent_events
    w = TraceWriter(sys.argv[1], RunMeta(config={"agent": "react"}), flush_rows=500, flush_interval_s=0.2)
    written = 0
    for round_ in itertools.count():
        for rec in agent_events(SyntheticSpec(requests=4, iterations=4, seed=round_), w.new_id):
            w.write(rec)
            written += 1
        w.flush()
        print(written, flush=True)  # everything up to here is durable
    """
)


def test_sigkill_mid_stream_keeps_every_flushed_event(tmp_path):
    path = tmp_path / "killed.arrow"
    proc = subprocess.Popen([sys.executable, "-c", PRODUCER, str(path)], stdout=subprocess.PIPE, text=True)
    flushed = 0
    try:
        for _ in range(6):
            flushed = int(proc.stdout.readline())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and flushed > 0
    # plain pyarrow cannot open it as a file: the footer is missing
    try:
        pa.ipc.open_file(str(path))
        raise AssertionError("expected a file without footer")
    except pa.ArrowInvalid:
        pass
    tr = read_trace(path)  # transparent recovery
    assert not tr.complete and tr.table.num_rows >= flushed
    ids = tr.frame()["event_id"]
    assert ids.n_unique() == ids.len()
    # every event written before the last acknowledged flush is there, events after it may be
    assert validate_trace(tr, limit_per_rule=5) == [] or all(
        v.rule in ("request_exists", "parent_exists") for v in validate_trace(tr, limit_per_rule=5)
    )
    res = recover_trace(path, tmp_path / "recovered.arrow")
    assert not res.was_complete and res.rows == tr.table.num_rows
    fixed = read_trace(tmp_path / "recovered.arrow")
    assert fixed.complete and fixed.frame().equals(tr.frame())
    # and it scans from disk with polars like any complete trace
    assert pl.scan_ipc(tmp_path / "recovered.arrow").select(pl.len()).collect().item() == res.rows


def test_truncated_tail_is_ignored(tmp_path, synthetic_trace):
    data = synthetic_trace.read_bytes()
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(data[: len(data) * 2 // 3])  # no footer, last batch cut in the middle
    full = read_trace(synthetic_trace)
    part = read_trace(cut)
    assert not part.complete and 0 < part.batches < full.batches
    assert part.frame().equals(full.frame().head(part.table.num_rows))
