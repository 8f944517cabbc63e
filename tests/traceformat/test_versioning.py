"""Older versions stay readable; newer majors are refused with a clear message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from agentledger.errors import TraceError
from agentledger.traceformat import read_trace, validate_trace
from agentledger.traceformat.migrate import parse_version

V1_0 = Path(__file__).parents[1] / "fixtures" / "trace_v1_0.arrow"


def _rewrite(src: Path, dst: Path, *, version: str | None = None, drop: tuple[str, ...] = (), add: dict | None = None):
    table = pa.ipc.open_file(str(src)).read_all()
    md = dict(table.schema.metadata)
    if version:
        md[b"agentledger.version"] = version.encode()
        meta = json.loads(md[b"agentledger.meta"])
        meta["version"] = version
        md[b"agentledger.meta"] = json.dumps(meta).encode()
    table = table.drop_columns(list(drop))
    for name, arr in (add or {}).items():
        table = table.append_column(name, arr)
    table = table.replace_schema_metadata(md)
    with pa.OSFile(str(dst), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    return dst


def test_v1_0_fixture_reads_and_validates():
    tr = read_trace(V1_0)
    assert tr.version == (1, 0) and tr.complete
    assert tr.frame().group_by("kind").len().height >= 4
    assert validate_trace(tr) == []


def test_v1_0_fixture_reads_the_1_1_column_as_nulls():
    raw = pa.ipc.open_file(str(V1_0)).read_all()
    assert "output_block_hashes" not in raw.schema.names  # written before format 1.1 added it
    tr = read_trace(V1_0)
    assert tr.extra_columns == [] and tr.table.schema.field("output_block_hashes").type == pa.list_(pa.uint64())
    assert tr.table["output_block_hashes"].null_count == tr.table.num_rows > 0
    llm = tr.events("llm_call")
    assert llm.height > 0 and llm["prompt_block_hashes"].null_count() < llm.height  # the 1.0 columns are intact


def test_older_minor_missing_columns_gets_nulls(tmp_path):
    p = _rewrite(V1_0, tmp_path / "old.arrow", drop=("engine_preemptions_total", "gpu_temp_c"))
    tr = read_trace(p)
    assert tr.table.schema.names[: len(read_trace(V1_0).table.schema)] == read_trace(V1_0).table.schema.names
    assert tr.table["gpu_temp_c"].null_count == tr.table.num_rows


def test_newer_minor_keeps_unknown_columns(tmp_path):
    n = read_trace(V1_0).table.num_rows
    p = _rewrite(V1_0, tmp_path / "newer.arrow", version="1.7", add={"future_col_ms": pa.array(range(n))})
    tr = read_trace(p)
    assert tr.version == (1, 7) and tr.extra_columns == ["future_col_ms"]
    assert tr.table["future_col_ms"].to_pylist() == list(range(n))


def test_newer_major_is_refused(tmp_path):
    p = _rewrite(V1_0, tmp_path / "v2.arrow", version="2.0")
    with pytest.raises(TraceError, match=r"format 2\.0, newer than this agentledger reads \(1\.x\); upgrade"):
        read_trace(p)


@pytest.mark.parametrize("bad", ["1", "1.x", "", "one.two"])
def test_bad_version_strings(bad):
    with pytest.raises(ValueError):
        parse_version(bad)


def test_fixture_is_not_regenerated_by_accident(tmp_path):
    # The fixture is a file written by format 1.0 and kept as is; a copy must read the same.
    shutil.copy(V1_0, tmp_path / "copy.arrow")
    assert read_trace(tmp_path / "copy.arrow").frame().equals(read_trace(V1_0).frame())
