"""The offline Wikipedia: an SQLite FTS5 index over every context paragraph, cached on disk.

Paragraphs are deduplicated by title (the first copy wins; :mod:`.loader` yields official
files first). The index file is named by a hash of the inputs' content, so a changed
input builds a new one, and it is written to a temporary file that is renamed into
place only when complete: a crash never leaves a half-built index behind.

Reads are thread-safe: each thread gets its own read-only connection, and a connection
is only ever used by the thread that opened it (the connections are kept so that
:meth:`WikiIndex.close` can release them at shutdown).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ...errors import DataError
from .formats import Paragraph

__all__ = ["SCHEMA_VERSION", "WikiPage", "IndexInfo", "WikiIndex", "ProgressFn", "default_cache_dir",
           "index_key", "normalize_title", "build_index"]

SCHEMA_VERSION = 1
ProgressFn = Callable[[int, int], None]  # (paragraphs done, paragraphs in all)
_TOKEN = re.compile(r"\w+")
_STALE_TMP_S = 3600.0
_PROGRESS_EVERY = 2000


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/agentledger/hotpotqa`` (``~/.cache/agentledger/hotpotqa`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "agentledger" / "hotpotqa"


def normalize_title(title: str) -> str:
    """The key an entity and a title are compared on: NFKC, case-folded, ``_`` as space, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", title).replace("_", " ").casefold().split())


def index_key(input_hashes: Iterable[str]) -> str:
    """The cache key: the schema version and the content hashes of the inputs, in order."""
    digest = hashlib.sha256(f"hotpotqa-wiki-v{SCHEMA_VERSION}".encode())
    for item in input_hashes:
        digest.update(b"\0" + item.encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class WikiPage:
    """A page the tools can show: its title and sentences (as the source gives them)."""

    title: str
    sentences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IndexInfo:
    path: Path
    key: str
    pages: int
    paragraphs_read: int  # before deduplication by title
    cache_hit: bool
    build_s: float  # time the build took (when it was built, possibly earlier)
    open_s: float  # time this call took (the build, or opening the cached file)


def _write(path: Path, key: str, paragraphs: Iterable[Paragraph], total: int,
           progress: ProgressFn | None) -> tuple[int, int]:
    db = sqlite3.connect(path)
    try:
        db.executescript("""
            PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
            CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE pages (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, norm TEXT NOT NULL,
                                body TEXT NOT NULL, sentences TEXT NOT NULL);
            CREATE INDEX pages_norm ON pages (norm);
            CREATE VIRTUAL TABLE pages_fts USING fts5(title, body, content='pages', content_rowid='id',
                                                      tokenize='unicode61 remove_diacritics 2');
        """)
        read = 0
        for para in paragraphs:
            read += 1
            body = " ".join(s.strip() for s in para.sentences if s.strip())
            db.execute("INSERT OR IGNORE INTO pages (title, norm, body, sentences) VALUES (?, ?, ?, ?)",
                       (para.title, normalize_title(para.title), body, json.dumps(para.sentences)))
            if progress is not None and read % _PROGRESS_EVERY == 0:
                progress(read, total)
        db.execute("INSERT INTO pages_fts (pages_fts) VALUES ('rebuild')")
        db.execute("INSERT INTO pages_fts (pages_fts) VALUES ('optimize')")
        pages = db.execute("SELECT count(*) FROM pages").fetchone()[0]
        return read, pages
    finally:
        db.commit()
        db.close()


def build_index(paragraphs: Iterable[Paragraph], input_hashes: Iterable[str], *, cache_dir: Path | None = None,
                progress: ProgressFn | None = None, total: int = 0) -> WikiIndex:
    """Open the cached index for these inputs, building it first if there is none.

    ``input_hashes`` identify the content (e.g. the sha256 of each context file);
    ``progress(done, total)`` is called every few thousand paragraphs and once at the end.
    """
    start = time.perf_counter()
    key = index_key(input_hashes)
    folder = (cache_dir or default_cache_dir()).expanduser()
    path = folder / f"wiki-{key[:24]}.sqlite"
    if path.exists():
        try:
            return WikiIndex(path, key, cache_hit=True, started=start)
        except DataError:
            pass  # damaged or foreign file: build it again
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale(folder, path.name)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError as err:
        raise DataError(f"cannot write the HotpotQA index in {folder}: {err.strerror or err}; "
                        f"pass another cache_dir") from None
    tmp = Path(tmp_name)
    try:
        read, pages = _write(tmp, key, paragraphs, total, progress)
        if pages == 0:
            raise DataError("no context paragraphs to index: local Wikipedia needs a file with context "
                            "(the official distractor file), or use the online backend")
        build_s = time.perf_counter() - start
        db = sqlite3.connect(tmp)
        with db:
            db.executemany("INSERT INTO meta VALUES (?, ?)",
                           [("key", key), ("pages", str(pages)), ("paragraphs_read", str(read)),
                            ("build_s", f"{build_s:.6f}")])
        db.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if progress is not None:
        progress(read, max(total, read))
    return WikiIndex(path, key, cache_hit=False, started=start)


def _remove_stale(folder: Path, name: str) -> None:
    """Delete temporary files of a build that crashed (older than an hour)."""
    for tmp in folder.glob(f".{name}.*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > _STALE_TMP_S:
                tmp.unlink()
        except OSError:
            pass


class WikiIndex:
    """A read-only view of a built index; safe to share between threads and tasks."""

    def __init__(self, path: Path, key: str, *, cache_hit: bool, started: float) -> None:
        self._uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        try:
            meta = dict(self._conn().execute("SELECT name, value FROM meta").fetchall())
        except sqlite3.DatabaseError as err:
            self.close()
            raise DataError(f"{path} is not a usable HotpotQA index ({err}); delete it to rebuild") from None
        if meta.get("key") != key:
            self.close()
            raise DataError(f"{path} was built from other inputs; delete it to rebuild")
        try:
            self.info = IndexInfo(path, key, int(meta["pages"]), int(meta["paragraphs_read"]), cache_hit,
                                  float(meta["build_s"]), time.perf_counter() - started)
        except (KeyError, ValueError):
            self.close()
            raise DataError(f"{path} is an incomplete HotpotQA index; delete it to rebuild") from None

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so that close() may release it; queries stay on this thread
            conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def page(self, title: str) -> WikiPage | None:
        """The page titled exactly ``title``, else the first whose normalized title matches, else None."""
        db = self._conn()
        row = db.execute("SELECT title, sentences FROM pages WHERE title = ?", (title.strip(),)).fetchone()
        if row is None:
            row = db.execute("SELECT title, sentences FROM pages WHERE norm = ? ORDER BY id LIMIT 1",
                             (normalize_title(title),)).fetchone()
        return None if row is None else WikiPage(row[0], tuple(json.loads(row[1])))

    def similar(self, query: str, limit: int = 5) -> list[str]:
        """Titles of the best BM25 matches for the words of ``query`` (titles weigh 10x the text)."""
        words = _TOKEN.findall(query)
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))
        rows = self._conn().execute(
            "SELECT title FROM pages_fts WHERE pages_fts MATCH ? ORDER BY bm25(pages_fts, 10.0, 1.0) LIMIT ?",
            (match, limit)).fetchall()
        return [r[0] for r in rows]

    def titles(self) -> set[str]:
        return {r[0] for r in self._conn().execute("SELECT title FROM pages")}

    def close(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
