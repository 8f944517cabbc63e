"""The analyze CLI: info, validate, recover, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pytest

from agentledger.traceformat import read_trace


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentledger.analyze.cli", *args], capture_output=True, text=True)


def test_version_names_package_and_format():
    for mod in ("agentledger.analyze.cli", "agentledger.capture.cli"):
        out = subprocess.run([sys.executable, "-m", mod, "--version"], capture_output=True, text=True)
        assert out.returncode == 0 and "trace format 1.1" in out.stdout and out.stdout.startswith("agentledger ")


def test_info_json_and_table(synthetic_trace):
    out = run("info", str(synthetic_trace), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["format_version"] == "1.1" and data["complete"] is True
    assert data["events_per_kind"]["llm_call"] == 16 and data["events_per_kind"]["request"] == 4
    assert data["config"]["agent"] == "react" and data["duration_s"] > 0
    assert data["size_bytes"] == synthetic_trace.stat().st_size
    table = run("info", str(synthetic_trace))
    assert table.returncode == 0 and "llm_call" in table.stdout and "react / hotpotqa" in table.stdout


def test_validate_ok_and_violations(synthetic_trace, tmp_path):
    ok = run("validate", str(synthetic_trace), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["valid"] is True
    t = pa.ipc.open_file(str(synthetic_trace)).read_all()
    end = t["end_ns"].to_pylist()
    end[0] = -1
    t = t.set_column(t.schema.get_field_index("end_ns"), "end_ns", pa.array(end, pa.int64()))
    bad = tmp_path / "bad.arrow"
    with pa.OSFile(str(bad), "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
        w.write_table(t)
    res = run("validate", str(bad))
    assert res.returncode == 1 and "time_order" in res.stdout and "1 violation" in res.stderr
    js = json.loads(run("validate", str(bad), "--json").stdout)
    assert js["valid"] is False and js["violations"][0]["rule"] == "time_order"


def test_recover_command(tmp_path, synthetic_trace):
    cut = tmp_path / "cut.arrow"
    data = synthetic_trace.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    res = run("recover", str(cut), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["was_complete"] is False and out["rows"] > 0
    assert read_trace(cut).complete


def _other_schema(p):
    t = pa.table({"x": [1, 2]})
    with pa.OSFile(str(p), "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
        w.write_table(t)


def _newer_major(p, src):
    t = pa.ipc.open_file(str(src)).read_all()
    md = dict(t.schema.metadata)
    md[b"agentledger.version"] = b"2.0"
    t = t.replace_schema_metadata(md)
    with pa.OSFile(str(p), "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
        w.write_table(t)


@pytest.mark.parametrize(
    "case, expect",
    [
        ("missing", "no such file"),
        ("empty", "empty file"),
        ("text", "not an Arrow IPC file"),
        ("truncated_head", "truncated before its schema"),
        ("other_schema", "not an agentledger trace"),
        ("newer_major", "upgrade agentledger"),
        ("directory", "is a directory"),
    ],
)
@pytest.mark.parametrize("command", ["info", "validate", "recover"])
def test_bad_input_is_one_line_exit_2(tmp_path, synthetic_trace, case, expect, command):
    p = tmp_path / f"{case}.arrow"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "text":
        p.write_text("{\"kind\": \"llm_call\"}\n")
    elif case == "truncated_head":
        p.write_bytes(synthetic_trace.read_bytes()[:12])
    elif case == "other_schema":
        _other_schema(p)
    elif case == "newer_major":
        _newer_major(p, synthetic_trace)
    elif case == "directory":
        p.mkdir()
    before = p.read_bytes() if p.is_file() else None
    res = run(command, str(p))
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and expect in lines[0] and str(p.name) in lines[0], res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    if before is not None:
        assert p.read_bytes() == before  # bad input is never modified
