"""Opening traces: globs, grouping by configuration, labels, and bad input."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from agentledger.analyze.load import config_key, expand_paths, open_traces
from agentledger.errors import TraceError, UsageError
from tests.analyze.conftest import config, llm, req, write_events


def _two(tmp_path, cfg_b=None):
    a = write_events(tmp_path / "run-a.arrow", [req(0, 0, 10), llm(1, 0, 0, 5)])
    b = write_events(tmp_path / "run-b.arrow", [req(0, 0, 20)], cfg_b)
    return a, b


def test_globs_expand_in_order_once(tmp_path):
    a, b = _two(tmp_path)
    assert expand_paths([str(tmp_path / "run-*.arrow"), str(a)]) == [a, b]
    with pytest.raises(UsageError, match="no file matches"):
        expand_paths([str(tmp_path / "nothing-*.arrow")])
    with pytest.raises(UsageError, match="no traces given"):
        expand_paths([])


def test_repeated_runs_pool_and_differing_configs_get_labels(tmp_path):
    a, b = _two(tmp_path)
    ts = open_traces([a, b])
    assert ts.labels == ["react/hotpotqa"] and ts.groups[0].paths == (a, b)  # seed and limit do not split groups
    (tmp_path / "x").mkdir()
    a, b = _two(tmp_path / "x", config(prefix_caching=False))
    ts = open_traces([a, b])
    assert ts.labels == ["react/hotpotqa prefix_caching=True", "react/hotpotqa prefix_caching=False"]
    assert [t.group for t in ts.traces] == ts.labels
    assert open_traces([a, b], by="trace").labels == ["run-a", "run-b"]


def test_scan_adds_trace_and_group(tmp_path):
    a, b = _two(tmp_path)
    df = open_traces([a, b]).scan("request", ["request_id", "end_ns"]).collect()
    assert df.columns == ["request_id", "end_ns", "trace", "group"]
    assert df["trace"].to_list() == [0, 1] and df["end_ns"].to_list() == [10_000_000, 20_000_000]


def test_config_key_leaves_out_instance_params():
    key = config_key(config())
    assert key["params"] == {"concurrency": 1} and key["flags"] == {"prefix_caching": True}


def test_unknown_by_is_a_usage_error(tmp_path):
    a, _ = _two(tmp_path)
    with pytest.raises(UsageError, match="unknown --by value 'run'; use one of: config, trace"):
        open_traces([a], by="run")


def _with_version(src, dst, version: str):
    t = pa.ipc.open_file(str(src)).read_all()
    md = dict(t.schema.metadata)
    md[b"agentledger.version"] = version.encode()
    meta = json.loads(md[b"agentledger.meta"])
    meta["version"] = version
    md[b"agentledger.meta"] = json.dumps(meta).encode()
    t = t.replace_schema_metadata(md)
    with pa.OSFile(str(dst), "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
        w.write_table(t)
    return dst


def test_mixed_incompatible_versions_are_refused(tmp_path):
    a, _ = _two(tmp_path)
    old = _with_version(a, tmp_path / "old.arrow", "0.9")
    with pytest.raises(TraceError, match=r"old.arrow: trace format 0.9 cannot be read with the others \(versions given: 0.9, 1.1\)"):
        open_traces([a, old])
    new = _with_version(a, tmp_path / "new.arrow", "2.0")
    with pytest.raises(TraceError, match="upgrade agentledger"):
        open_traces([a, new])
    newer_minor = _with_version(a, tmp_path / "minor.arrow", "1.3")
    ts = open_traces([a, newer_minor])  # a newer minor is compatible
    assert ts.scan("request", ["end_ns"]).collect()["trace"].to_list() == [0, 1]


def test_unfinished_trace_is_analyzed_from_its_flushed_batches(tmp_path):
    from agentledger.traceformat import read_trace
    from tests.conftest import write_synthetic

    full = write_synthetic(tmp_path / "full.arrow", flush_rows=8)
    cut = tmp_path / "cut.arrow"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert not read_trace(cut).complete
    ts = open_traces([cut])
    got = ts.scan("llm_call", ["event_id"]).collect()
    assert 0 < got.height < 16 and ts.scan("llm_call", ["event_id"]).collect().equals(got)
