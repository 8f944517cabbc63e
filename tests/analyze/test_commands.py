"""The analysis subcommands end to end: JSON, tables, charts, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from agentledger.analyze.cli import app
from agentledger.traceformat import RunMeta, TraceWriter
from tests.analyze.conftest import config, llm, req, tool, write_events

COMMANDS = ("calls", "breakdown", "latency", "tokens")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def small(tmp_path):
    return write_events(tmp_path / "small.arrow", [
        req(0, 0, 100), llm(1, 0, 0, 60, iteration=0, prompt_tokens=10, completion_tokens=3), tool(2, 0, 60, 90)])


@pytest.mark.parametrize("command", COMMANDS)
def test_json_names_command_groups_and_traces(small, command):
    res = invoke(command, str(small), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["command"] == command and data["groups"][0]["group"] == "react/hotpotqa"
    assert data["groups"][0]["traces"] == [str(small)] and isinstance(data["summary"], list) and data["summary"]


def test_json_values(small):
    bd = {r["component"]: r for r in json.loads(invoke("breakdown", str(small), "--json").stdout)["summary"]}
    assert bd["llm"]["mean_s"] == pytest.approx(0.06) and bd["other"]["mean_s"] == pytest.approx(0.01)
    assert bd["llm_queue"]["mean_s"] is None  # no server timings: null, not 0
    lat = json.loads(invoke("latency", str(small), "--json").stdout)
    assert lat["summary"][0]["p99_s"] == pytest.approx(0.1) and len(lat["cdf"]) == 101
    tok = json.loads(invoke("tokens", str(small), "--json").stdout)
    assert tok["calls"] == 1 and tok["summary"][0]["mean"] == 10 and tok["notes"]


@pytest.mark.parametrize("command", COMMANDS)
def test_table_output(small, command):
    res = invoke(command, str(small))
    assert res.exit_code == 0 and "react/hotpotqa" in res.stdout
    assert {"calls": "tool_calls:search", "breakdown": "llm_only", "latency": "p99_s", "tokens": "completion"}[command] in res.stdout


@pytest.mark.parametrize("ext, magic", [(".svg", b"<svg"), (".png", b"\x89PNG"), (".html", b"<!DOCTYPE html>")])
@pytest.mark.parametrize("command", COMMANDS)
def test_charts(small, tmp_path, command, ext, magic):
    out = tmp_path / f"{command}{ext}"
    res = invoke(command, str(small), "--chart", str(out))
    assert res.exit_code == 0, res.output
    data = out.read_bytes()
    assert data.lstrip()[: len(magic)].lower() == magic.lower()
    if ext == ".html":
        assert b"vega" in data and b"https://cdn" not in data  # self-contained: scripts inlined


def _empty(path):
    with TraceWriter(path, RunMeta(config=config()), text=False):
        pass
    return path


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case, expect", [
    ("empty", "the trace holds no events"),
    ("no_requests", "no request events; analyze {command} needs"),
    ("no_match", "no file matches"),
    ("bad_by", "unknown --by value 'agent'"),
    ("bad_chart", "unknown chart format '.pdf'"),
    ("chart_folder", "does not exist"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, small, command, case, expect):
    args = [command]
    if case == "empty":
        args.append(str(_empty(tmp_path / "empty.arrow")))
    elif case == "no_requests":
        args.append(str(write_events(tmp_path / "noreq.arrow", [llm(1, 0, 0, 5, prompt_tokens=3)])))
    elif case == "no_match":
        args.append(str(tmp_path / "nope-*.arrow"))
    elif case == "bad_by":
        args += [str(small), "--by", "agent"]
    elif case == "bad_chart":
        args += [str(small), "--chart", str(tmp_path / "c.pdf")]
    elif case == "chart_folder":
        args += [str(small), "--chart", str(tmp_path / "missing" / "c.svg")]
    if case == "no_requests" and command == "tokens":
        expect = None  # tokens needs LLM calls only, and this trace has one
    res = invoke(*args)
    if expect is None:
        assert res.exit_code == 0, res.output
        return
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and expect.format(command=command) in lines[0], res.stderr
    assert res.stdout == ""


def test_tokens_without_llm_calls(tmp_path):
    p = write_events(tmp_path / "reqonly.arrow", [req(0, 0, 5)])
    res = invoke("tokens", str(p))
    assert res.exit_code == 2 and "no llm_call events; analyze tokens needs LLM calls" in res.stderr


def test_real_process_exit_codes(small, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "agentledger.analyze.cli", "breakdown", str(small), "--json"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["command"] == "breakdown"
    bad = subprocess.run([sys.executable, "-m", "agentledger.analyze.cli", "latency", str(tmp_path / "missing.arrow")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr + bad.stdout
    assert len(bad.stderr.strip().splitlines()) == 1
