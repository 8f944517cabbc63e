"""Run untrusted Python in a separate, limited interpreter, off the event loop.

Each :meth:`Sandbox.run` starts ``python -I -S -B -u`` (no site-packages, no user paths, no
environment variables read) as the leader of a new session, in a fresh temporary folder that
is its cwd, ``HOME`` and ``TMPDIR``, with an environment of five variables and stdin at EOF.
The child applies :mod:`._guards` to itself (resource limits, network namespace, seccomp,
Landlock, audit hook: see there for what each does and when it is available), then runs the
code chunks with :mod:`._runner`. stdout and stderr are captured together and truncated;
the verdict comes back on a separate pipe as JSON.

The wall-clock limit is enforced here: on timeout the whole process group is killed. After
every run, anything left in the group is killed and the temporary folder is removed, also
when the caller is cancelled. Trust model: the sandbox contains code (no network, no files
outside its folder, no processes, bounded CPU, memory and time); like the official HumanEval
harness it does not try to stop code that deliberately forges its own verdict.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._cleanup import kill_leftovers, remove_tree

__all__ = ["Chunk", "SandboxLimits", "AssertFailure", "SandboxResult", "Sandbox"]

_BOOT = """import json, sys, types
c = json.loads(sys.stdin.buffer.read())
m = {}
for n, s in c.pop("modules").items():
    m[n] = types.ModuleType(n)
    exec(compile(s, n, "exec"), m[n].__dict__)
