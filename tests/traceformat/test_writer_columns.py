"""The writer's column conversions: every path gives the values back, and bad values are refused."""

from __future__ import annotations

import pytest

from agentledger.errors import TraceError
from agentledger.traceformat import TraceWriter, block_hashes, hashes_to_list, read_trace, row_fields

COLS = row_fields("llm_call", text=False)


def _row(**values) -> tuple:
    return tuple(values.get(c) for c in COLS)


def _write(path, rows, **kw):
    with TraceWriter(path, text=False, **kw) as w:
        for r in rows:
            w.emit("llm_call", r)
    return read_trace(path).frame()


def test_numbers_with_and_without_nulls_and_extremes_round_trip(tmp_path):
    rows = [
        _row(event_id=i, start_ns=-(2**63) if i == 0 else 2**63 - 1 - i, end_ns=i, iteration=i % 3,
             max_tokens=2**31 - 1 if i == 1 else -(2**31), temperature=i if i % 2 else i / 3,
             server_queue_ns=None if i % 4 == 0 else i * 1000, seed=None if i < 5 else i, ok=i % 5 != 0)
        for i in range(23)
    ]
    df = _write(tmp_path / "t.arrow", rows, flush_rows=8)  # batches of 8, 8 and 7 rows
    assert df["event_id"].to_list() == list(range(23))
    assert df["start_ns"].to_list() == [-(2**63)] + [2**63 - 1 - i for i in range(1, 23)]
    assert df["max_tokens"].to_list() == [-(2**31), 2**31 - 1] + [-(2**31)] * 21
    assert df["temperature"].to_list() == [float(i) if i % 2 else i / 3 for i in range(23)]
    assert df["server_queue_ns"].to_list() == [None if i % 4 == 0 else i * 1000 for i in range(23)]
    assert df["seed"].to_list() == [None if i < 5 else i for i in range(23)]
    assert df["ok"].to_list() == [i % 5 != 0 for i in range(23)]


def test_constant_columns_follow_their_value_from_batch_to_batch(tmp_path):
    # each batch of 4 holds one value per column; consecutive batches reuse or replace the repeated array
    values = [("actor", ["\n"], 1, 0.5), ("actor", ["\n"], 1, 0.5), ("planner", ["\n", "Obs"], 2, 1.0),
              ("planner", ["\n", "Obs"], 2, 1.0), ("actor", ["\n"], 1, 0.5)]
    rows = [_row(event_id=4 * b + i, role=role, stop=stop, n=n, temperature=t)
            for b, (role, stop, n, t) in enumerate(values) for i in range(4)]
    df = _write(tmp_path / "t.arrow", rows, flush_rows=4)
    assert df["role"].to_list() == [v[0] for v in values for _ in range(4)]
    assert df["stop"].to_list() == [v[1] for v in values for _ in range(4)]
    assert df["n"].to_list() == [v[2] for v in values for _ in range(4)]
    assert df["temperature"].to_list() == [v[3] for v in values for _ in range(4)]


def test_hash_columns_mix_packed_bytes_and_nulls(tmp_path):
    packed = [block_hashes(list(range(i, i + 16 * (i % 3))), 16) for i in range(10)]
    rows = [_row(event_id=i, prompt_block_hashes=None if i % 4 == 1 else packed[i], output_block_hashes=None)
            for i in range(10)]
    df = _write(tmp_path / "t.arrow", rows, flush_rows=5)
    assert df["prompt_block_hashes"].to_list() == [None if i % 4 == 1 else hashes_to_list(packed[i]) for i in range(10)]
    assert df["output_block_hashes"].to_list() == [None] * 10


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("max_tokens", 2**31, "int32"),  # out of range for the column
        ("start_ns", 2**64, "int64"),
        ("server_queue_ns", 1.5, "int64"),  # a float in an integer column
        ("temperature", "hot", "double"),
        ("ok", "yes", "bool"),
        ("role", 7, "string"),
    ],
)
@pytest.mark.parametrize("everywhere", [False, True], ids=["one-row", "every-row"])  # every row: the constant path
def test_a_value_of_the_wrong_type_is_refused_with_the_column_type(tmp_path, column, value, message, everywhere):
    w = TraceWriter(tmp_path / "t.arrow", text=False)
    for i in range(6):
        w.emit("llm_call", _row(event_id=i, **{column: value if everywhere or i == 3 else None}))
    with pytest.raises(TraceError, match=f"cannot store a value as {message}"):
        w.close()


def test_a_row_of_the_wrong_width_is_refused(tmp_path):
    w = TraceWriter(tmp_path / "t.arrow", text=False)
    w.emit("llm_call", _row(event_id=0))
    w.emit("llm_call", _row(event_id=1)[:-1])
    with pytest.raises(TraceError, match=f"a llm_call row has {len(COLS) - 1} fields; expected {len(COLS)}"):
        w.close()
