"""The embedded vLLM engine, against a real server (no mocks).

One session-scoped engine serves the probe/response tests and, on teardown,
proves that a normal ``stop()`` leaves no process behind. The other lifetime
cases start their own short-lived engines: in-process for an exception inside
``with``, and in a child "capture" process (a tiny script) that the test then
SIGINTs or SIGKILLs. "No process left" is checked in /proc against a snapshot
of the engine's process tree taken while it ran (pid + start time), plus any
process still carrying the engine's ``AGENTLEDGER_ENGINE_ID`` environment tag.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentledger.capture._process import group_members
from agentledger.capture.engine import ENGINE_ID_ENV, EmbeddedEngine, EngineConfig, probe_endpoint
from agentledger.capture.model import resolve_model
from agentledger.errors import EngineError, UsageError

SRC = Path(__file__).resolve().parents[2] / "src"
# Short-lived test engines need little KV cache; keeps memory low when two run at once.
SMALL = {"VLLM_CPU_KVCACHE_SPACE": "1"}


def _stat(pid: int) -> list[bytes] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def _live_pids() -> Iterator[tuple[int, list[bytes]]]:
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields is not None and fields[0] not in (b"Z", b"X"):
                yield int(name), fields


def tree(root: int) -> dict[int, bytes]:
    """``root`` and all its live descendants, as pid -> start time (guards against pid reuse)."""
    procs = dict(_live_pids())
    found = {root} if root in procs else set()
    grew = True
    while grew:
        kids = {pid for pid, f in procs.items() if int(f[1]) in found} - found
        found |= kids
        grew = bool(kids)
    return {pid: procs[pid][19] for pid in found}


def tagged(engine_id: str) -> set[int]:
    """Live processes whose environment still carries this engine id.

    vLLM's ``VLLM::EngineCore``/``VLLM::Worker`` rename themselves (setproctitle), which
    clobbers /proc/PID/environ, so this alone misses them: see :func:`tree`.
    """
    needle = f"{ENGINE_ID_ENV}={engine_id}".encode()
    found = set()
    for pid, _ in _live_pids():
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    found.add(pid)
        except OSError:
            pass
    return found


def survivors(engine_id: str, snapshot: dict[int, bytes]) -> list[int]:
    """Processes of a snapshot still alive (same start time), plus any still tagged."""
    alive = {
        pid for pid, start in snapshot.items() if (f := _stat(pid)) and f[0] not in (b"Z", b"X") and f[19] == start
    }
    return sorted(alive | tagged(engine_id))


def cmdlines(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                out.append(fh.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80])
        except OSError:
            pass
    return out


def wait_gone(engine_id: str, snapshot: dict[int, bytes], timeout_s: float) -> list[int]:
    """Poll until nothing of the engine is left; return the survivors (empty = good)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = survivors(engine_id, snapshot)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.25)


def assert_full_tree(snapshot: dict[int, bytes]) -> None:
    """The snapshot really holds a running vLLM: launcher, API server, engine core, worker."""
    names = " | ".join(cmdlines(list(snapshot)))
    assert "VLLM::EngineCore" in names and "VLLM::Worker" in names and "api_server" in names, names


def post(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        base_url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        answer: dict[str, Any] = json.load(resp)
    return answer


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- fast, no server


def test_model_folder_without_config_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a model folder"):
        resolve_model(str(tmp_path))
    with pytest.raises(UsageError, match="not a model folder"):
        EmbeddedEngine(EngineConfig(model=str(tmp_path))).start()


def test_hub_ids_pass_through() -> None:
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        engine = EmbeddedEngine(EngineConfig(port=port, log_path=tmp_path / "vllm.log"))
        with pytest.raises(EngineError, match=f"port {port}"):
            engine.start()
    assert engine.pid is None and not tagged(engine.engine_id)


def test_probe_unreachable_endpoint() -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    with pytest.raises(EngineError, match="cannot reach endpoint") as err:
        probe_endpoint(url, timeout_s=2)
    assert url in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- one shared server


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedEngine]:
    """One real server for the session; its teardown checks that stop() leaves nothing behind."""
    log = tmp_path_factory.mktemp("engine") / "vllm.log"
    eng = EmbeddedEngine(EngineConfig(log_path=log))
    eng.start()
    try:
        yield eng
    finally:
        assert eng.pid is not None
        pgid, snapshot, tmpdir = eng.pid, tree(eng.pid), eng.tmpdir
        assert_full_tree(snapshot)
        assert tmpdir is not None and any(tmpdir.iterdir())  # vLLM's sockets live there
        eng.stop()
        assert not tmpdir.exists()
        # (a) normal stop: the whole tree is gone as soon as stop() returns.
        left = survivors(eng.engine_id, snapshot)
        assert left == [], cmdlines(left)
        assert group_members(pgid) == []


@pytest.mark.engine
def test_engine_info(engine: EmbeddedEngine) -> None:
    info = engine.info
    assert info.name == "vllm" and info.version
    assert info.base_url == engine.base_url and engine.base_url.startswith("http://127.0.0.1:")
    assert info.served_model == engine.served_model == "SmolLM2-135M-Instruct"
    assert info.block_size_tokens and info.block_size_tokens > 0
    assert info.flags["prefix_caching"] is True
    assert info.flags["device"] == "cpu" and info.flags["enforce_eager"] is True
    assert info.flags["max_model_len"] == 8192
    assert engine.log_path is not None and engine.log_path.stat().st_size > 0
    assert engine.running and engine.pid is not None
    # launcher, API server, resource tracker, engine core, worker: all in one process group
    snapshot = tree(engine.pid)
    assert_full_tree(snapshot)
    assert sorted(snapshot) == sorted(group_members(engine.pid))