m["_runner"].run(c, m["_guards"].apply(c))
"""
_RESULT_CAP_BYTES = 1 << 20
_DRAIN_S = 2.0


@dataclass(frozen=True, slots=True)
class Chunk:
    """Source run in the sandbox; chunks of one run share a namespace. ``asserts``: report each top-level assert."""

    name: str
    source: str
    asserts: bool = False


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    timeout_s: float = 10.0  # wall clock, start-up included; CPU time is limited to the same (rounded up)
    memory_mb: int = 1024  # address space (RLIMIT_AS)
    file_mb: int = 16  # largest file the code may write (RLIMIT_FSIZE)
    processes: int = 16  # RLIMIT_NPROC (only binds non-root users; seccomp forbids new processes anyway)
    open_files: int = 64
    output_chars: int = 2000  # captured stdout+stderr kept
    max_failures: int = 20  # failed asserts reported
    guards: str = "all"  # "kernel" or "hook": one layer alone, to test it (see _guards)

    def __post_init__(self) -> None:
        from agentledger.errors import UsageError

        if not self.timeout_s > 0:
            raise UsageError(f"sandbox timeout_s must be > 0, not {self.timeout_s!r}")
        for name in ("memory_mb", "file_mb", "processes", "open_files", "output_chars", "max_failures"):
            if getattr(self, name) < 1:
                raise UsageError(f"sandbox {name} must be a positive integer, not {getattr(self, name)!r}")
        if self.guards not in ("all", "kernel", "hook"):
            raise UsageError(f"sandbox guards must be 'all', 'kernel' or 'hook', not {self.guards!r}")
        if self.memory_mb < 64:
            raise UsageError(f"sandbox memory_mb={self.memory_mb} is too small for Python to start; use 64 or more")


@dataclass(frozen=True, slots=True)
class AssertFailure:
    file: str  # chunk name
    line: int
    source: str  # the assert statement (or the line that raised AssertionError)
    detail: str  # "got X, expected Y", the assert's message, or the exception raised


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """``status``: passed, failed (asserts), error (exception), timeout (wall clock or CPU limit), or crashed."""

    status: str
    asserts_total: int
    failures: tuple[AssertFailure, ...]
    error: str | None
    output: str  # stdout+stderr, at most ``output_chars``
    output_total_bytes: int
    wall_s: float
    exit_code: int | None  # negative: killed by that signal
    isolation: Mapping[str, Any] = field(default_factory=dict)  # the guards in force (empty if none reported)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


async def _collect(reader: asyncio.StreamReader, keep_bytes: int) -> tuple[bytes, int]:
    """Read to EOF, keeping the first ``keep_bytes``; the total is counted so a flood never blocks the child."""
    kept, total = bytearray(), 0
    while chunk := await reader.read(1 << 16):
        total += len(chunk)
        if len(kept) < keep_bytes:
            kept += chunk[: keep_bytes - len(kept)]
    return bytes(kept), total


class Sandbox:
    """Runs code chunks under :class:`SandboxLimits`. Stateless between runs; safe to share between tasks."""

    def __init__(self, limits: SandboxLimits | None = None, *, python: str | None = None,
                 work_root: str | os.PathLike[str] | None = None) -> None:
        """``python``: the interpreter (default: this one); ``work_root``: where run folders go (default: TMPDIR)."""
        self.limits = limits or SandboxLimits()
        self.python = python or sys.executable
        self.work_root = None if work_root is None else os.fspath(work_root)
        here = Path(__file__).parent
        self._modules = {name: (here / f"{name}.py").read_text(encoding="utf-8") for name in ("_guards", "_runner")}

    async def probe(self) -> Mapping[str, Any]:
        """Which guards are in force on this machine (runs an empty chunk)."""
        return (await self.run([Chunk("probe.py", "pass\n")])).isolation

    async def run(self, chunks: Sequence[Chunk]) -> SandboxResult:
        work = await asyncio.to_thread(tempfile.mkdtemp, prefix="agentledger-sandbox-", dir=self.work_root)
        try:
            return await self._run_in(work, chunks)
        finally:
            await asyncio.shield(asyncio.to_thread(remove_tree, work))

    def _config(self, work: str, chunks: Sequence[Chunk], result_fd: int) -> bytes:
        lim = self.limits
        return json.dumps({
            "modules": self._modules, "work_dir": work, "result_fd": result_fd,
            "chunks": [asdict(chunk) for chunk in chunks], "cpu_s": max(1, int(-(-lim.timeout_s // 1))),
            "memory_mb": lim.memory_mb, "file_mb": lim.file_mb, "processes": lim.processes,
            "open_files": lim.open_files, "max_failures": lim.max_failures, "guards": lim.guards,
        }).encode()

    async def _run_in(self, work: str, chunks: Sequence[Chunk]) -> SandboxResult:
        lim = self.limits
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        read_fd, write_fd = os.pipe()
        loop = asyncio.get_running_loop()
        result_reader = asyncio.StreamReader(limit=_RESULT_CAP_BYTES)
        start = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                self.python, "-I", "-S", "-B", "-u", "-c", _BOOT, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=work, env=env,
                pass_fds=(write_fd,), start_new_session=True)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(result_reader), os.fdopen(read_fd, "rb", buffering=0))
        assert proc.stdout is not None and proc.stdin is not None
        out_task = asyncio.ensure_future(_collect(proc.stdout, lim.output_chars * 4))
        res_task = asyncio.ensure_future(_collect(result_reader, _RESULT_CAP_BYTES))
        timed_out = False
        try:
            try:
                proc.stdin.write(self._config(work, chunks, write_fd))
                await proc.stdin.drain()
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the child died at start; its exit code tells why
            try:
                await asyncio.wait_for(proc.wait(), max(0.0, lim.timeout_s - (time.monotonic() - start)))
            except asyncio.TimeoutError:
                timed_out = True
        finally:
            if proc.returncode is None:  # timeout or cancelled: the leader is not reaped, its group id is safe
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
            await asyncio.shield(self._finish(proc, transport, [out_task, res_task]))
        wall_s = time.monotonic() - start
        out, out_total = out_task.result() if out_task.done() and not out_task.cancelled() else (b"", 0)
        res, _ = res_task.result() if res_task.done() and not res_task.cancelled() else (b"", 0)
        return self._result(out, out_total, res, proc.returncode, timed_out, wall_s)

    async def _finish(self, proc: asyncio.subprocess.Process, transport: asyncio.BaseTransport,
                      readers: list[asyncio.Future[Any]]) -> None:
        await proc.wait()
        await asyncio.to_thread(kill_leftovers, proc.pid)
        done, pending = await asyncio.wait(readers, timeout=_DRAIN_S)
        for task in pending:
            task.cancel()
        transport.close()

    def _result(self, out: bytes, out_total: int, res: bytes, code: int | None, timed_out: bool,
                wall_s: float) -> SandboxResult:
        records: dict[str, Any] = {}
        for line in res.decode("utf-8", "replace").splitlines():
            try:
                records.update(json.loads(line))
            except (json.JSONDecodeError, TypeError, ValueError):
                continue
        text = out.decode("utf-8", "replace")[: self.limits.output_chars]
        verdict = records.get("result") if isinstance(records.get("result"), dict) else None
        isolation = records.get("isolation") if isinstance(records.get("isolation"), dict) else {}
        failures: tuple[AssertFailure, ...] = ()
        error: str | None = None
        total = 0
        if timed_out:
            status, error = "timeout", f"timed out after {self.limits.timeout_s:g} s; the process group was killed"
        elif verdict is None and code == -signal.SIGXCPU:  # the CPU limit (= the wall limit) came first
            status, error = "timeout", _why_no_verdict(code, self.limits)
        elif verdict is None:
            status, error = "crashed", _why_no_verdict(code, self.limits)
        else:
            try:
                failures = tuple(AssertFailure(**f) for f in verdict.get("failures", []))
                error, total = verdict.get("error"), int(verdict.get("asserts_total", 0))
            except (TypeError, ValueError):  # only code writing to the result pipe itself gets here
                return SandboxResult("crashed", 0, (), "the result record is malformed", text, out_total, wall_s,
                                     code, isolation)
            status = "error" if error else "failed" if failures else "passed" if verdict.get("completed") else "error"
        return SandboxResult(status, total, failures, error, text, out_total, wall_s, code, isolation)


def _why_no_verdict(code: int | None, limits: SandboxLimits) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        if -code == signal.SIGXCPU:
            return f"killed by {name}: CPU time limit of {max(1, int(-(-limits.timeout_s // 1)))} s reached"
        return f"killed by signal {name} before reporting a result"
    return f"the process exited (code {code}) before reporting a result"
