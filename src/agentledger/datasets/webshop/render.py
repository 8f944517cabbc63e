"""Shop HTML -> what an agent sees and can click, the way WebShop's text environment reads pages.

``parse_page`` walks the HTML (standard-library ``html.parser``) and collects the visible text
nodes (not inside ``head``/``title``/``script``/``style``/``meta``) with their parent tag, and the
clickables WebShop's ``get_available_actions`` collects: ``.btn`` buttons and ``.product-link``
links by their lower-cased text, and option radio inputs by their ``value``; plus whether the page
has a search box (``#search_input``) and, on the done page, the purchase JSON.

Observation modes (WebShop's ``observation_mode``):

* ``text`` (alias ``simple``): the visible texts joined by ``" [SEP] "``, for example
  ``Instruction: [SEP] ... [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] ...``.
* ``text_rich``: one text per line, buttons as ``[button] Buy Now [button_]``, options indented and
  marked ``[clicked button]`` when chosen (with a ``You have clicked ...`` line on top), product ids
  marked ``[clicked button]`` once visited.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal

__all__ = ["ObservationMode", "OBSERVATION_MODES", "Clickable", "TextNode", "Page", "parse_page", "observation"]

ObservationMode = Literal["text", "simple", "text_rich"]
OBSERVATION_MODES: tuple[str, ...] = ("text", "simple", "text_rich")
_HIDDEN = frozenset({"style", "script", "head", "title", "meta", "[document]"})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})


@dataclass(frozen=True, slots=True)
class Clickable:
    kind: Literal["button", "product", "option"]
    url: str
    method: Literal["GET", "POST"]
    option_name: str | None = None


@dataclass(frozen=True, slots=True)
class TextNode:
    text: str  # stripped
    parent: str  # tag name of the element holding it
    classes: tuple[str, ...]


@dataclass
class Page:
    texts: list[TextNode] = field(default_factory=list)
    clickables: dict[str, Clickable] = field(default_factory=dict)
    search_action: str | None = None  # where search[...] posts, when the page has a search box
    search_field: str = "search_query"
    purchase: dict[str, Any] | None = None


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._stack: list[tuple[str, dict[str, str]]] = []
        self._form_action: str | None = None
        self._form_method: str = "GET"
        self._capture: list[str] | None = None  # text of the open button / product link
        self._buttons: list[tuple[str, Clickable]] = []
        self._links: list[tuple[str, Clickable]] = []
        self._options: list[tuple[str, Clickable]] = []
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "form":
            self._form_action, self._form_method = a.get("action", ""), a.get("method", "get").upper()
        elif tag == "input":
            if a.get("id") == "search_input":
                self.page.search_action = self._form_action
                self.page.search_field = a.get("name", "search_query")
            elif a.get("type") == "radio":
                self._options.append((a.get("value", ""), Clickable("option", a.get("data-url", ""), "GET",
                                                                    a.get("name", ""))))
        elif tag == "script" and a.get("id") == "purchase":
            self._script = []
        if tag in _VOID:
            return
        if (tag == "button" and "btn" in classes) or (tag == "a" and "product-link" in classes):
            self._capture = []
        self._stack.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        while self._stack:
            open_tag, a = self._stack.pop()
            if open_tag == tag:
                break
        if tag == "form":
            self._form_action = None
        elif tag == "script" and self._script is not None:
            self.page.purchase = json.loads("".join(self._script))
            self._script = None
        if self._capture is not None and tag in ("button", "a"):
            text = " ".join("".join(self._capture).split()).lower()
            if tag == "button" and self._form_action is not None:
                method: Literal["GET", "POST"] = "POST" if self._form_method == "POST" else "GET"
                self._buttons.append((text, Clickable("button", self._form_action, method)))
            elif tag == "a":
                self._links.append((text, Clickable("product", a.get("href", ""), "GET")))
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
            return
        if self._capture is not None:
            self._capture.append(data)
        if not self._stack or not data.strip():
            return
        tag, a = self._stack[-1]
        if tag in _HIDDEN or any(t in ("head", "script", "style") for t, _ in self._stack):
            return
        self.page.texts.append(TextNode(data.strip(), tag, tuple(a.get("class", "").split())))

    def finish(self) -> Page:
        # WebShop: buttons and product links by lower-cased text, then options by value (these win)
        for key, clickable in (*self._buttons, *self._links, *self._options):
            self.page.clickables[key] = clickable
        return self.page


def parse_page(html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.finish()


def observation(page: Page, mode: str = "text", *, chosen: Collection[str] = (),
                visited: Collection[str] = ()) -> str:
    """The text of ``page`` in ``mode``; ``chosen``: option values picked, ``visited``: ASINs opened."""
    if mode in ("text", "simple"):
        return " [SEP] ".join(node.text for node in page.texts)
    if mode != "text_rich":
        raise ValueError(f"unknown observation mode {mode!r}; use one of {', '.join(OBSERVATION_MODES)}")
    head: list[str] = []
    lines: list[str] = []
    for node in page.texts:
        t = node.text
        if node.parent == "button":
            lines.append(f"[button] {t} [button_]")
        elif node.parent == "label":
            if t in chosen:
                lines.append(f"  [clicked button] {t} [clicked button_]")
                head.insert(0, f"You have clicked {t}.")
            else:
                lines.append(f"  [button] {t} [button_]")
        elif node.classes == ("product-link",):
            mark = "clicked button" if t.upper() in visited else "button"
            lines.append(f"\n[{mark}] {t} [{mark}_]")
        else:
            lines.append(t)
    return "\n".join(head + lines)
