"""HTML of the shop's pages, laid out like WebShop's templates so the text views read the same.

Every page a session sees starts with the instruction; buttons are ``<button class="btn">``
inside a form whose ``action`` is the next page, product ids are ``<a class="product-link">``
and option values are radio inputs (``value`` and ``data-url``) with a ``<label>``, as in
WebShop's ``web_agent_site/templates``. The text view of, for example, a results page is
``Instruction: [SEP] ... [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next >
[SEP] B078GWRC1J [SEP] Bright Citrus Deodorant ... [SEP] $10.99 [SEP] ...``.

Page state travels in the URL (keywords, page, chosen options as JSON), as in WebShop's
Flask app; the session id is the first path segment after the page name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import quote, urlencode

from .catalog import Product

__all__ = ["PRODUCT_WINDOW", "SUB_PAGES", "search_url", "results_url", "item_url", "sub_page_url", "done_url",
           "search_page", "results_page", "item_page", "sub_page", "done_page"]

PRODUCT_WINDOW = 10
SUB_PAGES = ("Description", "Features", "Reviews")


def _q(value: str) -> str:
    return quote(value, safe="")


def _opts(options: Mapping[str, str]) -> str:
    return json.dumps(dict(options), separators=(",", ":"), ensure_ascii=False)


def search_url(sid: str) -> str:
    return f"/{_q(sid)}"


def results_url(sid: str, keywords: str, page: int) -> str:
    return f"/search_results/{_q(sid)}?{urlencode({'keywords': keywords, 'page': page})}"


def item_url(sid: str, asin: str, keywords: str, page: int, options: Mapping[str, str]) -> str:
    query = urlencode({"keywords": keywords, "page": page, "options": _opts(options)})
    return f"/item_page/{_q(sid)}/{_q(asin)}?{query}"


def sub_page_url(sid: str, asin: str, sub: str, keywords: str, page: int, options: Mapping[str, str]) -> str:
    query = urlencode({"keywords": keywords, "page": page, "options": _opts(options)})
    return f"/item_sub_page/{_q(sid)}/{_q(asin)}/{_q(sub)}?{query}"


def done_url(sid: str, asin: str, options: Mapping[str, str]) -> str:
    return f"/done/{_q(sid)}/{_q(asin)}?{urlencode({'options': _opts(options)})}"


def _html(body: str, title: str = "WebShop") -> str:
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{escape(title)}</title></head>\n'
            f'<body><div class="container">\n{body}\n</div></body></html>\n')


def _button(action: str, label: str, cls: str = "btn btn-primary") -> str:
    return (f'<form method="post" action="{escape(action)}">'
            f'<button type="submit" class="{cls}">{escape(label)}</button></form>\n')


def _instruction(text: str) -> str:
    return f'<div id="instruction-text"><h4>Instruction:<br>{escape(text)}</h4></div>\n'


def search_page(sid: str, instruction: str) -> str:
    body = (f'<div id="logo"><h2>WebShop</h2></div>\n{_instruction(instruction)}'
            f'<form id="search-form" method="post" action="{escape(search_url(sid))}">'
            '<input id="search_input" type="text" name="search_query" placeholder="Search..." required/>'
            '<button class="btn btn-success" type="submit">Search</button></form>')
    return _html(body)


def results_page(sid: str, instruction: str, keywords: str, page: int, products: Sequence[Product],
                 total: int) -> str:
    parts = [_instruction(instruction), _button(search_url(sid), "Back to Search", "btn btn-success"),
             f"<p>Page {page} (Total results: {total})</p>\n"]
    if page > 1:
        parts.append(_button(results_url(sid, keywords, page - 1), "< Prev"))
    if page * PRODUCT_WINDOW < total:
        parts.append(_button(results_url(sid, keywords, page + 1), "Next >"))
    for p in products:
        href = item_url(sid, p.asin, keywords, page, {})
        parts.append(f'<div class="grid-item"><h4 class="product-asin"><a class="product-link" '
                     f'href="{escape(href)}">{escape(p.asin)}</a></h4>'
                     f'<h4 class="product-title">{escape(p.name)}</h4>'
                     f'<h5 class="product-price">{escape(p.price_tag)}</h5></div>\n')
    return _html("".join(parts))


def item_page(sid: str, instruction: str, product: Product, keywords: str, page: int,
              options: Mapping[str, str]) -> str:
    parts = [_instruction(instruction), _button(search_url(sid), "Back to Search", "btn btn-success"),
             _button(results_url(sid, keywords, page), "< Prev")]
    for name, values in product.options.items():
        parts.append(f"<div class=\"option\"><h4>{escape(name)}</h4><div class=\"radio-toolbar\">")
        for i, value in enumerate(values):
            url = item_url(sid, product.asin, keywords, page, {**options, name: value})
            checked = " checked" if options.get(name) == value else ""
            parts.append(f'<input type="radio" id="radio_{escape(name)}{i}" name="{escape(name)}" '
                         f'value="{escape(value)}" data-url="{escape(url)}"{checked}>'
                         f'<label for="radio_{escape(name)}{i}">{escape(value)}</label>')
        parts.append("</div></div>\n")
    parts.append(f"<h2>{escape(product.name)}</h2>\n<h4>Price: {escape(product.price_tag)}</h4>\n"
                 f"<h4>Rating: {escape(product.rating)}</h4>\n")
    for sub in SUB_PAGES:
        parts.append(_button(sub_page_url(sid, product.asin, sub, keywords, page, options), sub))
    parts.append(_button(done_url(sid, product.asin, options), "Buy Now", "btn btn-lg purchase"))
    return _html("".join(parts))


def sub_page(sid: str, instruction: str, product: Product, sub: str, keywords: str, page: int,
             options: Mapping[str, str]) -> str:
    parts = [_instruction(instruction), _button(search_url(sid), "Back to Search", "btn btn-success"),
             _button(item_url(sid, product.asin, keywords, page, options), "< Prev")]
    if sub == "Description":
        parts.append(f'<p class="product-info">{escape(product.description)}</p>\n')
    elif sub == "Features":
        items = "".join(f"<li><p class=\"product-info\">{escape(b)}</p></li>" for b in product.bullet_points)
        parts.append(f"<ul>{items}</ul>\n")
    return _html("".join(parts))


def done_page(asin: str, options: Mapping[str, str], reward: float, detail: Mapping[str, object]) -> str:
    data = json.dumps({"asin": asin, "options": dict(options), "reward": reward, "detail": dict(detail)})
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")  # safe inside <script>
    body = ('<div id="thankyou"><h1>Thank you for shopping with us!</h1></div>\n'
            f'<h4 id="asin">Purchased<br>asin<pre>{escape(asin)}</pre></h4>\n'
            f'<h4 id="options">options<pre>{escape(_opts(options))}</pre></h4>\n'
            f'<h3 id="reward">Your score (min 0.0, max 1.0)<pre>{reward}</pre></h3>\n'
            f'<script type="application/json" id="purchase">{data}</script>')
    return _html(body)
