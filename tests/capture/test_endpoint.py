"""`capture serve`, `capture run --endpoint` against it, the /tokenize fallback, and a server that
dies mid-run: real vLLM, real processes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentledger.capture.client import LLMClient, Segment
from agentledger.traceformat import RunMeta, TraceWriter, read_trace, validate_trace

pytestmark = pytest.mark.engine

CLI = [sys.executable, "-m", "agentledger.capture.cli"]


def _run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, subprocess.Popen]]:
    """`capture serve` in its own process; yields its endpoint URL."""
    log = tmp_path_factory.mktemp("serve") / "vllm.log"
    proc = subprocess.Popen(CLI + ["serve", "--log", str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    url, lines, deadline = None, [], time.monotonic() + 300
    try:
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if m and "endpoint" in line:
                url = m.group(1)
        assert url, "capture serve printed no endpoint:\n" + "".join(lines) + proc.stderr.read()[-2000:]
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)


def test_serve_prints_a_ready_engine(served):
    url, proc = served
    assert proc.poll() is None


def test_run_against_an_endpoint_reads_engine_facts_from_the_server(served, tmp_path):
    url, _ = served
    out = tmp_path / "ep.arrow"
    res = _run(["run", "cot", "sharegpt", "--endpoint", url, "--limit", "4", "--max-tokens", "8", "--out", str(out),
                "--quiet"])
    assert res.returncode == 0, res.stderr[-2000:]
    tr = read_trace(out)
    assert validate_trace(tr) == []
    eng = tr.meta.config["engine"]
    assert eng["name"] == "vllm" and eng["version"] == "0.32.0" and eng["base_url"] == url
    assert eng["block_size_tokens"] == 128 and tr.meta.block_size_tokens == 128
    llm = tr.events("llm_call")
    assert llm.height == 4 and llm["ok"].all() and llm["server_prefill_ns"].is_not_null().all()
    assert not (tmp_path / "ep.server.log").exists()  # no embedded engine: no server log of ours


def test_tokenize_fallback_gives_the_same_block_hashes(served, tmp_path):
    url, _ = served
    text = "The quick brown fox jumps over the lazy dog. " * 40  # > 2 blocks of 128 tokens
    segments = [Segment("instruction", "Repeat.", role="system"), Segment("user", text)]

    async def one(path: Path, extras: bool):
        with TraceWriter(path, RunMeta(block_size_tokens=128)) as w:
            client = LLMClient(url, "SmolLM2-135M-Instruct", w, block_size=128, vllm_extras=extras)
            res = await client.chat(segments, request_id=None, parent_event_id=None, max_tokens=2)
            await client.aclose()
        return res, read_trace(path).events("llm_call")

    res_ids, direct = asyncio.run(one(tmp_path / "a.arrow", True))
    res_tok, fallback = asyncio.run(one(tmp_path / "b.arrow", False))
    assert res_ids.ok and res_tok.ok
    h1, h2 = direct["prompt_block_hashes"][0].to_list(), fallback["prompt_block_hashes"][0].to_list()
    assert len(h1) == res_ids.prompt_tokens // 128 >= 2
    assert h1 == h2


def test_bad_input_through_the_cli(tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    res = _run(["run", "cot", "sharegpt", "--model", str(empty), "--limit", "1", "--out", str(tmp_path / "x.arrow")])
    assert res.returncode == 2 and "config.json" in res.stderr and "Traceback" not in res.stderr
    assert [ln for ln in res.stderr.splitlines() if ln.strip()][-1].startswith("error: ")  # one line, last
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = _run(["serve", "--port", str(port)], timeout=120)
    assert res.returncode == 2 and str(port) in res.stderr and "Traceback" not in res.stderr
    res = _run(["run", "cot", "sharegpt", "--endpoint", "http://127.0.0.1:9", "--limit", "1",
                "--out", str(tmp_path / "y.arrow")])
    assert res.returncode == 2 and "127.0.0.1:9" in res.stderr and "Traceback" not in res.stderr


def test_server_dying_mid_run_leaves_a_valid_trace(served, tmp_path):
    """Last in this module: it stops the shared server."""
    url, serve = served
    out = tmp_path / "dies.arrow"
    run = subprocess.Popen(CLI + ["run", "cot", "sharegpt", "--endpoint", url, "--limit", "60", "--concurrency", "4",
                                  "--max-tokens", "128", "--out", str(out), "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    done = 0
    while time.monotonic() < deadline and done < 4:  # wait until some tasks are on disk
        time.sleep(1.0)
        try:
            done = read_trace(out).events("request").height
        except Exception:
            done = 0
    assert done >= 4, "the run did not get going"
    os.killpg(serve.pid, signal.SIGTERM)  # the server goes away while calls are in flight
    assert serve.wait(90) == 0
    stdout, stderr = run.communicate(timeout=240)
    assert run.returncode == 2, stderr[-2000:]
    assert "stopped answering" in stderr and str(out) in stderr.replace("\n", "") and "Traceback" not in stderr
    tr = read_trace(out)
    assert validate_trace(tr) == []
    llm, req = tr.events("llm_call"), tr.events("request")
    failed = llm.filter(~llm["ok"])
    assert failed.height >= 1 and failed["error"].is_not_null().all()
    assert llm.filter(llm["ok"]).height >= 4
    assert req.height < 60  # tasks not started once the engine was gone
