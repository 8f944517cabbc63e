"""The ``search`` and ``lookup`` tools of one HotpotQA task, with ReAct's WikiEnv semantics.

As in ReAct's ``wikienv.py`` (Yao et al.):

* ``search[entity]``: if a page has that title (compared case-insensitively, after
  normalization), it becomes the current page and the observation is its first five
  sentences; otherwise ``Could not find <entity>. Similar: ['T1', 'T2', ...].`` with
  the top five search titles, and the current page stays as it was.
* ``lookup[keyword]``: the next sentence of the current page that contains the keyword
  (case-insensitively), as ``(Result i / n) <sentence>``, then ``No more results.``.
  A new keyword, or a search that opens a page, starts the count again.

The page store is a :class:`WikiBackend`: the local index (:class:`LocalWiki`) or the
live MediaWiki API (:mod:`.online`). Each task gets its own :class:`HotpotQAEnv`; the
backend is shared and holds no per-task state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from ..base import TaskEnv
from .wiki_index import WikiIndex, WikiPage

__all__ = ["OBS_SENTENCES", "NotFound", "WikiBackend", "LocalWiki", "HotpotQAEnv", "parse_argument",
           "page_observation", "SEARCH_SYNTAX", "LOOKUP_SYNTAX", "NO_PAGE", "NO_MORE"]

OBS_SENTENCES = 5  # ReAct shows the first five sentences of a page
SEARCH_SYNTAX = ("Invalid action: search needs an entity name inside the brackets, on one line, "
                 "e.g. search[Barack Obama].")
LOOKUP_SYNTAX = "Invalid action: lookup needs a keyword inside the brackets, on one line, e.g. lookup[born]."
NO_PAGE = "No page is open to look up in: first search[entity] to open a page, then lookup[keyword] in it."
NO_MORE = "No more results."
_PAIRS = MappingProxyType({'"': '"', "'": "'", "[": "]", "\u201c": "\u201d", "`": "`"})


@dataclass(frozen=True, slots=True)
class NotFound:
    """No page has the title searched for; ``similar`` are the best search titles."""

    similar: tuple[str, ...]


class WikiBackend(Protocol):
    """Where pages come from. ``backend`` is the trace's ``tool_backend`` value."""

    backend: str

    async def fetch(self, entity: str) -> WikiPage | NotFound: ...


class LocalWiki:
    """The offline backend: the shared :class:`WikiIndex`, queried in worker threads."""

    backend = "local_index"

    def __init__(self, index: WikiIndex, similar_limit: int = 5) -> None:
        self.index = index
        self._limit = similar_limit

    def _fetch(self, entity: str) -> WikiPage | NotFound:
        page = self.index.page(entity)
        return page if page is not None else NotFound(tuple(self.index.similar(entity, self._limit)))

    async def fetch(self, entity: str) -> WikiPage | NotFound:
        return await asyncio.to_thread(self._fetch, entity)


def parse_argument(raw: str) -> str | None:
    """The entity or keyword in a tool argument (one pair of quotes or brackets removed), or None."""
    text = raw.strip()
    if len(text) >= 2 and _PAIRS.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    if not text or "\n" in text:
        return None
    return " ".join(text.split())


def page_observation(page: WikiPage, sentences: int = OBS_SENTENCES) -> str:
    """What a search that opens ``page`` shows: its first sentences."""
    text = " ".join(s.strip() for s in page.sentences[:sentences] if s.strip())
    return text or f"The page {page.title} has no text."


class HotpotQAEnv(TaskEnv):
    """One task's Wikipedia state: the current page and the lookup position in it.

    When an agent runs searches in parallel, the current page is the one whose search
    finished last.
    """

    def __init__(self, wiki: WikiBackend) -> None:
        self.wiki = wiki
        self.backend = wiki.backend
        self.page: WikiPage | None = None
        self._keyword: str | None = None
        self._hits: list[str] = []
        self._next = 0
        self.tools = MappingProxyType({"search": self.search, "lookup": self.lookup})
        self.tool_backends = MappingProxyType(dict.fromkeys(self.tools, self.backend))

    async def search(self, argument: str) -> str:
        entity = parse_argument(argument)
        if entity is None:
            return SEARCH_SYNTAX
        result = await self.wiki.fetch(entity)
        if isinstance(result, NotFound):
            return f"Could not find {entity}. Similar: {list(result.similar)}."
        self.page = result
        self._keyword, self._hits, self._next = None, [], 0
        return page_observation(result)

    async def lookup(self, argument: str) -> str:
        keyword = parse_argument(argument)
        if keyword is None:
            return LOOKUP_SYNTAX
        if self.page is None:
            return NO_PAGE
        if keyword != self._keyword:
            needle = keyword.lower()
            self._keyword, self._next = keyword, 0
            self._hits = [s.strip() for s in self.page.sentences if needle in s.lower()]
        if self._next >= len(self._hits):
            return NO_MORE
        self._next += 1
        return f"(Result {self._next} / {len(self._hits)}) {self._hits[self._next - 1]}"
