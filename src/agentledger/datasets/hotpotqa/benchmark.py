"""``HotpotQA``: the benchmark object the capture layer runs (tasks, per-task tools, scorer)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ...errors import DataError, UsageError
from ..base import Benchmark, Score, Task, TaskEnv
from .env import HotpotQAEnv, LocalWiki, WikiBackend
from .loader import NEEDED_FILE, OFFICIAL_URLS, HotpotQALoad, Question, load_hotpotqa
from .online import OnlineWiki
from .scoring import score_answer
from .wiki_index import ProgressFn, WikiIndex, build_index, default_cache_dir

__all__ = ["WIKI_BACKENDS", "QUESTION_TYPES", "LEVELS", "HotpotQA"]

WIKI_BACKENDS = ("local", "online")
QUESTION_TYPES = ("bridge", "comparison")
LEVELS = ("easy", "medium", "hard")


def _check(value: str | None, valid: tuple[str, ...], what: str) -> None:
    if value is not None and value not in valid:
        raise DataError(f"unknown HotpotQA {what} {value!r}; valid values: {', '.join(valid)}")


class HotpotQA(Benchmark):
    """HotpotQA questions with ReAct's ``search``/``lookup`` Wikipedia tools, scored by exact match.

    ``data`` is a file or folder (None: ``$AGENTLEDGER_HOTPOTQA``). ``wiki="local"`` builds
    (or reuses) the offline index over the data's context paragraphs, in ``cache_dir``
    (default ``~/.cache/agentledger/hotpotqa``); ``wiki="online"`` asks en.wikipedia.org.
    ``question_type``, ``level`` and ``require_context`` (only questions whose supporting
    pages are in the data) filter the tasks.
    """

    name = "hotpotqa"
    tool_names = ("search", "lookup")

    def __init__(self, data: str | os.PathLike[str] | None = None, *, wiki: str = "local",
                 cache_dir: str | os.PathLike[str] | None = None, strict: bool = False, split: str = "dev",
                 question_type: str | None = None, level: str | None = None, require_context: bool = False,
                 progress: ProgressFn | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if wiki not in WIKI_BACKENDS:
            raise UsageError(f"unknown HotpotQA wiki backend {wiki!r}; valid values: {', '.join(WIKI_BACKENDS)}")
        _check(question_type, QUESTION_TYPES, "question type")
        _check(level, LEVELS, "level")
        self.wiki = wiki
        self.filters = {"question_type": question_type, "level": level, "require_context": require_context}
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self.load: HotpotQALoad = load_hotpotqa(data, split=split, strict=strict)
        self.index: WikiIndex | None = None
        self._titles = {p.title for p in self.load.paragraphs()}
        self._wiki: WikiBackend
        if wiki == "local":
            if not self.load.context_files:
                needed = NEEDED_FILE[split]
                raise DataError(f"{self.load.path} has questions but no context paragraphs; the local Wikipedia "
                                f"needs {needed} (download: {OFFICIAL_URLS[needed]}), or use wiki='online'")
            total = sum(len(r.paragraphs) for f in self.load.context_files for r in f.records)
            self.index = build_index(self.load.paragraphs(), [f"{f.fmt}:{f.sha256}" for f in self.load.context_files],
                                     cache_dir=self.cache_dir, progress=progress, total=total)
            self._wiki = LocalWiki(self.index)
        else:
            self._wiki = OnlineWiki(cache_dir=self.cache_dir, transport=transport)
        self._tasks = [self._task(n, q) for n, q in enumerate(self.load.questions) if self._keep(q)]

    @property
    def tool_backend(self) -> str:
        """The trace's ``tool_backend`` value for this benchmark's tools."""
        return self._wiki.backend

    def _has_context(self, q: Question) -> bool:
        titles = q.record.supporting_titles
        return bool(titles) and all(t in self._titles for t in titles)

    def _keep(self, q: Question) -> bool:
        f = self.filters
        return ((f["question_type"] is None or q.record.qtype == f["question_type"])
                and (f["level"] is None or q.record.level == f["level"])
                and (not f["require_context"] or self._has_context(q)))

    def _task(self, position: int, q: Question) -> Task:
        r = q.record
        if r.qid:
            task_id = r.qid
        elif q.index is not None:
            task_id = f"hotpotqa-{self.load.split}-{q.index}"
        else:  # neither an id nor a known position: the place in its file
            task_id = f"hotpotqa-{self.load.split}-{Path(q.source).stem}-{position}"
        return Task(task_id=task_id, prompt=r.question, reference=r.answer,
                    fields={"index": q.index, "type": r.qtype, "level": r.level,
                            "supporting_titles": list(r.supporting_titles), "has_context": self._has_context(q),
                            "source": q.source})

    def tasks(self, limit: int | None = None) -> list[Task]:
        return list(self._tasks if limit is None else self._tasks[:limit])

    def new_env(self, task: Task) -> TaskEnv:
        return HotpotQAEnv(self._wiki)

    async def score(self, task: Task, answer: str, env: TaskEnv | None = None) -> Score:
        return score_answer(answer, task.reference or "")

    def describe(self) -> Mapping[str, Any]:
        load = self.load
        out: dict[str, Any] = {
            "name": self.name, "split": load.split, "data": str(load.path), "wiki": self.wiki,
            "tool_backend": self.tool_backend,
            "files": [{"name": f.path.name, "format": f.fmt, "sha256": f.sha256, "records": len(f.records),
                       "malformed_skipped": f.malformed} for f in load.files],
            "ignored_files": list(load.ignored), "questions": len(load.questions), "tasks": len(self._tasks),
            "tasks_with_context": sum(bool(t.fields["has_context"]) for t in self._tasks),
            "context_titles": len(self._titles), "malformed_skipped": load.malformed,
            "filters": dict(self.filters), "summary": load.summary(),
        }
        if self.index is not None:
            info = self.index.info
            out["index"] = {"path": str(info.path), "key": info.key, "pages": info.pages,
                            "cache_hit": info.cache_hit, "build_s": info.build_s, "open_s": info.open_s}
        return out

    async def aclose(self) -> None:
        if self.index is not None:
            self.index.close()
        if isinstance(self._wiki, OnlineWiki):
            await self._wiki.aclose()
