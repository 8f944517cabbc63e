"""One task's WebShop session: the ``search`` and ``click`` tools, driven over real HTTP.

``WebShopEnv`` acts as WebShop's text environment and its simulated browser: it opens the session
page ``/{nonce}_{goal_id}`` on the shop server (a fresh nonce per env, so concurrent tasks never
share a session), keeps the current page, and turns actions into requests with its own
``httpx.AsyncClient``:

* ``search[keywords]`` posts the keywords (lower-cased) to the page's search box; only the search
  page has one, so elsewhere the observation says to ``click[Back to Search]`` first.
* ``click[element]`` follows the button, product id or option value shown on the page
  (case-insensitive); anything else returns an observation listing what is clickable.
* ``click[Buy Now]`` buys: the observation is the done page with the score, the env records the
  purchase (``purchase``, ``reward``) and later actions only say that the episode is over.

``strict=False`` also accepts arguments wrapped in brackets or quotes or ending in a period, and a
search from any page (it goes back to the search page first). Failures of the server itself (a
refused connection, an error status) raise; wrong actions never do.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from agentledger.errors import DataError, UsageError

from ..base import TaskEnv, Tool
from . import pages
from .render import OBSERVATION_MODES, Page, observation, parse_page

__all__ = ["WebShopEnv", "clean_argument"]


def clean_argument(text: str) -> str:
    """Lenient form of an action argument: outer brackets/quotes and a final period removed."""
    arg, previous = " ".join(text.split()), None
    while arg != previous:
        previous = arg
        if arg.endswith(".") and not arg.endswith(".."):
            arg = arg[:-1].rstrip()
        if len(arg) >= 2 and (arg[0], arg[-1]) in {("[", "]"), ('"', '"'), ("'", "'"), ("`", "`")}:
            arg = arg[1:-1].strip()
    return arg


class WebShopEnv(TaskEnv):
    """The tools of one WebShop task; ``base_url`` is the running shop server."""

    def __init__(self, base_url: str, goal_id: str, *, observation_mode: str = "text", strict: bool = True,
                 timeout_s: float = 30.0) -> None:
        if observation_mode not in OBSERVATION_MODES:
            raise UsageError(f"unknown observation mode {observation_mode!r}; use {', '.join(OBSERVATION_MODES)}")
        self.goal_id = goal_id
        self.session_id = f"{secrets.token_hex(6)}_{goal_id}"
        self.mode = observation_mode
        self.strict = strict
        self.url: str | None = None
        self.page: Page | None = None
        self.purchase: dict[str, Any] | None = None
        self.visited: set[str] = set()
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, trust_env=False,
                                         follow_redirects=True)
        self._lock = asyncio.Lock()
        self.tools: dict[str, Tool] = {"search": self.search, "click": self.click}

    # ------------------------------------------------------------------ state

    @property
    def done(self) -> bool:
        return self.purchase is not None

    @property
    def reward(self) -> float | None:
        return None if self.purchase is None else float(self.purchase["reward"])

    def observation(self) -> str:
        """The current page in this env's observation mode (empty before the first action)."""
        if self.page is None:
            return ""
        return observation(self.page, self.mode, chosen=set(self._chosen_options().values()), visited=self.visited)

    def _chosen_options(self) -> dict[str, str]:
        raw = parse_qs(urlsplit(self.url or "").query).get("options", ["{}"])[-1]
        found = json.loads(raw)
        return found if isinstance(found, dict) else {}

    async def _load(self, method: str, url: str, data: dict[str, str] | None = None) -> str:
        response = await self._client.request(method, url, data=data)
        if response.status_code != 200:
            raise DataError(f"the shop answered {response.status_code} for {method} {url}: "
                            f"{response.text.strip()[:200]}")
        self.url = str(response.url)
        self.page = parse_page(response.text)
        if self.page.purchase is not None:
            self.purchase = self.page.purchase
        return self.observation()

    async def reset(self) -> str:
        """Start over in a new session (the shop keeps a session's first purchase) and open its
        search page; returns its observation."""
        async with self._lock:
            self.session_id = f"{secrets.token_hex(6)}_{self.goal_id}"
            self.purchase, self.visited = None, set()
            return await self._load("GET", pages.search_url(self.session_id))

    async def _ensure_open(self) -> None:
        if self.page is None:
            await self._load("GET", pages.search_url(self.session_id))

    def _over(self) -> str:
        assert self.purchase is not None
        return (f"The episode is over: you bought {self.purchase['asin']} and scored {self.purchase['reward']}. "
                "No more actions are possible.")

    def _clickable_list(self) -> str:
        assert self.page is not None
        keys = [k for k in self.page.clickables if k != "search"]
        return ", ".join(f"click[{k}]" for k in keys)

    # ------------------------------------------------------------------ tools

    async def search(self, argument: str) -> str:
        """``search[keywords]``."""
        async with self._lock:
            await self._ensure_open()
            if self.done:
                return self._over()
            keywords = argument.strip() if self.strict else clean_argument(argument)
            if not keywords:
                return "Invalid action: search needs keywords, e.g. search[blue running shoes]."
            assert self.page is not None
            if self.page.search_action is None:
                if self.strict:
                    return ("Invalid action: there is no search box on this page; click[Back to Search] first. "
                            f"Clickable here: {self._clickable_list()}.")
                await self._load("GET", pages.search_url(self.session_id))
            assert self.page.search_action is not None
            return await self._load("POST", self.page.search_action, {self.page.search_field: keywords.lower()})

    async def click(self, argument: str) -> str:
        """``click[element]``: a button, a product id or an option value shown on the page."""
        async with self._lock:
            await self._ensure_open()
            if self.done:
                return self._over()
            key = (" ".join(argument.split()) if self.strict else clean_argument(argument)).lower()
            assert self.page is not None
            if not key:
                return "Invalid action: click needs an element, e.g. click[Buy Now] or click[B078GWRC1J]."
            target = self.page.clickables.get(key) if key != "search" else None
            if target is None:
                listed = self._clickable_list()
                if not listed:
                    return (f"Invalid action: {argument.strip()!r} is not clickable; nothing on this page is. "
                            "Use search[keywords] here.")
                return f"Invalid action: {argument.strip()!r} is not on this page. Clickable here: {listed}."
            if target.kind == "product":
                self.visited.add(key.upper())
            return await self._load(target.method, target.url)

    async def aclose(self) -> None:
        await self._client.aclose()
