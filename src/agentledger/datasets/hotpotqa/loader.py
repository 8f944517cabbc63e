"""Read HotpotQA files (one file, or a folder of them) into questions and context paragraphs.

A folder is combined: the questions come from the official-order file with the most
questions (an official distractor/fullwiki file or ReAct's simplified file), each one
completed from the other files (``_id``, level, type, supporting titles, matched by
``_id`` or question text); context paragraphs come from every file that has them. With
no official-order file, the questions are those of the HF and IRCoT files, deduplicated.

JSONL lines that are not valid JSON, and records not of the file's format, are skipped
and counted (``strict=True`` fails on the first one, naming file and line). Nothing is
downloaded here; :data:`OFFICIAL_URLS` appear in error messages and :mod:`.download`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ...errors import DataError
from ..base import resolve_data_path
from .formats import CONTEXT_FORMATS, QUESTION_FORMATS, Paragraph, Record, RecordError, parse_record, sniff_format

__all__ = ["ENV_VAR", "SPLITS", "OFFICIAL_URLS", "NEEDED_FILE", "DataFile", "Question", "HotpotQALoad",
           "read_file", "load_hotpotqa"]

ENV_VAR = "AGENTLEDGER_HOTPOTQA"
SPLITS = ("dev", "train")
_BASE = "http://curtis.ml.cmu.edu/datasets/hotpot/"
OFFICIAL_URLS = MappingProxyType({
    "hotpot_dev_distractor_v1.json": _BASE + "hotpot_dev_distractor_v1.json",
    "hotpot_dev_fullwiki_v1.json": _BASE + "hotpot_dev_fullwiki_v1.json",
    "hotpot_train_v1.1.json": _BASE + "hotpot_train_v1.1.json",
    "hotpot_test_fullwiki_v1.json": _BASE + "hotpot_test_fullwiki_v1.json",
    "hotpot_dev_v1_simplified.json": "https://raw.githubusercontent.com/ysymyth/ReAct/master/data/"
                                     "hotpot_dev_v1_simplified.json",
})
NEEDED_FILE = MappingProxyType({"dev": "hotpot_dev_distractor_v1.json", "train": "hotpot_train_v1.1.json"})


class _NotHotpotQA(DataError):
    """A readable JSON file that holds something else (skipped inside a folder)."""


@dataclass(frozen=True)
class DataFile:
    """One file read: its format, content hash, records, and what was skipped."""

    path: Path
    fmt: str
    sha256: str
    records: tuple[Record, ...] = field(repr=False)
    malformed: int = 0  # lines (JSONL) or elements (JSON list) skipped
    first_malformed: int | None = None  # its line number (JSONL) or element number (JSON list), from 1
    unit: str = "line"  # "line" for JSONL, "element" for a JSON list

    @property
    def has_context(self) -> bool:
        return any(r.paragraphs for r in self.records)


@dataclass(frozen=True, slots=True)
class Question:
    """A question in the order it is asked; ``index`` is its place in the official order if known."""

    record: Record
    index: int | None
    source: str  # file name the question was taken from


@dataclass(frozen=True)
class HotpotQALoad:
    """Everything read from ``path``."""

    path: Path
    split: str
    files: tuple[DataFile, ...]
    questions: tuple[Question, ...]
    ignored: tuple[str, ...] = ()  # files in a folder that are not HotpotQA data

    @property
    def context_files(self) -> tuple[DataFile, ...]:
        """Files with paragraphs, in the order their paragraphs win a title (official first, IRCoT last)."""
        with_context = [f for f in self.files if f.has_context]
        return tuple(sorted(with_context, key=lambda f: CONTEXT_FORMATS.index(f.fmt)))

    @property
    def malformed(self) -> int:
        return sum(f.malformed for f in self.files)

    def paragraphs(self) -> Iterator[Paragraph]:
        """Every context paragraph, preferred copies first (duplicates are left to the caller)."""
        for data_file in self.context_files:
            for record in data_file.records:
                yield from record.paragraphs

    def summary(self) -> str:
        """One line, e.g. "HotpotQA dev: 7,405 questions from a.json; paragraphs from 3 files; 0 malformed"."""
        sources = sorted({q.source for q in self.questions})
        text = (f"HotpotQA {self.split}: {len(self.questions):,} questions from {', '.join(sources)}; "
                f"paragraphs from {len(self.context_files)} file(s)")
        skipped = [f"{f.path.name}: {f.malformed:,} (first at {f.unit} {f.first_malformed})"
                   for f in self.files if f.malformed]
        text += f"; malformed records skipped: {'; '.join(skipped)}" if skipped else "; no malformed records"
        return text


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def _raw_items(path: Path, text: str) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed value or None, error) for each element of a JSON list or JSONL line."""
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg}); the file is damaged, "
                            f"download it again") from None
        for number, item in enumerate(items, start=1):
            yield number, item, None
        return
    for number, line in _lines(text):
        try:
            yield number, json.loads(line), None
        except json.JSONDecodeError as err:
            yield number, None, f"invalid JSON ({err.msg})"


