"""`analyze tokens`: prompt tokens by category and output tokens per call, and their growth
with the agent's iteration index (Fig. 8 of Kim et al. 2025). Definitions: SPEC.md 11.6."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..errors import TraceError
from ..traceformat.validate import CATEGORY_COLUMNS
from .load import TraceSet
from .output import Report, Section
from .stats import describe

__all__ = ["MEASURES", "Tokens", "token_stats", "report"]

MEASURES = ("prompt_tokens", *CATEGORY_COLUMNS, "cached_tokens", "completion_tokens")
_SHARED = (*CATEGORY_COLUMNS, "cached_tokens")  # measures reported as a share of prompt_tokens
_SHORT = {m: m.removeprefix("tokens_").removesuffix("_tokens") for m in MEASURES}  # table headers


@dataclass
class Tokens:
    summary: pl.DataFrame  # group, measure, calls, mean, p50, p95, max, share_of_prompt
    by_iteration: pl.DataFrame  # group, iteration, calls, mean of every measure
    growth: pl.DataFrame  # group, iterations, prompt/completion tokens per iteration (least-squares slope)
    calls: int
    categorized_calls: int
    notes: list[str] = field(default_factory=list)


def _slope(y: str) -> pl.Expr:
    ok = pl.col(y).is_not_null() & pl.col("iteration").is_not_null()
    x, v = pl.col("iteration").filter(ok).cast(pl.Float64), pl.col(y).filter(ok).cast(pl.Float64)
    var = x.var(ddof=1)
    return pl.when(var > 0).then(pl.cov(x, v, ddof=1) / var).alias(f"{y}_per_iteration")


def _summary(llm: pl.DataFrame) -> pl.DataFrame:
    """One row per group and measure; aggregated wide (fast), then reshaped."""
    stats = ("calls", "mean", "p50", "p95", "max", "share_of_prompt")
    aggs = []
    for m in MEASURES:
        aggs += [pl.col(m).count().alias(f"{m}|calls"), *describe(m, (50, 95), prefix=f"{m}|")]
        if m in _SHARED:
            base = "prompt_tokens" if m == "cached_tokens" else "_categorized_prompt"
            present = pl.col(m).is_not_null() & pl.col(base).is_not_null()
            aggs.append((pl.col(m).filter(present).sum() / pl.col(base).filter(present).sum()).alias(f"{m}|share_of_prompt"))
    wide = llm.group_by("group").agg(aggs)
    rows = []
    for m in MEASURES:
        cols = {s: f"{m}|{s}" for s in stats}
        rows.append(wide.select("group", pl.lit(m).alias("measure"),
                                *((pl.col(c) if c in wide.columns else pl.lit(None, pl.Float64)).cast(
                                    pl.UInt32 if s == "calls" else pl.Float64).alias(s) for s, c in cols.items())))
    order = {m: i for i, m in enumerate(MEASURES)}
    out = pl.concat(rows)
    return out.sort(pl.col("group"), pl.col("measure").replace_strict(order, return_dtype=pl.Int32)).select(
        "group", "measure", *stats)


def token_stats(ts: TraceSet) -> Tokens:
    """Token statistics per group: per call, by iteration index, and their growth."""
    llm = ts.scan("llm_call", ["iteration", *MEASURES]).collect()
    ts.require(llm, "llm_call", "tokens", "LLM calls")
    counted = llm.group_by("trace").agg(pl.col("prompt_tokens").is_not_null().any()).filter(pl.col("prompt_tokens"))
    for t in ts.traces:
        if t.index not in counted["trace"].to_list():
            raise TraceError(f"{t.path}: no llm_call has prompt_tokens (the server reported no usage); "
                             "analyze tokens needs token counts")
    has_cats = pl.all_horizontal(pl.col(c).is_not_null() for c in CATEGORY_COLUMNS)
    llm = llm.with_columns(
        *(pl.when(has_cats).then(pl.col(c)).alias(c) for c in CATEGORY_COLUMNS),
        pl.when(has_cats).then(pl.col("prompt_tokens")).alias("_categorized_prompt"),
    )
    summary = _summary(llm)
    by_it = (
        llm.filter(pl.col("iteration").is_not_null())
        .group_by("group", "iteration")
        .agg(pl.len().alias("calls"), *(pl.col(m).mean() for m in MEASURES))
        .sort("group", "iteration")
    )
    growth = llm.group_by("group").agg(pl.col("iteration").n_unique().alias("iterations"),
                                       _slope("prompt_tokens"), _slope("completion_tokens")).sort("group")
    n_cat = int(llm.select(has_cats.sum()).item())
    notes = []
    if n_cat == 0:
        notes.append("token categories not recorded (the capture had no tokenizer for the model): prompt tokens are not split")
    elif n_cat < llm.height:
        notes.append(f"{llm.height - n_cat:,} of {llm.height:,} llm_calls have no token categories; category means cover the rest")
    no_it = int(llm.select(pl.col("iteration").is_null().sum()).item())
    if no_it:
        notes.append(f"{no_it:,} llm_calls have no iteration index and are left out of the per-iteration table")
    return Tokens(summary, by_it, growth, llm.height, n_cat, notes)


def _chart(by_it: pl.DataFrame) -> Any:
    import altair as alt

    cats = [c for c in CATEGORY_COLUMNS if by_it[c].null_count() < by_it.height]
    data = by_it.with_columns(pl.col("group").cast(pl.String))
    if cats:
        data = data.unpivot(index=["group", "iteration"], on=cats, variable_name="category", value_name="tokens")
        data = data.with_columns(pl.col("category").str.strip_prefix("tokens_"))
    else:
        data = data.select("group", "iteration", pl.lit("uncategorized").alias("category"), pl.col("prompt_tokens").alias("tokens"))
    names = [c.removeprefix("tokens_") for c in CATEGORY_COLUMNS]
    data = data.with_columns(pl.col("category").replace_strict(
        {n: i for i, n in enumerate(names)}, default=len(names), return_dtype=pl.Int32).alias("stack_order"))
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("iteration:O", title="iteration"),
        y=alt.Y("tokens:Q", stack="zero", title="mean prompt tokens per call"),
        color=alt.Color("category:N", sort=names),
        order=alt.Order("stack_order:Q"),
        column=alt.Column("group:N", title=None),
        tooltip=["group", "iteration", "category", alt.Tooltip("tokens:Q", format=",.1f")],
    ).properties(title="Prompt tokens by category and iteration", width=260)


def report(ts: TraceSet) -> Report:
    res = token_stats(ts)
    return Report("tokens", ts.describe(), [
        Section("summary", "Tokens per LLM call", res.summary),
        Section("by_iteration", "Mean tokens per LLM call by iteration", res.by_iteration, headers=_SHORT),
        Section("growth", "Growth with iteration (least-squares slope)", res.growth),
    ], res.notes, chart=lambda: _chart(res.by_iteration),
        data={"calls": res.calls, "categorized_calls": res.categorized_calls})
