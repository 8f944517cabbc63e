"""MATH problems from the files people actually have.

Three layouts are read, detected from the path:

* MATH-500 JSONL (PRM800K ``math_splits/test.jsonl``): ``problem``, ``solution``, ``answer``,
  ``subject``, ``level`` (int), ``unique_id`` (``test/precalculus/807.json``), the task id;
* full MATH test JSONL: ``problem``, ``solution``, ``level`` (``"Level 3"``), ``type``, ``idx``;
  the answer is the last ``\\boxed{}`` of the solution and the task id is ``math-test-<idx>``;
* the Hendrycks release folder (``MATH/test/<subject>/<n>.json``), read in subject then
  number order, task id ``test/<subject>/<n>.json`` as in MATH-500.

A folder holding the JSONL files is searched for :data:`FILES` ``[split]``. Malformed lines
(not JSON, no problem, no answer) are skipped and counted, or raise ``DataError`` naming file
and line when ``strict=True``. Levels accept ``3`` or ``"Level 3"``; subjects accept the seven
names in any case, with ``&``/``and`` and ``_``/``-``/spaces (``counting_and_probability``).
Nothing is downloaded: the official locations are only named in error messages.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import DataError
from .latex import last_boxed

__all__ = ["ENV_VAR", "OFFICIAL_URL", "MATH500_URL", "SUBJECTS", "LEVELS", "FILES", "MathProblem",
           "MathLoad", "parse_level", "parse_subject", "find_data_file", "load_math"]

ENV_VAR = "AGENTLEDGER_MATH"
OFFICIAL_URL = "https://people.eecs.berkeley.edu/~hendrycks/MATH.tar"
MATH500_URL = "https://github.com/openai/prm800k/blob/main/prm800k/math_splits/test.jsonl"
SUBJECTS = ("Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra", "Number Theory",
            "Prealgebra", "Precalculus")
LEVELS = (1, 2, 3, 4, 5)
FILES = {"math500": ("math500_test.jsonl", "math500.jsonl", "test.jsonl"),
         "full": ("math_test_5000.jsonl", "math_test.jsonl")}


def _subject_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower().replace("&", " and ")).strip()


_SUBJECT_KEYS = {_subject_key(s): s for s in SUBJECTS}


@dataclass(frozen=True, slots=True)
class MathProblem:
    """One MATH problem; ``answer`` is the reference final answer (LaTeX)."""

    task_id: str
    problem: str
    answer: str
    subject: str
    level: int | None
    solution: str


@dataclass(frozen=True, slots=True)
class MathLoad:
    """Problems read from one file or folder (after the filters), and what the read saw."""

    problems: list[MathProblem]
    path: Path
    layout: str  # "math500", "math-test" or "release"
    records_read: int  # well-formed records before filtering
    skipped_malformed: int
    level: int | None = None
    subject: str | None = None


def parse_level(value: int | str) -> int:
    """``3``, ``"3"`` or ``"Level 3"`` -> 3; ``DataError`` listing 1-5 otherwise."""
    match = re.fullmatch(r"\s*(?:level\s*)?([0-9]+)\s*", str(value), re.IGNORECASE)
    if isinstance(value, bool) or not match or int(match.group(1)) not in LEVELS:
        raise DataError(f"unknown MATH level {value!r}: use one of 1, 2, 3, 4, 5 (or 'Level 3')")
    return int(match.group(1))


def parse_subject(value: str) -> str:
    """The canonical subject name for ``value``; ``DataError`` listing the seven otherwise."""
    found = _SUBJECT_KEYS.get(_subject_key(str(value)))
    if found is None:
        raise DataError(f"unknown MATH subject {value!r}: use one of {', '.join(SUBJECTS)} "
                        "(any case; 'counting_and_probability' style also works)")
    return found


def find_data_file(path: Path, split: str = "math500") -> Path:
    """The file (or release folder) to read for ``path``: itself if a file, else searched by ``split``."""
    if split not in FILES:
        raise DataError(f"unknown MATH split {split!r}: use 'math500' or 'full'")
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataError(f"{path} does not exist: give the MATH-500 JSONL ({MATH500_URL}) or the MATH "
                        f"release folder ({OFFICIAL_URL}), or set {ENV_VAR}")
    for name in FILES[split]:
        if (path / name).is_file():
            return path / name
    if split == "full":
        for folder in (path, path / "test", path / "MATH" / "test"):
            if any((folder / s).is_dir() for s in ("algebra", "prealgebra")):
                return folder
    raise DataError(f"no MATH {split} data in {path}: expected {' or '.join(FILES[split])}"
                    + (" or the release's test/<subject>/ folders" if split == "full" else "")
                    + f" (download: {MATH500_URL if split == 'math500' else OFFICIAL_URL})")


def _records(path: Path) -> Iterator[tuple[str, int, Any]]:
    """(where, line number, parsed JSON or the exception) for each record of a file or release folder."""
    if path.is_dir():
        files = sorted(path.glob("*/*.json"), key=lambda p: (p.parent.name, int(p.stem) if p.stem.isdigit() else 0, p.stem))
        for file in files:
            rel = f"test/{file.parent.name}/{file.name}"
            try:
                record = json.loads(file.read_text(encoding="utf-8"))
                if isinstance(record, dict):
                    record.setdefault("unique_id", rel)
                yield str(file), 1, record
            except (ValueError, UnicodeDecodeError) as err:
                yield str(file), 1, err
        return
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield str(path), lineno, json.loads(line)
            except ValueError as err:
                yield str(path), lineno, err


def _problem(record: Any) -> MathProblem:
    """A problem from one parsed record; ``ValueError`` saying what is missing."""
    if isinstance(record, Exception):
        raise ValueError(f"not JSON ({str(record).splitlines()[0][:80]})")
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    problem, solution = record.get("problem"), record.get("solution") or ""
    if not isinstance(problem, str) or not problem.strip():
        raise ValueError("no 'problem' text")
    answer = record.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        answer = last_boxed(solution) if isinstance(solution, str) else None
        if not answer:
            raise ValueError("no 'answer' and no \\boxed{} answer in 'solution'")
    raw_subject = str(record.get("subject") or record.get("type") or "")
    subject = _SUBJECT_KEYS.get(_subject_key(raw_subject), raw_subject)
    try:
        level: int | None = parse_level(record.get("level", ""))
    except DataError:
        level = None  # "Level ?" exists in MATH; such problems match no level filter
    if record.get("unique_id"):
        task_id = str(record["unique_id"])
    elif isinstance(record.get("idx"), int):
        task_id = f"math-test-{record['idx']}"
    else:
        raise ValueError("no 'unique_id' or integer 'idx' to name the task")
    return MathProblem(task_id, problem, answer.strip(), subject, level, str(solution))


def load_math(
    path: str | os.PathLike[str],
    *,
    level: int | str | None = None,
    subject: str | None = None,
    split: str = "math500",
    strict: bool = False,
) -> MathLoad:
    """Read MATH problems from ``path`` (file or folder) and keep those matching the filters."""
    want_level = None if level is None else parse_level(level)
    want_subject = None if subject is None else parse_subject(subject)
    source = find_data_file(Path(path).expanduser(), split)
    problems: list[MathProblem] = []
    seen: set[str] = set()
    read = skipped = 0
    layout = "release" if source.is_dir() else ""
    try:
        for where, lineno, record in _records(source):
            try:
                item = _problem(record)
                if item.task_id in seen:
                    raise ValueError(f"task id {item.task_id!r} occurs twice")
            except ValueError as err:
                if strict:
                    raise DataError(f"{where}:{lineno}: {err}; fix the line, or load without strict "
                                    "to skip malformed lines") from None
                skipped += 1
                continue
            seen.add(item.task_id)
            layout = layout or ("math500" if isinstance(record, dict) and "answer" in record else "math-test")
            read += 1
            if (want_level is None or item.level == want_level) and (
                    want_subject is None or item.subject == want_subject):
                problems.append(item)
    except UnicodeDecodeError:
        raise DataError(f"{source} is not UTF-8 text; expected MATH JSONL") from None
    if read == 0:
        raise DataError(f"{source} holds no MATH problem ({skipped} malformed record(s)); expected JSONL "
                        f"with 'problem' and 'solution' (download: {MATH500_URL})")
    return MathLoad(problems, source, layout, read, skipped, want_level, want_subject)