def read_file(path: Path, *, strict: bool = False) -> DataFile:
    """Read one HotpotQA file in any of the known formats (see :mod:`.formats`)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text; expected HotpotQA JSON or JSONL") from None
    what = "element" if text.lstrip().startswith("[") else "line"
    fmt: str | None = None
    records: list[Record] = []
    malformed, first_bad = 0, None
    for number, item, error in _raw_items(path, text):
        if error is None and fmt is None:
            fmt = sniff_format(item, path)
            if fmt is None:
                found = sorted(item)[:8] if isinstance(item, dict) else type(item).__name__
                raise _NotHotpotQA(f"{path} is not a HotpotQA file: its first record has keys {found}; "
                                   f"expected the official, simplified, Hugging Face or IRCoT format")
        if error is None and fmt is not None:
            try:
                records.append(parse_record(fmt, item))
                continue
            except RecordError as err:
                error = str(err)
        if strict:
            where = f"{path}:{number}" if what == "line" else f"{path}, element {number}"
            raise DataError(f"{where}: malformed {what}: {error}; fix it or load with "
                            f"strict=False to skip it")
        malformed += 1
        first_bad = first_bad or number
    if fmt is None:
        raise DataError(f"{path} holds no HotpotQA record; expected a JSON list or JSONL of questions")
    return DataFile(path, fmt, hashlib.sha256(raw).hexdigest(), tuple(records), malformed, first_bad, what)


def _files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in (".json", ".jsonl"))


def _complete(record: Record, others: list[Record]) -> Record:
    """``record`` with its missing id, type, level and supporting titles taken from ``others``."""
    for other in others:
        record = replace(record, qid=record.qid or other.qid, qtype=record.qtype or other.qtype,
                         level=record.level or other.level,
                         supporting_titles=record.supporting_titles or other.supporting_titles)
    return record


def _questions(files: list[DataFile]) -> list[Question]:
    ordered = [f for f in files if f.fmt in QUESTION_FORMATS]
    if ordered:
        main = max(ordered, key=lambda f: (len(f.records), -QUESTION_FORMATS.index(f.fmt)))
        chosen = [Question(r, i, main.path.name) for i, r in enumerate(main.records)]
    else:
        seen: set[str] = set()
        chosen = []
        for data_file in sorted(files, key=lambda f: CONTEXT_FORMATS.index(f.fmt)):
            for record in data_file.records:
                if (record.qid or record.question) not in seen:
                    seen.add(record.qid or record.question)
                    chosen.append(Question(record, None, data_file.path.name))
    by_key: dict[str, list[Record]] = {}
    for data_file in sorted(files, key=lambda f: (QUESTION_FORMATS + CONTEXT_FORMATS).index(f.fmt)):
        for record in data_file.records:
            for key in (record.qid, record.question):
                if key:
                    by_key.setdefault(key, []).append(record)
    out = []
    for q in chosen:
        matches = by_key.get(q.record.qid or "", []) or by_key.get(q.record.question, [])
        out.append(replace(q, record=_complete(q.record, [m for m in matches if m is not q.record])))
    return out


def load_hotpotqa(path: str | os.PathLike[str] | None = None, *, split: str = "dev",
                  strict: bool = False) -> HotpotQALoad:
    """Read ``path`` (a file or a folder; None: ``$AGENTLEDGER_HOTPOTQA``)."""
    if split not in SPLITS:
        raise DataError(f"unknown HotpotQA split {split!r}; valid splits: {', '.join(SPLITS)}")
    needed = NEEDED_FILE[split]
    root = resolve_data_path(path, ENV_VAR, needed=f"{needed} or a folder of HotpotQA files",
                             official_url=OFFICIAL_URLS[needed])
    ignored: list[str] = []
    if root.is_dir():
        files = []
        for candidate in _files_in(root):
            try:
                files.append(read_file(candidate, strict=strict))
            except _NotHotpotQA:
                ignored.append(candidate.name)
        if not files:
            raise DataError(f"{root} holds no HotpotQA file; put {needed} there "
                            f"(download: {OFFICIAL_URLS[needed]})")
    else:
        files = [read_file(root, strict=strict)]
    return HotpotQALoad(root, split, tuple(files), tuple(_questions(files)), tuple(ignored))
