"""Child-process plumbing for the embedded engine: a watchdog launcher and group helpers.

vLLM's API server spawns its own engine-core and worker processes, and those
do NOT die when the API server is killed (checked with vLLM 0.32: after
``kill -9`` of the API server, ``VLLM::EngineCore`` and ``VLLM::Worker`` keep
running, re-parented to init). So the server is never started directly.
Instead the capture process starts this file as a small launcher, in a new
session (its own process group), and the launcher starts the server as its
child in that group. The launcher:

* asks Linux for a parent-death signal (``prctl(PR_SET_PDEATHSIG)``) and also
  polls ``getppid()``, so it notices at once when the capture process dies,
  even by SIGKILL;
* on parent death, SIGTERM, SIGINT or SIGHUP, sends SIGTERM to every other
  member of its process group, waits up to a grace period, SIGKILLs the rest,
  and exits;
* when the server exits on its own, kills any left-over group members (the
  orphaned engine core) and exits with the server's status.

The parent-death signal is per *thread*: it also fires when the thread that
started the launcher exits while the process lives on (for example a start
from ``asyncio.to_thread``). The launcher therefore only acts on it after
checking that ``getppid()`` really changed.

This file imports nothing from agentledger: it is run as a script, by path,
with ``python -I``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "LAUNCHER",
    "group_members",
    "launcher_argv",
    "set_parent_death_signal",
]

LAUNCHER = Path(__file__).resolve()
_PR_SET_PDEATHSIG = 1
_POLL_S = 0.2


def set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent (thread) dies.

    Returns False where ``prctl`` is not available (non-Linux); callers then
    rely on polling ``getppid()`` alone.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def group_members(pgid: int) -> list[int]:
    """PIDs of live (non-zombie) processes whose process group is ``pgid``, via /proc."""
    members: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # Fields after the ")" that closes the command name: state ppid pgrp ...
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) >= 3 and fields[0] not in (b"Z", b"X") and int(fields[2]) == pgid:
            members.append(int(name))
    return members


def launcher_argv(parent_pid: int, command: Sequence[str], grace_s: float, cleanup: Path | None = None) -> list[str]:
    """The argv that runs ``command`` under the launcher, watched for ``parent_pid``.

    ``cleanup``: a folder the launcher deletes once the whole group is gone.
    """
    extra = ["--cleanup", str(cleanup)] if cleanup is not None else []
    return [
        sys.executable,
        "-I",
        str(LAUNCHER),
        "--parent-pid",
        str(parent_pid),
        "--grace",
        str(grace_s),
        *extra,
        "--",
        *command,
    ]


def _kill_others(pgid: int, sig: int) -> None:
    """Send ``sig`` to every live member of ``pgid`` except this process."""
    me = os.getpid()
    for pid in group_members(pgid):
        if pid != me:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def _shutdown_group(child: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the rest of our group, wait up to ``grace_s``, then SIGKILL what is left."""
    pgid = os.getpgrp()
    me = os.getpid()
    _kill_others(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        child.poll()
        if not [p for p in group_members(pgid) if p != me]:
            return
        time.sleep(_POLL_S)
    _kill_others(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        child.poll()
        if not [p for p in group_members(pgid) if p != me]:
            return
        time.sleep(0.05)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command given after ``--`` and tear its whole group down on parent death."""
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--" not in raw or raw.index("--") == len(raw) - 1:
        print("usage: _process.py --parent-pid PID [--grace S] [--cleanup DIR] -- COMMAND...", file=sys.stderr)
        return 2
    split = raw.index("--")
    parser = argparse.ArgumentParser(prog="_process.py")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--grace", type=float, default=15.0)
    parser.add_argument("--cleanup", type=Path, default=None)
    args = parser.parse_args(raw[:split])
    command = raw[split + 1 :]
    try:
        return _supervise(command, args.parent_pid, args.grace)
    finally:
        if args.cleanup is not None:
            shutil.rmtree(args.cleanup, ignore_errors=True)


def _supervise(command: list[str], parent_pid: int, grace_s: float) -> int:
    """Run ``command`` in our process group until it ends or we are told to stop."""
    stop_reason: list[str] = []

    def on_stop(signum: int, _frame: object) -> None:
        stop_reason.append(signal.Signals(signum).name)

    def on_parent_death(_signum: int, _frame: object) -> None:
        if os.getppid() != parent_pid:  # else only the starting thread exited
            stop_reason.append("parent died")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_stop)
    signal.signal(signal.SIGUSR1, on_parent_death)
    set_parent_death_signal(signal.SIGUSR1)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        return 1

    child = subprocess.Popen(
        command,
        preexec_fn=lambda: set_parent_death_signal(signal.SIGTERM),  # single-threaded here
    )
    while True:
        try:
            returncode = child.wait(timeout=_POLL_S)
        except subprocess.TimeoutExpired:
            if os.getppid() != parent_pid:
                stop_reason.append("parent died")
            if stop_reason:
                break
            continue
        # The server ended by itself: clear away its orphans (engine core, workers).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _shutdown_group(child, 5.0)
        return returncode if returncode >= 0 else 128 - returncode
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _shutdown_group(child, grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
