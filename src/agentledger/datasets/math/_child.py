"""The sympy worker process (``python -m agentledger.datasets.math._child``).

Reads one JSON request per line on stdin: ``{"fn": "module:function", "args": [...],
"cpu_s": 5.0}``; runs ``function(*args)`` under a ``SIGPROF`` CPU-time timer; writes one JSON
reply per line: ``{"status": "ok", "value": ...}``, ``{"status": "timeout"}``,
``{"status": "memory"}`` or ``{"status": "error", "error": "Type: message"}``. The first line
it writes is ``{"status": "ready"}`` once sympy is imported (or ``{"status": "error", ...}`` if
it cannot be). Replies go to a private copy of the original stdout; ``print`` inside a job
goes to stderr, so it cannot corrupt the protocol. It exits at end of input.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from typing import Any, TextIO

__all__ = ["main"]


class _CpuLimit(BaseException):
    """Raised by the CPU timer; a BaseException so that ``except Exception`` in sympy misses it."""


def _on_cpu_limit(signum: int, frame: Any) -> None:
    raise _CpuLimit()


def _limit_memory(limit_bytes: int) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes if hard == resource.RLIM_INFINITY
                                            else min(limit_bytes, hard), hard))


def _reply(out: TextIO, **fields: Any) -> None:
    out.write(json.dumps(fields) + "\n")
    out.flush()


def _run(request: dict[str, Any]) -> dict[str, Any]:
    module_name, _, func_name = str(request["fn"]).partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    signal.setitimer(signal.ITIMER_PROF, float(request.get("cpu_s", 5.0)))
    try:
        return {"status": "ok", "value": func(*request.get("args", []))}
    except _CpuLimit:
        return {"status": "timeout"}
    except MemoryError:
        return {"status": "memory"}
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def main() -> None:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        memory = int(os.environ.get("AGENTLEDGER_SYMPY_MEMORY_BYTES", "0"))
        if memory > 0:
            _limit_memory(memory)
        import sympy  # type: ignore[import-untyped]  # noqa: F401 - import once, before the first job

        signal.signal(signal.SIGPROF, _on_cpu_limit)
    except Exception as err:  # noqa: BLE001 - reported to the parent, which raises
        _reply(out, status="error", error=f"{type(err).__name__}: {err}")
        return
    _reply(out, status="ready")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = _run(json.loads(line))
        except _CpuLimit:  # the timer fired between the job's end and its reset
            reply = {"status": "timeout"}
        except Exception as err:  # noqa: BLE001 - the job's own failure, sent back
            reply = {"status": "error", "error": f"{type(err).__name__}: {err}"}
        _reply(out, **reply)


if __name__ == "__main__":
    main()
