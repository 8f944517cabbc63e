"""BM25 product search over the catalog, with SQLite FTS5's built-in ``bm25()``.

WebShop ranks products with a Lucene BM25 index (pyserini) and keeps the top 50
(``SEARCH_RETURN_N``). Here one in-memory FTS5 table is built per catalog: one row per product
with the columns name, category, query, small description (features) and attributes, tokenised
with the Porter stemmer over ``unicode61`` (case and diacritics folded). A search matches
products that contain any of the query's words (an OR query) and orders them by ``bm25()``,
ties by catalog order. Building the 1000-product index takes a few tens of milliseconds
(``build_s``), so it is not cached on disk.

The connection is created with ``check_same_thread=False`` and every use holds a lock, so the
shop server's thread and the caller's thread may both search.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterable

from agentledger.errors import DataError

from .catalog import Product

__all__ = ["SEARCH_RETURN_N", "SearchIndex", "fts_query"]

SEARCH_RETURN_N = 50
_WORDS = re.compile(r"\w+", re.UNICODE)
_COLUMNS = ("name", "category", "query", "small_description", "attributes")


def fts_query(text: str) -> str:
    """An FTS5 query matching any word of ``text`` (each word quoted, so no operator syntax leaks in)."""
    words = dict.fromkeys(w.lower() for w in _WORDS.findall(text))
    return " OR ".join(f'"{w}"' for w in words)


class SearchIndex:
    """An FTS5 index of one catalog; ``search`` returns ASINs, best first."""

    def __init__(self, products: Iterable[Product]) -> None:
        start = time.perf_counter()
        try:
            self._db = sqlite3.connect(":memory:", check_same_thread=False)
            self._db.execute(
                f"CREATE VIRTUAL TABLE docs USING fts5(asin UNINDEXED, {', '.join(_COLUMNS)}, "
                "tokenize = 'porter unicode61 remove_diacritics 2')"
            )
        except sqlite3.OperationalError as err:
            raise DataError(f"this Python's SQLite has no FTS5 ({err}); use a Python built with FTS5") from None
        rows = [(p.asin, p.name, p.category, p.query, " ".join(p.bullet_points), " ".join(p.attributes))
                for p in products]
        with self._db:
            self._db.executemany(f"INSERT INTO docs (asin, {', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)", rows)
        self.size = len(rows)
        self.build_s = time.perf_counter() - start
        self._lock = threading.Lock()

    def search(self, text: str, k: int = SEARCH_RETURN_N) -> list[str]:
        """The ASINs of the ``k`` best products for ``text`` (empty when no word of it is indexed)."""
        query = fts_query(text)
        if not query:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT asin FROM docs WHERE docs MATCH ? ORDER BY bm25(docs), rowid LIMIT ?", (query, k)
            ).fetchall()
        return [asin for (asin,) in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