@pytest.mark.engine
def test_probe_running_server(engine: EmbeddedEngine) -> None:
    assert engine.base_url is not None
    info = probe_endpoint(engine.base_url + "/v1")
    assert info.name == "vllm" and info.version == engine.info.version
    assert info.block_size_tokens == engine.info.block_size_tokens
    assert info.served_model == engine.served_model
    assert info.flags["prefix_caching"] is True and info.flags["max_model_len"] == 8192


@pytest.mark.engine
def test_server_reports_timings_and_cache_hits(engine: EmbeddedEngine) -> None:
    """What the LLM client relies on: ``metrics`` timings, ``cached_tokens``, ``return_token_ids``."""
    assert engine.base_url is not None
    system = " ".join(f"Rule {i}: answer briefly about topic {i}." for i in range(40))
    body = {
        "model": engine.served_model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": "Hi"}],
        "max_tokens": 3,
        "return_token_ids": True,
    }
    first = post(engine.base_url, "/v1/chat/completions", body)
    second = post(engine.base_url, "/v1/chat/completions", body)
    block = engine.info.block_size_tokens or 1
    assert first["usage"]["prompt_tokens"] > 2 * block
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] >= block
    for key in ("queue_time_ms", "time_to_first_token_ms", "generation_time_ms"):
        assert isinstance(second["metrics"][key], float)
    tokens = post(engine.base_url, "/tokenize", {"model": engine.served_model, "messages": body["messages"]})
    assert tokens["tokens"] == second["prompt_token_ids"]
    assert len(second["choices"][0]["token_ids"]) == second["usage"]["completion_tokens"]


# --------------------------------------------------------------------------- lifetime


@pytest.mark.engine
def test_server_that_dies_at_startup_reports_its_log(tmp_path: Path) -> None:
    bad = tmp_path / "bad-model"
    bad.mkdir()
    (bad / "config.json").write_text("{}")
    engine = EmbeddedEngine(EngineConfig(model=str(bad), log_path=tmp_path / "vllm.log", env=SMALL))
    with pytest.raises(EngineError, match="exited with status") as err:
        engine.start()
    assert str(tmp_path / "vllm.log") in str(err.value)
    assert "model_type" in str(err.value)  # quoted from the server log
    assert engine.pid is None and wait_gone(engine.engine_id, {}, 10) == []


@pytest.mark.engine
def test_exception_inside_with_stops_everything(tmp_path: Path) -> None:
    engine = EmbeddedEngine(EngineConfig(log_path=tmp_path / "vllm.log", env=SMALL))
    with pytest.raises(RuntimeError, match="boom"):
        with engine:
            assert engine.pid is not None
            snapshot = tree(engine.pid)
            assert_full_tree(snapshot)
            raise RuntimeError("boom")
    left = survivors(engine.engine_id, snapshot)
    assert left == [], cmdlines(left)
    assert not engine.running


PARENT = textwrap.dedent(
    """
    import asyncio, json, sys, threading, time, urllib.request
    from pathlib import Path
    from agentledger.capture.engine import EmbeddedEngine, EngineConfig

    mode, log = sys.argv[1], Path(sys.argv[2])
    engine = EmbeddedEngine(EngineConfig(log_path=log, env={"VLLM_CPU_KVCACHE_SPACE": "1"}))

    def announce():
        # the start thread may have exited (asyncio.to_thread / threading): the server must live on
        time.sleep(1.0)
        urllib.request.urlopen(engine.base_url + "/health", timeout=10).read()
        print(json.dumps({"engine_id": engine.engine_id, "pid": engine.pid, "tmpdir": str(engine.tmpdir)}), flush=True)

    if mode == "sigint":
        async def main():
            async with engine:
                announce()
                await asyncio.sleep(600)
        asyncio.run(main())
    else:
        starter = threading.Thread(target=engine.start)
        starter.start()
        starter.join()
        announce()
        time.sleep(600)
    """
)


def run_parent(mode: str, tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start a child 'capture' process that starts an engine; return it once the engine is up."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(script), mode, str(tmp_path / f"{mode}.log")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        pytest.fail(f"parent ({mode}) exited with {proc.returncode} before the engine was up")
    return proc, json.loads(line)


@pytest.mark.engine
def test_parent_sigint_and_sigkill_leave_nothing(tmp_path: Path) -> None:
    # (c) Ctrl-C in the capture process (async with): KeyboardInterrupt unwinds and stops the engine.
    proc, ready = run_parent("sigint", tmp_path)
    try:
        snapshot = tree(ready["pid"])
        assert_full_tree(snapshot)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        left = survivors(ready["engine_id"], snapshot)  # at once: stop() ran before the parent exited
        assert left == [], cmdlines(left)
        assert not Path(ready["tmpdir"]).exists()
    finally:
        proc.kill()

    # (d) SIGKILL of the capture process (engine started from a thread that has exited):
    # the launcher sees its parent die and takes the whole group down.
    proc, ready = run_parent("sigkill", tmp_path)
    try:
        snapshot = tree(ready["pid"])
        assert_full_tree(snapshot)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        left = wait_gone(ready["engine_id"], snapshot, 30)
        assert left == [], cmdlines(left)
        assert group_members(ready["pid"]) == []
        assert not Path(ready["tmpdir"]).exists()  # the launcher cleaned up after its group
    finally:
        proc.kill()
