"""Each invariant of SPEC.md is checked, and broken traces say where."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from agentledger.traceformat import read_trace, validate_trace


def _broken(trace_path, mutate):
    tr = read_trace(trace_path)
    tr.table = mutate(tr.table)
    return {v.rule for v in validate_trace(tr)}, validate_trace(tr)


def _set(table, name, index, value):
    col = table[name].to_pylist()
    col[index] = value
    return table.set_column(table.schema.get_field_index(name), name, pa.array(col, table.schema.field(name).type))


def _first(table, kind):
    return table["kind"].to_pylist().index(kind)


def test_valid_trace_has_no_violations(synthetic_trace):
    assert validate_trace(read_trace(synthetic_trace)) == []


def test_end_before_start(synthetic_trace):
    rules, vs = _broken(synthetic_trace, lambda t: _set(t, "end_ns", 0, -5))
    assert rules == {"time_order"} and "end_ns -5 < start_ns" in vs[0].message


def test_duplicate_ids_and_missing_parents(synthetic_trace):
    def mutate(t):
        t = _set(t, "event_id", 1, t["event_id"][0].as_py())
        return _set(t, "parent_event_id", 2, 999_999)

    rules, _ = _broken(synthetic_trace, mutate)
    assert {"unique_id", "parent_exists"} <= rules


def test_categories_must_sum_to_prompt_tokens(synthetic_trace):
    def mutate(t):
        i = _first(t, "llm_call")
        return _set(t, "tokens_user", i, t["tokens_user"][i].as_py() + 3)

    rules, vs = _broken(synthetic_trace, mutate)
    assert rules == {"categories_sum"} and "sum to" in vs[0].message


def test_cached_at_most_prompt_and_required_fields(synthetic_trace):
    def mutate(t):
        i = _first(t, "llm_call")
        t = _set(t, "cached_tokens", i, 10**6)
        return _set(t, "model", i, None)

    rules, _ = _broken(synthetic_trace, mutate)
    assert {"cached_le_prompt", "required"} <= rules


def test_unknown_kind_and_foreign_run_id(synthetic_trace):
    def mutate(t):
        t = _set(t, "run_id", 0, "someone-else")
        mask = pc.equal(t["kind"], "gpu_sample")
        kinds = pc.if_else(mask, "gpu_sampel", t["kind"])
        return t.set_column(t.schema.get_field_index("kind"), "kind", kinds)

    rules, _ = _broken(synthetic_trace, mutate)
    assert {"run_id", "kind"} <= rules


def test_request_ids_must_name_requests(synthetic_trace):
    def mutate(t):
        i = _first(t, "tool_call")
        return _set(t, "request_id", i, t["event_id"][_first(t, "llm_call")].as_py())

    rules, _ = _broken(synthetic_trace, mutate)
    assert "request_exists" in rules
