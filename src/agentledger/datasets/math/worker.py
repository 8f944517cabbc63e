"""Run sympy work in worker processes, each job under a CPU-time limit.

sympy can run for minutes (or forever) on an innocent-looking query, and it is pure Python
that holds the GIL, so it must not run on the event loop or even in a thread of the capture
process. :class:`SympyWorker` keeps up to ``max_workers`` long-lived worker processes
(``python -m agentledger.datasets.math._child``: sympy imported once, address space capped
with ``RLIMIT_AS``) and talks to them over pipes with asyncio, so the event loop never blocks.
Workers are plain subprocesses, not ``multiprocessing`` ones, so the caller's ``__main__``
module is never re-imported in them.

Each job runs under a ``SIGPROF`` CPU-time timer: once it has used ``cpu_limit_s`` seconds of
CPU it is interrupted and :class:`SympyTimeout` is raised here. A job stuck inside C code does
not see the signal; after a wall-clock limit of ``3 * cpu_limit_s + grace_s`` its worker is
killed (and replaced on the next job). A job whose caller is cancelled also kills its worker,
whose reply would otherwise be read by the next job.

Workers belong to the event loop that started them; used from another loop, the old ones are
killed and new ones started. One worker serves many tasks and keeps no state between jobs.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SympyWorker", "SympyTimeout", "SympyWorkerError"]

_CHILD = "agentledger.datasets.math._child"
_SRC_ROOT = str(Path(__file__).resolve().parents[3])  # the folder that holds the agentledger package
_LINE_LIMIT = 1 << 24


class SympyTimeout(RuntimeError):
    """A job used up its CPU (or wall-clock) budget. Not a ``TimeoutError``: the tool did not time out."""


class SympyWorkerError(RuntimeError):
    """A worker could not start, died, ran out of memory, or the job raised."""


class SympyWorker:
    """Worker processes for sympy jobs; ``await run(fn, *args)`` runs one under the limits."""

    def __init__(
        self,
        *,
        cpu_limit_s: float = 5.0,
        max_workers: int | None = None,
        memory_limit_bytes: int | None = 2 << 30,
        grace_s: float = 5.0,
        start_timeout_s: float = 60.0,
    ) -> None:
        if cpu_limit_s <= 0:
            raise ValueError(f"cpu_limit_s must be positive, not {cpu_limit_s!r}")
        self.cpu_limit_s = float(cpu_limit_s)
        self.wall_limit_s = 3 * self.cpu_limit_s + grace_s
        self.max_workers = max_workers or max(1, min(2, os.cpu_count() or 1))
        self._memory = memory_limit_bytes or 0
        self._start_timeout_s = start_timeout_s
        self._idle: list[asyncio.subprocess.Process] = []
        self._busy: set[asyncio.subprocess.Process] = set()
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = 0  # worker processes started so far
        self.killed = 0  # workers killed for a wall-clock timeout, a cancellation or a death

    def _bind(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            self._kill_all()
            self._loop, self._slots = loop, asyncio.Semaphore(self.max_workers)
        return self._slots

    async def _start(self) -> asyncio.subprocess.Process:
        env = dict(os.environ, AGENTLEDGER_SYMPY_MEMORY_BYTES=str(self._memory))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC_ROOT, env.get("PYTHONPATH", "")) if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", _CHILD, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=env, limit=_LINE_LIMIT,
        )
        self.started += 1
        try:
            first = await asyncio.wait_for(proc.stdout.readline(), self._start_timeout_s)  # type: ignore[union-attr]
            hello = json.loads(first) if first else {"status": "error", "error": "exited at start"}
        except (asyncio.TimeoutError, ValueError):
            hello = {"status": "error", "error": f"no ready line within {self._start_timeout_s:g} s"}
        except BaseException:
            self._kill(proc)
            raise
        if hello.get("status") != "ready":
            self._kill(proc)
            raise SympyWorkerError(f"the sympy worker could not start ({hello.get('error')}); "
                                   "is sympy installed? pip install 'agentledger[tasks]'")
        return proc

    def _kill(self, proc: asyncio.subprocess.Process) -> None:
        self._busy.discard(proc)
        if proc.returncode is None:
            try:
                proc.kill()
            except (ProcessLookupError, RuntimeError):  # gone already, or its loop is closed
                pass
        self.killed += 1

    def _kill_all(self) -> None:
        for proc in [*self._idle, *self._busy]:
            self._kill(proc)
        self._idle.clear()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in a worker (``fn`` a module-level function, args JSON values); its result.

        Raises :class:`SympyTimeout` past the CPU or wall-clock limit and
        :class:`SympyWorkerError` when the worker cannot start or dies, or ``fn`` raises.
        """
        request = json.dumps({"fn": f"{fn.__module__}:{fn.__qualname__}", "args": list(args),
                              "cpu_s": self.cpu_limit_s}).encode() + b"\n"
        async with self._bind():
            proc = self._idle.pop() if self._idle else await self._start()
            self._busy.add(proc)
            try:
                proc.stdin.write(request)  # type: ignore[union-attr]
                await proc.stdin.drain()  # type: ignore[union-attr]
                raw = await asyncio.wait_for(proc.stdout.readline(), self.wall_limit_s)  # type: ignore[union-attr]
            except asyncio.TimeoutError:
                self._kill(proc)
                raise SympyTimeout(f"gave up after {self.wall_limit_s:g} s (stuck in native code)") from None
            except (ConnectionError, BrokenPipeError):
                self._kill(proc)
                raise SympyWorkerError("the sympy worker process died") from None
            except BaseException:  # cancelled: the reply would desynchronize the next job
                self._kill(proc)
                raise
            if not raw:
                self._kill(proc)
                raise SympyWorkerError("the sympy worker process died (out of memory or killed)")
            self._busy.discard(proc)
            self._idle.append(proc)
        reply = json.loads(raw)
        status = reply.get("status")
        if status == "ok":
            return reply.get("value")
        if status == "timeout":
            raise SympyTimeout(f"gave up after {self.cpu_limit_s:g} s of CPU time")
        if status == "memory":
            raise SympyWorkerError(f"ran out of memory (limit {self._memory:,} bytes)")
        raise SympyWorkerError(f"the job failed: {reply.get('error')}")

    async def warm_up(self) -> None:
        """Start all ``max_workers`` processes now, so that no tool call pays for a start (about 1-2 s)."""
        slots = self._bind()
        missing = self.max_workers - len(self._idle) - len(self._busy)
        if missing > 0:
            async with slots:  # holds one slot only: starting is not running a job
                self._idle.extend(await asyncio.gather(*(self._start() for _ in range(missing))))

    async def aclose(self) -> None:
        """Stop the worker processes (end of input for idle ones, kill for busy ones)."""
        if self._loop is not asyncio.get_running_loop():  # started by another loop: just kill them
            self._kill_all()
            self._loop = self._slots = None
            return
        idle, self._idle = self._idle, []
        for proc in idle:
            if proc.stdin is not None and proc.returncode is None:
                proc.stdin.close()
        for proc in idle:
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except asyncio.TimeoutError:
                self._kill(proc)
        for proc in list(self._busy):
            self._kill(proc)
