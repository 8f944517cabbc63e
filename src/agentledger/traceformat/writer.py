"""The streaming trace writer.

Events are buffered per kind as row tuples. A kind's buffer becomes an Arrow
record batch when it holds ``flush_rows`` rows, and every buffer is flushed at
least every ``flush_interval_s``. A background thread appends batches to the
file (Arrow IPC file format, zstd-compressed buffers) as soon as they are made,
so a process killed at any moment leaves a file whose complete batches can all
be read back (see ``reader.read_trace`` and ``recover_trace``). ``close()``
writes the footer. Memory is bounded: at most ``queue_batches`` batches wait
for the disk, and the producer blocks when they do.
"""

from __future__ import annotations

import itertools
import os
import queue
import struct
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from ..errors import TraceError
from .meta import RunMeta
from .records import RECORD_TYPES, _Event, getter
from .schema import KINDS, arrow_schema, kind_columns
from .text import PromptDeltaEncoder

__all__ = ["TraceWriter", "row_fields"]

_FILLED_BY_WRITER = ("run_id", "kind")
_HASHES = ("prompt_block_hashes", "output_block_hashes")  # packed uint64 bytes or lists of ints
_WRITE_BUFFER_BYTES = 4 << 20
_PROMPT_TEXT_COLS = ("prompt_text_delta", "prompt_text_base_event_id", "prompt_text_prefix_chars")


def row_fields(kind: str, *, text: bool = True) -> tuple[str, ...]:
    """Column names of a row tuple passed to ``TraceWriter.emit`` for ``kind``, in order."""
    return tuple(c for c in kind_columns(kind, text=text) if c not in _FILLED_BY_WRITER)


