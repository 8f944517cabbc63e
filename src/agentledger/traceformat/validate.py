"""Trace validation: the schema plus the invariants of SPEC.md ("Invariants")."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from .reader import Trace
from .schema import FIELDS, KINDS

__all__ = ["Violation", "validate_trace", "CATEGORY_COLUMNS"]

CATEGORY_COLUMNS = (
    "tokens_instruction",
    "tokens_few_shot",
    "tokens_user",
    "tokens_llm_history",
    "tokens_tool_history",
    "tokens_template",
)


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    event_id: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _rows(df: pl.DataFrame, rule: str, fmt) -> list[Violation]:
    return [Violation(rule, fmt(r), r.get("event_id")) for r in df.iter_rows(named=True)]


def validate_trace(trace: Trace, *, limit_per_rule: int | None = None) -> list[Violation]:
    """Every violation found, grouped by rule; an empty list means the trace is valid."""
    df = trace.frame().with_row_index("_row")
    out: list[Violation] = []

    def add(rule: str, bad: pl.DataFrame, fmt) -> None:
        if limit_per_rule is not None:
            bad = bad.head(limit_per_rule)
        out.extend(_rows(bad, rule, fmt))

    if trace.extra_columns:
        out.append(Violation("schema", f"columns not in format {trace.meta.version}: {', '.join(trace.extra_columns)}"))
    add("run_id", df.filter(pl.col("run_id") != trace.meta.run_id),
        lambda r: f"event {r['event_id']}: run_id {r['run_id']!r} differs from the metadata's {trace.meta.run_id!r}")
    add("kind", df.filter(~pl.col("kind").is_in(KINDS)), lambda r: f"event {r['event_id']}: unknown kind {r['kind']!r}")
    for f in FIELDS:
        if not f.required:
            continue
        kinds = list(KINDS) if f.kinds == ("*",) else list(f.kinds)
        add("required", df.filter(pl.col("kind").is_in(kinds) & pl.col(f.name).is_null()),
            lambda r, name=f.name: f"event {r['event_id']} ({r['kind']}): required field {name} is null")
    add("time_order", df.filter(pl.col("end_ns") < pl.col("start_ns")),
        lambda r: f"event {r['event_id']}: end_ns {r['end_ns']} < start_ns {r['start_ns']}")
    dup = df.filter(pl.col("event_id").is_duplicated()).unique("event_id", keep="first", maintain_order=True)
    add("unique_id", dup, lambda r: f"event_id {r['event_id']} appears more than once")
    ids = df.select("event_id")
    orphans = df.filter(pl.col("parent_event_id").is_not_null()).join(
        ids, left_on="parent_event_id", right_on="event_id", how="anti")
    add("parent_exists", orphans, lambda r: f"event {r['event_id']}: parent {r['parent_event_id']} does not exist")
    requests = df.filter(pl.col("kind") == "request").select(pl.col("event_id").alias("request_id"))
    no_req = df.filter(pl.col("request_id").is_not_null()).join(requests, on="request_id", how="anti")
    add("request_exists", no_req,
        lambda r: f"event {r['event_id']}: request {r['request_id']} is not a request event in this trace")
    llm = df.filter(pl.col("kind") == "llm_call")
    cat_sum = pl.sum_horizontal(*CATEGORY_COLUMNS)
    has_all = pl.all_horizontal(pl.col(c).is_not_null() for c in (*CATEGORY_COLUMNS, "prompt_tokens"))
    add("categories_sum", llm.filter(has_all & (cat_sum != pl.col("prompt_tokens"))).with_columns(_sum=cat_sum),
        lambda r: f"event {r['event_id']}: token categories sum to {r['_sum']}, prompt_tokens is {r['prompt_tokens']}")
    add("cached_le_prompt", llm.filter(pl.col("cached_tokens") > pl.col("prompt_tokens")),
        lambda r: f"event {r['event_id']}: cached_tokens {r['cached_tokens']} > prompt_tokens {r['prompt_tokens']}")
    counts = [c for c in CATEGORY_COLUMNS[:-1]] + ["prompt_tokens", "completion_tokens", "cached_tokens"]
    neg = llm.filter(pl.any_horizontal(pl.col(c) < 0 for c in counts))
    add("non_negative", neg, lambda r: f"event {r['event_id']}: a token count is negative")
    bases = llm.filter(pl.col("prompt_text_base_event_id").is_not_null())
    if bases.height:
        pos = llm.select(pl.col("event_id").alias("prompt_text_base_event_id"), pl.col("_row").alias("_base_row"))
        joined = bases.join(pos, on="prompt_text_base_event_id", how="left")
        add("text_base", joined.filter(pl.col("_base_row").is_null() | (pl.col("_base_row") >= pl.col("_row"))),
            lambda r: f"event {r['event_id']}: prompt text base {r['prompt_text_base_event_id']} is not an earlier llm_call")
    gpu = df.filter(pl.col("kind") == "gpu_sample")
    add("range", gpu.filter((pl.col("gpu_util_pct") < 0) | (pl.col("gpu_util_pct") > 100)),
        lambda r: f"event {r['event_id']}: gpu_util_pct {r['gpu_util_pct']} outside 0-100")
    eng = df.filter(pl.col("kind") == "engine_sample")
    add("range", eng.filter((pl.col("engine_kv_cache_usage_frac") < 0) | (pl.col("engine_kv_cache_usage_frac") > 1)),
        lambda r: f"event {r['event_id']}: engine_kv_cache_usage_frac {r['engine_kv_cache_usage_frac']} outside 0-1")
    return out
