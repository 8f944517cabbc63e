"""The schema, the Python records and SPEC.md must agree."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pyarrow as pa

from agentledger.traceformat import FIELDS, KINDS, arrow_schema, kind_columns, row_fields
from agentledger.traceformat.records import RECORD_TYPES

SPEC = Path(__file__).parents[2] / "SPEC.md"


def test_every_kind_has_a_record_matching_its_columns():
    assert set(RECORD_TYPES) == set(KINDS)
    for kind, cls in RECORD_TYPES.items():
        record_names = {f.name for f in fields(cls)}
        columns = set(row_fields(kind))
        if kind == "llm_call":  # prompt text is given whole and stored as three delta columns
            columns -= {"prompt_text_delta", "prompt_text_base_event_id", "prompt_text_prefix_chars"}
            columns.add("prompt_text")
        assert record_names == columns, kind


def test_column_names_are_unique_and_carry_units():
    names = [f.name for f in FIELDS]
    assert len(names) == len(set(names))
    for f in FIELDS:
        if f.type == pa.int64() and ("time" in f.description.lower() or f.name.endswith("_ns")):
            assert f.name.endswith(("_ns", "_id", "_total", "_bytes", "seed", "_chars")), f.name


def test_arrow_schema_has_all_fields_in_order():
    schema = arrow_schema()
    assert schema.names == [f.name for f in FIELDS]
    assert "kind" in kind_columns("gpu_sample") and "role" not in kind_columns("gpu_sample")


def test_spec_documents_every_field_with_its_description():
    text = SPEC.read_text()
    spec = text[text.index("## 5. Columns") : text.index("## 6.")]
    for f in FIELDS:
        row = re.search(rf"^\| `{re.escape(f.name)}` \|(.+)$", spec, re.M)
        assert row, f"SPEC.md has no row for {f.name}"
        assert f.description in row.group(1), f"SPEC.md description of {f.name} differs from schema.py"
        assert str(f.type) in row.group(1), f"SPEC.md type of {f.name} differs"