def _hash_column(values: list[Any], name: str = _HASHES[0]) -> pa.Array:
    """Block-hash lists from packed little-endian uint64 bytes (fast) or lists of ints."""
    n = len(values)
    mask = None
    try:
        data = b"".join(values)
    except TypeError:
        nones = values.count(None)
        if nones == n:
            return pa.nulls(n, pa.list_(pa.uint64()))
        if any(isinstance(v, (list, tuple)) for v in values):
            return pa.array(values, type=pa.list_(pa.uint64()))
        if nones:
            mask = np.fromiter((v is None for v in values), dtype=bool, count=n)
            values = [b"" if v is None else v for v in values]
        try:
            data = b"".join(values)
        except TypeError:
            raise TraceError(f"{name} must be packed uint64 bytes or lists of ints") from None
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=n)
    if np.any(lengths & 7):
        raise TraceError(f"{name} must be packed uint64s (a multiple of 8 bytes), or lists of ints")
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths >> 3, out=offsets[1:])
    flat = pa.Array.from_buffers(pa.uint64(), len(data) // 8, [None, pa.py_buffer(data)])
    return pa.ListArray.from_arrays(pa.array(offsets), flat, mask=None if mask is None else pa.array(mask))


# Numeric, boolean and string columns convert fastest through polars (then to Arrow);
# numeric columns without nulls faster still through ``struct`` (one C loop, no copies).
_POLARS_TYPES = {
    pa.int16(): pl.Int16,
    pa.int32(): pl.Int32,
    pa.int64(): pl.Int64,
    pa.float64(): pl.Float64,
    pa.bool_(): pl.Boolean,
    pa.string(): pl.String,
}
_STRUCT_CODES = {pa.int16(): "h", pa.int32(): "i", pa.int64(): "q", pa.float64(): "d"}


def _packed(values: list[Any], typ: pa.DataType, code: str) -> pa.Array | None:
    """``values`` packed by ``struct`` into an Arrow buffer, or None if one is not a plain number."""
    try:
        data = struct.pack(f"<{len(values)}{code}", *values)
    except struct.error:  # None, a value out of range or of another type: the slower paths decide
        return None
    return pa.Array.from_buffers(typ, len(values), [None, pa.py_buffer(data)])


def _constant(values: list[Any]) -> bool:
    """True when every value is the first one (cheap: a sampled identity check, then one C-level count)."""
    v0 = values[0]
    return values[-1] is v0 and values[len(values) // 2] is v0 and values.count(v0) == len(values)


def _repeat(value: Any, typ: pa.DataType, n: int) -> pa.Array:
    """``value`` ``n`` times, converted by the same rules as any column (``pa.scalar`` would truncate 1.5 to 1)."""
    return pa.repeat(_column([value], typ)[0], n)


def _column(values: list[Any], typ: pa.DataType) -> pa.Array:
    code = _STRUCT_CODES.get(typ)
    if code is not None:
        arr = _packed(values, typ, code)
        if arr is not None:
            return arr
    pl_type = _POLARS_TYPES.get(typ)
    if pl_type is not None:
        try:
            arr = pl.Series(values=values, dtype=pl_type, strict=True).to_arrow()
        except (TypeError, OverflowError, pl.exceptions.PolarsError) as exc:  # strict: no silent truncation
            raise TraceError(f"cannot store a value as {typ}: {str(exc).splitlines()[0]}") from None
        return arr if arr.type == typ else arr.cast(typ)
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
        raise TraceError(f"cannot store a value as {typ}: {exc}") from None


class TraceWriter:
    """Write one run's events to ``path``.

    Use as a context manager, or call ``close()``. ``emit(kind, row)`` is the fast
    path (a tuple in ``row_fields(kind)`` order); ``write(record)`` takes the
    records of ``traceformat.records``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        meta: RunMeta | None = None,
        *,
        text: bool = True,
        flush_rows: int = 8192,
        flush_interval_s: float = 1.0,
        queue_batches: int = 4,
        overwrite: bool = False,
        compression_level: int | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise TraceError(f"{self.path}: file exists; choose another --out path or remove it first")
        self.meta = meta or RunMeta()
        self.meta.text_payloads = text
        if not self.meta.clock_origin_monotonic_ns:
            self.meta.anchor_clock()
        self.text = text
        self._origin = self.meta.clock_origin_monotonic_ns
        self._flush_rows = flush_rows
        self._interval = flush_interval_s
        self.schema = arrow_schema(metadata=self.meta.to_metadata())
        self._types = {f.name: f.type for f in self.schema}
        self._rowcols = {k: row_fields(k, text=text) for k in KINDS}
        self._getters = {}
        for kind, cls in RECORD_TYPES.items():
            names = tuple("prompt_text" if c in _PROMPT_TEXT_COLS else c for c in self._rowcols[kind])
            names = tuple(dict.fromkeys(names))  # prompt_text once
            self._getters[kind] = (names, getter(cls, names))
        self._rows: dict[str, list[tuple]] = {k: [] for k in KINDS}
        self._lock = threading.RLock()  # held while rows are taken, made a batch and queued: one kind's file order = emit order
        self._stop = threading.Event()
        self._ids = itertools.count()
        self._deltas = PromptDeltaEncoder()
        self._null_cache: dict[tuple[str, int], pa.Array] = {}
        self._const_cache: dict[str, tuple[Any, int, pa.Array]] = {}  # column -> (value, rows, array)
        self._q: queue.Queue[Any] = queue.Queue(maxsize=queue_batches)
        self._error: BaseException | None = None
        self.rows_written = 0
        self.batches_written = 0
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The IPC writer makes one write per buffer (~250 per llm_call batch): buffer them into a
        # few large writes. ``flush`` after each batch hands the whole batch to the OS.
        self._file = pa.OSFile(str(self.path), "wb")
        self._sink = pa.BufferedOutputStream(self._file, buffer_size=_WRITE_BUFFER_BYTES)
        # Compression runs on the writer thread alone: the producer keeps the other core.
        options = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level), use_threads=False)
        self._ipc = pa.ipc.new_file(self._sink, self.schema, options=options)
        self._sink.flush()
        self._thread = threading.Thread(target=self._run, name="agentledger-trace-writer", daemon=True)
        self._thread.start()
        self._ticker = threading.Thread(target=self._tick, name="agentledger-trace-ticker", daemon=True)
        self._ticker.start()

    # -- clocks and ids -------------------------------------------------------------
    def now_ns(self) -> int:
        """Now, on the run clock (monotonic ns since the origin in the metadata)."""
        return time.monotonic_ns() - self._origin

    def to_run_clock(self, monotonic_ns: int) -> int:
        return monotonic_ns - self._origin

    def new_id(self) -> int:
        """A fresh event id, unique within this run (thread-safe)."""
        return next(self._ids)  # itertools.count: atomic under the GIL

    # -- writing ----------------------------------------------------------------------
    def emit(self, kind: str, row: tuple) -> None:
        """Append one event given as a tuple in ``row_fields(kind)`` order (fast path).

        Lock-free: ``list.append`` is atomic, and a flush takes a prefix of the buffer
        under ``_lock`` (see ``_take``), so a concurrent append is never lost.
        """
        if self._error is not None:
            self._raise()
        buf = self._rows[kind]
        buf.append(row)
        if len(buf) >= self._flush_rows:
            self._flush_kind(kind, full_only=True)

    def write(self, record: _Event) -> int:
        """Append a record; assigns ``event_id`` if missing and returns it."""
        kind = record.KIND
        if record.event_id is None:
            record.event_id = self.new_id()
        if kind == "request" and record.request_id is None:
            record.request_id = record.event_id
        names, get = self._getters[kind]
        values = get(record)
        if kind == "llm_call" and self.text:
            # encode under the lock so that a base is always written before its dependents
            i = names.index("prompt_text")
            with self._lock:
                text = values[i]
                enc = (None, None, None) if text is None else self._deltas.encode(record.request_id, record.event_id, text)
                self._emit_locked(kind, values[:i] + enc + values[i + 1 :])
            return record.event_id
        if kind == "request" and self.text:
            with self._lock:
                self._deltas.forget(record.event_id)
        self.emit(kind, values)
        return record.event_id

    def _emit_locked(self, kind: str, row: tuple) -> None:
        buf = self._rows[kind]
        buf.append(row)
        if len(buf) >= self._flush_rows:
            self._flush_kind(kind, full_only=True)

    def _take(self, kind: str) -> list[tuple]:
        """Remove and return the rows buffered for ``kind`` (caller holds ``_lock``)."""
        buf = self._rows[kind]
        n = len(buf)
        rows = buf[:n]
        del buf[:n]  # rows appended meanwhile stay, after the taken prefix
        return rows

    def _flush_kind(self, kind: str, *, full_only: bool = False) -> None:
        with self._lock:
            if full_only and len(self._rows[kind]) < self._flush_rows:
                return  # another thread flushed it first
            rows = self._take(kind)
            if rows:
                self._put(self._to_batch(kind, rows))

    def flush(self) -> None:
        """Make every event given so far durable in the file (blocks until written)."""
        self._flush_pending()
        done = threading.Event()
        self._put(done)
        while not done.wait(0.05):
            if self._error is not None or not self._thread.is_alive():
                break
        if self._error is not None:
            self._raise()

    def close(self) -> None:
        """Flush everything and write the file footer. Idempotent."""
        if self._closed:
            return
        self._stop.set()
        self._ticker.join()
        try:
            self.flush()
        finally:
            self._closed = True
            if self._error is None:
                self._q.put(None)
            self._thread.join()
            try:
                self._ipc.close()
            finally:
                try:
                    self._sink.close()
                finally:
                    if not self._file.closed:
                        self._file.close()
        if self._error is not None:
            self._raise()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------
    def _raise(self) -> None:
        raise TraceError(f"{self.path}: writing the trace failed: {self._error}") from self._error

    def _put(self, item: Any) -> None:
        while True:
            if self._error is not None:
                self._raise()
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _flush_pending(self) -> None:
        for kind in KINDS:
            if self._rows[kind]:
                self._flush_kind(kind)

    def _nulls(self, name: str, n: int) -> pa.Array:
        key = (name, n)
        arr = self._null_cache.get(key)
        if arr is None:
            arr = pa.nulls(n, self._types[name])
            if n == self._flush_rows or len(self._null_cache) < 512:
                self._null_cache[key] = arr
        return arr

    def _constant_array(self, name: str, value: Any, typ: pa.DataType, n: int) -> pa.Array:
        """``value`` repeated ``n`` times, reused while a column keeps the same value."""
        hit = self._const_cache.get(name)
        if hit is not None and hit[1] == n and type(hit[0]) is type(value) and (hit[0] is value or hit[0] == value):
            return hit[2]
        arr = _repeat(value, typ, n)
        self._const_cache[name] = (value, n, arr)
        return arr

    def _to_batch(self, kind: str, rows: list[tuple]) -> pa.RecordBatch:
        n = len(rows)
        names = self._rowcols[kind]
        k = len(names)
        # Transpose through one flat list: list.extend of a tuple allocates nothing the
        # cyclic collector tracks (zip(*rows) holds one live iterator per row, which
        # triggers a collection every ~700 rows), and a strided slice is a C loop.
        flat: list[Any] = []
        extend = flat.extend
        for row in rows:
            extend(row)
        if len(flat) != n * k:
            bad = next(len(r) for r in rows if len(r) != k)
            raise TraceError(f"a {kind} row has {bad} fields; expected {k} (see row_fields)")
        columns = {name: flat[j::k] for j, name in enumerate(names)}
        arrays = []
        for f in self.schema:
            name = f.name
            if name == "run_id":
                arrays.append(pa.repeat(pa.scalar(self.meta.run_id, pa.string()), n))
            elif name == "kind":
                arrays.append(pa.repeat(pa.scalar(kind, pa.string()), n))
            elif name not in columns:
                arrays.append(self._nulls(name, n))
            elif name in _HASHES:
                arrays.append(_hash_column(columns[name], name))
            else:
                values = columns[name]
                if _constant(values):  # run-level settings (model, role, stop, sampling params)
                    arrays.append(self._constant_array(name, values[0], f.type, n))
                else:
                    arrays.append(_column(values, f.type))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _run(self) -> None:
        """Writer thread: append queued batches to the file, in queue order."""
        while True:
            item = self._q.get()
            if item is None:
                return
            try:
                if isinstance(item, pa.RecordBatch):
                    self._ipc.write_batch(item)
                    self._sink.flush()
                    self.rows_written += item.num_rows
                    self.batches_written += 1
                elif isinstance(item, threading.Event):
                    item.set()
            except BaseException as exc:  # surfaced to the producer on its next call
                self._error = exc
                if isinstance(item, threading.Event):
                    item.set()
                self._drain()
                return

    def _drain(self) -> None:
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, threading.Event):
                item.set()

    def _tick(self) -> None:
        """Ticker thread: flush whatever is pending every ``flush_interval_s``."""
        while not self._stop.wait(self._interval):
            if self._error is not None:
                return
            try:
                self._flush_pending()
            except TraceError:
                return
