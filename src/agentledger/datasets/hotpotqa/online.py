"""The live Wikipedia backend: the MediaWiki API (``action=query``) over ``httpx``, cached on disk.

``fetch(entity)`` follows what ReAct's WikiEnv gets from Wikipedia's search page:

1. the page titled ``entity`` (the API resolves redirects and first-letter case), as
   plain-text ``extracts``; a disambiguation page does not count as found;
2. otherwise ``list=search``: a result whose title matches the entity case-insensitively
   is opened; else the first five result titles are the "Similar" list.

A page's text is cut into sentences as ReAct does: paragraphs (lines of more than two
words, section headings dropped) split at ". ". Each distinct request is answered from
the on-disk cache when it is there (one JSON file per request, written atomically), so
reruns are reproducible and offline once warmed. Transient HTTP failures (429, 5xx,
timeouts) are retried; other failures raise :class:`OnlineWikiError`, which the capture
layer records as a failed tool call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import httpx

from ... import __version__
from .env import NotFound
from .wiki_index import WikiPage, default_cache_dir, normalize_title

__all__ = ["API_URL", "USER_AGENT", "OnlineWikiError", "OnlineWiki", "page_from_extract"]

API_URL = "https://en.wikipedia.org/w/api.php"
USER_AGENT = f"agentledger/{__version__} (HotpotQA search/lookup tools; python-httpx)"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_HEADING = re.compile(r"^=+[^=].*=+$")
_ENDS_SENTENCE = (".", "!", "?", '"', "\u201d")


class OnlineWikiError(RuntimeError):
    """The Wikipedia API could not be reached or gave an answer that is not a query result."""


def page_from_extract(title: str, extract: str) -> WikiPage:
    """A page from a plain-text extract, in sentences cut as ReAct's ``get_page_obs`` cuts them."""
    sentences: list[str] = []
    for line in extract.split("\n"):
        line = line.strip()
        if not line or _HEADING.match(line) or len(line.split(" ")) <= 2:
            continue
        for part in line.split(". "):
            part = part.strip()
            if part:
                sentences.append(part if part.endswith(_ENDS_SENTENCE) else part + ".")
    return WikiPage(title, tuple(sentences))


class OnlineWiki:
    """The MediaWiki backend. Create it, use it from one event loop, then ``await aclose()``."""

    backend = "live_api"

    def __init__(self, *, cache_dir: Path | None = None, api_url: str = API_URL, timeout_s: float = 15.0,
                 transport: httpx.AsyncBaseTransport | None = None, retries: int = 2,
                 retry_wait_s: float = 1.0, similar_limit: int = 5, use_cache: bool = True) -> None:
        self.api_url = api_url
        self.cache_dir = (cache_dir or default_cache_dir()).expanduser() / "online"
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
        self._transport = transport
        self._retries, self._wait_s = retries, retry_wait_s
        self._limit = similar_limit
        self._use_cache = use_cache
        self._client: httpx.AsyncClient | None = None
        self.requests_sent = 0  # HTTP requests made (cache hits excluded)

    # ------------------------------------------------------------------ tool semantics

    async def fetch(self, entity: str) -> WikiPage | NotFound:
        page = await self._page(entity)
        if page is not None:
            return page
        titles = await self._search(entity)
        wanted = normalize_title(entity)
        for title in titles:
            if normalize_title(title) == wanted:
                page = await self._page(title)
                if page is not None:
                    return page
        return NotFound(tuple(titles[: self._limit]))

    async def _page(self, title: str) -> WikiPage | None:
        data = await self._get({"action": "query", "prop": "extracts|pageprops", "ppprop": "disambiguation",
                                "explaintext": "1", "exsectionformat": "wiki", "redirects": "1",
                                "titles": title})
        pages = data.get("query", {}).get("pages") or []
        if not pages:
            return None
        page = pages[0]
        if page.get("missing") or page.get("invalid") or "disambiguation" in (page.get("pageprops") or {}):
            return None
        extract = page.get("extract") or ""
        if not extract.strip() or "may refer to:" in extract:
            return None
        return page_from_extract(page.get("title", title), extract)

    async def _search(self, entity: str) -> list[str]:
        data = await self._get({"action": "query", "list": "search", "srsearch": entity, "srnamespace": "0",
                                "srlimit": str(self._limit), "srprop": ""})
        return [hit["title"] for hit in data.get("query", {}).get("search", []) if "title" in hit]

    # ------------------------------------------------------------------ HTTP and cache

    def _cache_path(self, params: dict[str, str]) -> Path:
        key = hashlib.sha256(json.dumps([self.api_url, sorted(params.items())]).encode()).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.json"

    async def _get(self, params: dict[str, str]) -> dict[str, Any]:
        params = {**params, "format": "json", "formatversion": "2"}
        path = self._cache_path(params)
        if self._use_cache:
            cached = await asyncio.to_thread(_read_json, path)
            if cached is not None:
                return cached
        data = await self._request(params)
        if self._use_cache:
            await asyncio.to_thread(_write_json, path, data)
        return data

    async def _request(self, params: dict[str, str]) -> dict[str, Any]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport,
                                             headers={"User-Agent": USER_AGENT}, follow_redirects=True)
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                self.requests_sent += 1
                resp = await self._client.get(self.api_url, params=params)
            except httpx.TransportError as err:
                if last:
                    raise OnlineWikiError(f"Wikipedia API at {self.api_url} unreachable: "
                                          f"{type(err).__name__}: {err}") from None
                await asyncio.sleep(self._wait_s * 2**attempt)
                continue
            if resp.status_code in _RETRY_STATUS and not last:
                retry_after = resp.headers.get("Retry-After", "")
                await asyncio.sleep(float(retry_after) if retry_after.isdigit() else self._wait_s * 2**attempt)
                continue
            return _query_result(resp)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def _query_result(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code != 200:
        raise OnlineWikiError(f"Wikipedia API answered HTTP {resp.status_code} for {resp.request.url}")
    try:
        data = resp.json()
    except ValueError:
        raise OnlineWikiError(f"Wikipedia API sent something other than JSON for {resp.request.url}") from None
    if not isinstance(data, dict):
        raise OnlineWikiError("Wikipedia API sent JSON that is not an object")
    if "error" in data:
        err = data["error"] if isinstance(data["error"], dict) else {}
        raise OnlineWikiError(f"Wikipedia API error {err.get('code', '?')}: {err.get('info', '')}")
    return data


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically; a cache that cannot be written is not an error (the answer is still used)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
