"""Version handling: parse versions and bring older tables to the current schema.

Rules (SPEC.md, "Versioning"): within a major version every change is additive
(a new nullable column, a new event kind, a new metadata key), so a table of an
older minor version is conformed by adding the missing columns as nulls, and a
table of a newer minor version keeps its extra columns after the known ones.
A new major version may rename, remove or retype columns; reading one goes
through an explicit step in ``MAJOR_STEPS``.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from ..errors import TraceError
from .schema import FORMAT_MAJOR, arrow_schema

__all__ = ["parse_version", "conform_table", "MAJOR_STEPS"]

# from-major -> function turning a table of that major into one of the next major.
MAJOR_STEPS: dict[int, Callable[[pa.Table], pa.Table]] = {}


def parse_version(text: str) -> tuple[int, int]:
    parts = text.strip().split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"expected MAJOR.MINOR, got {text!r}")
    return int(parts[0]), int(parts[1])


def conform_table(table: pa.Table, version: tuple[int, int]) -> tuple[pa.Table, list[str]]:
    """Return ``table`` in the current schema's column order and types, plus extra column names."""
    major = version[0]
    while major < FORMAT_MAJOR:
        step = MAJOR_STEPS.get(major)
        if step is None:
            raise TraceError(f"no migration from trace format {major}.x; this trace cannot be read")
        table = step(table)
        major += 1
    target = arrow_schema()
    columns, fields = [], []
    for f in target:
        if f.name in table.column_names:
            col = table[f.name]
            if col.type != f.type:
                try:
                    col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise TraceError(f"column {f.name} has type {col.type}, expected {f.type}: {exc}") from None
            columns.append(col)
        else:
            columns.append(pa.nulls(table.num_rows, f.type))
        fields.append(f)
    extra = [c for c in table.column_names if c not in target.names]
    for name in extra:
        columns.append(table[name])
        fields.append(table.schema.field(name))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata)), extra
