"""The shop as a Starlette ASGI app: WebShop's routes, one goal per session id in the URL.

Routes (GET or POST, as WebShop's forms post):

* ``/{session_id}``: the search page; a form field ``search_query`` redirects (303) to the results.
  The session id is ``{nonce}_{goal_id}`` (for example ``3f9a0c1d2b_fixed_12``): the goal comes from
  the id, as in WebShop (``fixed_N``), and the nonce keeps two runs of one goal apart.
* ``/search_results/{session_id}?keywords=&page=``: ten products per page of the top 50.
* ``/item_page/{session_id}/{asin}?keywords=&page=&options=``: the product with its options.
* ``/item_sub_page/{session_id}/{asin}/{Description|Features|Reviews}?...``.
* ``/done/{session_id}/{asin}?options=``: buys, scores against the session's goal, ends the session
  (a second purchase shows the first one again).
* ``/session/{session_id}``: the session's goal id and purchase as JSON; ``/healthz``: ``ok``.

All state lives in the :class:`Shop` instance behind the app, so two apps never share sessions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from . import pages
from .catalog import Catalog, Product
from .goals import Goal
from .reward import get_reward
from .search_index import SearchIndex

__all__ = ["SESSION_ID", "Purchase", "Shop", "create_app"]

SESSION_ID = re.compile(r"^(?P<nonce>[0-9a-z]{4,32})_(?P<goal>fixed_\d+)$")
_METHODS = ("GET", "POST")


@dataclass(frozen=True, slots=True)
class Purchase:
    asin: str
    options: Mapping[str, str]
    price: float
    reward: float
    detail: Mapping[str, float]


@dataclass
class _Session:
    goal: Goal
    purchase: Purchase | None = None


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Shop:
    """Catalog, goals and search index behind one app, plus its sessions."""

    catalog: Catalog
    goals: Sequence[Goal]
    index: SearchIndex
    sessions: dict[str, _Session] = field(default_factory=dict)
    goals_by_id: dict[str, Goal] = field(init=False)

    def __post_init__(self) -> None:
        self.goals_by_id = {g.goal_id: g for g in self.goals}

    def search(self, keywords: str) -> list[Product]:
        return [self.catalog.by_asin[a] for a in self.index.search(keywords) if a in self.catalog.by_asin]

    def session(self, sid: str, *, create: bool = False) -> _Session:
        found = self.sessions.get(sid)
        if found is not None:
            return found
        m = SESSION_ID.match(sid)
        if not create or m is None:
            raise _BadRequest(404, f"unknown session {sid!r}: open /{{nonce}}_{{goal_id}} first, e.g. /a1b2c3d4_fixed_0")
        goal = self.goals_by_id.get(m["goal"])
        if goal is None:
            raise _BadRequest(404, f"unknown goal {m['goal']!r}: goals are fixed_0 to fixed_{len(self.goals) - 1}")
        return self.sessions.setdefault(sid, _Session(goal))

    def buy(self, session: _Session, product: Product, options: Mapping[str, str]) -> Purchase:
        if session.purchase is None:
            price = self.catalog.prices[product.asin]
            reward = get_reward(product, session.goal, price, options)
            session.purchase = Purchase(product.asin, dict(options), price, reward.value, reward.as_detail())
        return session.purchase


async def _params(request: Request) -> dict[str, str]:
    values = dict(request.query_params)
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", "replace")
        values.update({k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()})
    return values


def _page_number(params: Mapping[str, str]) -> int:
    raw = params.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise _BadRequest(400, f"page must be a positive integer, not {raw!r}")
    return int(raw)


def _options(params: Mapping[str, str]) -> dict[str, str]:
    try:
        options = json.loads(params.get("options") or "{}")
    except json.JSONDecodeError:
        options = None
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        raise _BadRequest(400, "options must be a JSON object of option name to value")
    return options


def _product(shop: Shop, asin: str) -> Product:
    product = shop.catalog.by_asin.get(asin.upper())
    if product is None:
        raise _BadRequest(404, f"no product {asin!r} in this shop")
    return product


def create_app(shop: Shop) -> Starlette:
    """The ASGI app serving ``shop``."""

    async def index(request: Request, sid: str, params: dict[str, str]) -> Response:
        session = shop.session(sid, create=True)
        query = params.get("search_query", "").strip().lower()
        if query:
            return RedirectResponse(pages.results_url(sid, query, 1), status_code=303)
        return HTMLResponse(pages.search_page(sid, session.goal.instruction_text))

    async def results(request: Request, sid: str, params: dict[str, str]) -> Response:
        session = shop.session(sid)
        keywords, page = params.get("keywords", ""), _page_number(params)
        found = shop.search(keywords)
        window = found[(page - 1) * pages.PRODUCT_WINDOW: page * pages.PRODUCT_WINDOW]
        html = pages.results_page(sid, session.goal.instruction_text, keywords, page, window, len(found))
        return HTMLResponse(html)

    async def item(request: Request, sid: str, params: dict[str, str]) -> Response:
        session, product = shop.session(sid), _product(shop, request.path_params["asin"])
        html = pages.item_page(sid, session.goal.instruction_text, product, params.get("keywords", ""),
                               _page_number(params), _options(params))
        return HTMLResponse(html)

    async def sub_page(request: Request, sid: str, params: dict[str, str]) -> Response:
        session, product = shop.session(sid), _product(shop, request.path_params["asin"])
        sub = request.path_params["sub"].capitalize()
        if sub not in pages.SUB_PAGES:
            raise _BadRequest(404, f"no sub page {sub!r}; there are {', '.join(pages.SUB_PAGES)}")
        html = pages.sub_page(sid, session.goal.instruction_text, product, sub, params.get("keywords", ""),
                              _page_number(params), _options(params))
        return HTMLResponse(html)

    async def done(request: Request, sid: str, params: dict[str, str]) -> Response:
        session, product = shop.session(sid), _product(shop, request.path_params["asin"])
        bought = shop.buy(session, product, _options(params))
        return HTMLResponse(pages.done_page(bought.asin, bought.options, bought.reward, bought.detail))

    async def session_info(request: Request, sid: str, params: dict[str, str]) -> Response:
        session = shop.session(sid)
        bought = session.purchase
        purchase: dict[str, Any] | None = None if bought is None else {
            "asin": bought.asin, "options": dict(bought.options), "price": bought.price,
            "reward": bought.reward, "detail": dict(bought.detail)}
        return JSONResponse({"session_id": sid, "goal_id": session.goal.goal_id, "purchase": purchase})

    def route(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request, request.path_params["sid"], await _params(request))
            except _BadRequest as err:
                return PlainTextResponse(str(err), status_code=err.status)
        return endpoint

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route("/healthz", health, methods=["GET"]),
        Route("/search_results/{sid}", route(results), methods=_METHODS),
        Route("/item_page/{sid}/{asin}", route(item), methods=_METHODS),
        Route("/item_sub_page/{sid}/{asin}/{sub}", route(sub_page), methods=_METHODS),
        Route("/done/{sid}/{asin}", route(done), methods=_METHODS),
        Route("/session/{sid}", route(session_info), methods=["GET"]),
        Route("/{sid}", route(index), methods=_METHODS),
    ])
