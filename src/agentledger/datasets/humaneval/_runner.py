"""What the sandboxed interpreter runs once :mod:`._guards` is in force: the code chunks, in order.

This file is not imported by the toolkit: :mod:`.sandbox` sends its text to the sandboxed
``python -I -S -B`` process (standard library only). All chunks share one namespace, like a
single script. A chunk runs as a whole, or, with ``asserts`` set, one top-level statement at a
time so that every top-level ``assert`` is tried and each failure is reported (for ``==``
the two sides' values are shown); any other exception ends the run. The result is one JSON
line written to the descriptor ``result_fd``, never to stdout, which stays the code's own.
"""

from __future__ import annotations

import ast
import builtins
import json
import linecache
import os
import sys
import traceback
from typing import Any

__all__ = ["run"]

_VALUE_CHARS = 200
_ERROR_CHARS = 2000


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error(exc: BaseException, names: set[str]) -> str:
    """The exception with only the frames of the user's chunks (not of this runner)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in names]
    text = "".join(traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc))
    return _short(text.rstrip(), _ERROR_CHARS)


def _line_of(exc: BaseException, name: str, default: int) -> int:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == name]
    return frames[-1].lineno or default if frames else default


def _run_assert(node: ast.Assert, name: str, ns: dict[str, Any]) -> str | None:
    """None if the assert holds, else why it does not."""
    test = node.test
    try:
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            left = eval(compile(ast.Expression(test.left), name, "eval"), ns)
            right = eval(compile(ast.Expression(test.comparators[0]), name, "eval"), ns)
            if left == right:
                return None
            return f"got {_short(repr(left), _VALUE_CHARS)}, expected {_short(repr(right), _VALUE_CHARS)}"
        exec(compile(ast.Module([node], []), name, "exec"), ns)
        return None
    except AssertionError as exc:
        return _short(str(exc), _VALUE_CHARS) if str(exc) else "assertion is false"
    except Exception as exc:
        return f"raised {_short(''.join(traceback.format_exception_only(type(exc), exc)).strip(), _VALUE_CHARS)}"


def _run_chunk(chunk: dict[str, Any], ns: dict[str, Any], result: dict[str, Any], names: set[str]) -> bool:
    """Run one chunk; False when the run must stop (an error or a failing assert outside ``asserts`` mode)."""
    name, source = chunk["name"], chunk["source"]
    lines = source.splitlines(keepends=True)
    linecache.cache[name] = (len(source), None, lines, name)
    try:
        tree = ast.parse(source, name)
        statements = tree.body if chunk["asserts"] else [tree]
        for node in statements:
            if isinstance(node, ast.Assert):
                result["asserts_total"] += 1
                why = _run_assert(node, name, ns)
                if why is not None:
                    source_text = ast.get_source_segment(source, node) or f"assert at line {node.lineno}"
                    result["failures"].append({"file": name, "line": node.lineno,
                                               "source": _short(source_text, _VALUE_CHARS), "detail": why})
                continue
            code = node if isinstance(node, ast.Module) else ast.Module([node], [])
            exec(compile(code, name, "exec"), ns)
    except AssertionError as exc:  # an assert inside a function, e.g. check(candidate)
        line = _line_of(exc, name, 0)
        where = linecache.getline(name, line).strip() if line else ""
        result["failures"].append({"file": name, "line": line, "source": _short(where, _VALUE_CHARS),
                                   "detail": _short(str(exc), _VALUE_CHARS) or "assertion is false"})
        return False
    except SyntaxError as exc:
        result["error"] = f"SyntaxError: {exc.msg} ({name}, line {exc.lineno})"
        return False
    except BaseException as exc:  # noqa: B036 - SystemExit and MemoryError are results too
        result["error"] = _error(exc, names)
        return False
    return True


def run(cfg: dict[str, Any], isolation: dict[str, Any]) -> None:
    """Run ``cfg["chunks"]`` and write the result line to ``cfg["result_fd"]``."""
    fd = cfg["result_fd"]
    os.write(fd, (json.dumps({"isolation": isolation}) + "\n").encode())
    result: dict[str, Any] = {"completed": False, "asserts_total": 0, "failures": [], "error": None}
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    names = {chunk["name"] for chunk in cfg["chunks"]}
    try:
        result["completed"] = all(_run_chunk(chunk, ns, result, names) for chunk in cfg["chunks"])
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: S110 - the code may have closed its streams
                pass
        result["failures"] = result["failures"][: cfg["max_failures"]]
        data = (json.dumps({"result": result}, default=repr) + "\n").encode()
        while data:
            data = data[os.write(fd, data):]
