"""Reading traces: complete files, files left by a killed writer, and older versions.

A complete trace is an Arrow IPC file (with footer). A writer killed mid-run
leaves the IPC file's leading magic followed by the stream of batches it had
flushed, and no footer: ``read_trace`` reads every complete batch of such a
file transparently, and ``recover_trace`` rewrites it as a complete file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import TraceError
from .meta import FORMAT_KEY, META_KEY, VERSION_KEY, RunMeta
from .migrate import conform_table, parse_version
from .schema import FORMAT_MAJOR, FORMAT_MINOR, FORMAT_NAME
from .text import decode_prompt_texts

__all__ = ["Trace", "read_trace", "read_meta", "scan_trace", "recover_trace", "RecoverResult"]

_MAGIC = b"ARROW1"
_STREAM_CONTINUATION = b"\xff\xff\xff\xff"


@dataclass
class Trace:
    """A trace read into memory, conformed to the current schema."""

    path: Path
    meta: RunMeta
    version: tuple[int, int]
    table: pa.Table
    complete: bool  # False: the writer did not close the file (batches were recovered)
    batches: int
    extra_columns: list[str] = field(default_factory=list)  # columns from a newer minor version

    def frame(self):  # -> polars.DataFrame
        import polars as pl

        return pl.from_arrow(self.table)

    def events(self, kind: str):  # -> polars.DataFrame
        import polars as pl

        return self.frame().filter(pl.col("kind") == kind)

    def prompt_texts(self) -> dict[int, str | None]:
        """Full prompt text of each llm_call event, rebuilt from the prefix deltas."""
        llm = self.table.filter(pc.equal(self.table["kind"], "llm_call"))
        ids = llm["event_id"].to_pylist()
        texts = decode_prompt_texts(
            ids,
            llm["prompt_text_delta"].to_pylist(),
            llm["prompt_text_base_event_id"].to_pylist(),
            llm["prompt_text_prefix_chars"].to_pylist(),
        )
        return dict(zip(ids, texts, strict=True))


def _check_path(path: Path) -> int:
    if not path.exists():
        raise TraceError(f"{path}: no such file; pass the path of a trace (*.arrow)")
    if path.is_dir():
        raise TraceError(f"{path}: is a directory; pass the path of a trace file (*.arrow)")
    size = path.stat().st_size
    if size == 0:
        raise TraceError(f"{path}: empty file (0 bytes): not a trace; the capture that made it wrote nothing")
    return size


def _check_schema(path: Path, schema: pa.Schema) -> tuple[RunMeta, tuple[int, int]]:
    md = schema.metadata or {}
    if md.get(FORMAT_KEY) != FORMAT_NAME.encode():
        raise TraceError(
            f"{path}: an Arrow file, but not an agentledger trace (no '{FORMAT_KEY.decode()}' metadata); "
            "import other data with the analyze import commands"
        )
    try:
        version = parse_version(md.get(VERSION_KEY, b"").decode())
    except ValueError as exc:
        raise TraceError(f"{path}: unreadable trace format version: {exc}") from None
    if version[0] > FORMAT_MAJOR:
        raise TraceError(
            f"{path}: written in trace format {version[0]}.{version[1]}, newer than this agentledger reads "
            f"({FORMAT_MAJOR}.x); upgrade agentledger (pip install -U agentledger)"
        )
    try:
        meta = RunMeta.from_json(md[META_KEY])
    except (KeyError, ValueError, TypeError) as exc:
        raise TraceError(f"{path}: trace metadata missing or not valid JSON ({exc})") from None
    return meta, version


def _open_stream(path: Path, data: pa.Buffer) -> tuple[pa.Schema, list[pa.RecordBatch]]:
    """Read the schema and every complete batch of an IPC stream; stop at a truncated tail."""
    try:
        reader = pa.ipc.open_stream(data)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TraceError(f"{path}: truncated before its schema ({exc}); no events can be recovered") from None
    batches = []
    while True:
        try:
            batches.append(reader.read_next_batch())
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError, EOFError):
            break  # a partially written batch at the end of a killed writer's file
    return reader.schema, batches


def _load(path: Path) -> tuple[pa.Schema, list[pa.RecordBatch], bool]:
    size = _check_path(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:6] == _MAGIC:
        try:
            reader = pa.ipc.open_file(str(path))
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
            return reader.schema, batches, True
        except (pa.ArrowInvalid, OSError):
            pass  # no footer: a writer that did not close; read as a stream
        if size <= 8:
            raise TraceError(f"{path}: truncated before its schema; no events can be recovered")
        buf = pa.memory_map(str(path)).read_buffer()
        schema, batches = _open_stream(path, buf.slice(8))
        return schema, batches, False
    if head[:4] == _STREAM_CONTINUATION:
        schema, batches = _open_stream(path, pa.memory_map(str(path)).read_buffer())
        return schema, batches, True
    raise TraceError(f"{path}: not an Arrow IPC file (no Arrow magic bytes at the start): not an agentledger trace")


def read_meta(path: str | os.PathLike[str]) -> tuple[RunMeta, tuple[int, int]]:
    """The run metadata and format version, without reading events when the file is complete."""
    path = Path(path)
    _check_path(path)
    try:
        schema = pa.ipc.open_file(str(path)).schema
    except (pa.ArrowInvalid, OSError):
        schema, _, _ = _load(path)
    return _check_schema(path, schema)


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a trace of any version this package has written, complete or not."""
    path = Path(path)
    schema, batches, complete = _load(path)
    meta, version = _check_schema(path, schema)
    table = pa.Table.from_batches(batches, schema=schema)
    table, extra = conform_table(table, version)
    return Trace(path, meta, version, table, complete, len(batches), extra)


def scan_trace(path: str | os.PathLike[str]):  # -> polars.LazyFrame
    """A polars lazy frame over the trace's events.

    A complete trace of the current version is scanned from disk (projection
    and predicate pushdown: a query reads only the columns it names). Other
    traces are read, recovered and migrated in memory first.
    """
    import polars as pl

    path = Path(path)
    meta, version = read_meta(path)
    if version == (FORMAT_MAJOR, FORMAT_MINOR):
        try:
            pa.ipc.open_file(str(path))
            return pl.scan_ipc(path)
        except (pa.ArrowInvalid, OSError):
            pass
    return pl.from_arrow(read_trace(path).table).lazy()


@dataclass
class RecoverResult:
    path: Path
    out: Path
    batches: int
    rows: int
    was_complete: bool


def recover_trace(path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> RecoverResult:
    """Rewrite a trace left by a killed writer as a complete file (in place by default)."""
    path = Path(path)
    schema, batches, complete = _load(path)
    _check_schema(path, schema)
    target = Path(out) if out is not None else path
    tmp = target.with_name(target.name + ".tmp")
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema, options=options) as w:
        for b in batches:
            w.write_batch(b)
    os.replace(tmp, target)
    return RecoverResult(path, target, len(batches), sum(b.num_rows for b in batches), complete)

