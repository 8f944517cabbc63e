"""Summary statistics shared by the analyses, as polars expressions.

Percentiles use linear interpolation between the two nearest order statistics
(``interpolation="linear"``: the value at rank ``p * (n - 1)``, 0-based, the
default of numpy and of R's type 7). The standard deviation is the sample one
(``ddof=1``). SPEC.md section 11.2 states both so any number can be recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

__all__ = ["QUANTILE_INTERPOLATION", "quantile", "pct_name", "describe", "cv", "quantile_grid", "histogram"]

QUANTILE_INTERPOLATION = "linear"


def quantile(col: str | pl.Expr, q: float) -> pl.Expr:
    """The ``q`` quantile (0-1) of ``col`` with the documented interpolation."""
    expr = pl.col(col) if isinstance(col, str) else col
    return expr.quantile(q, interpolation=QUANTILE_INTERPOLATION)


def pct_name(p: float) -> str:
    """Column name of a percentile: 50 -> ``p50``, 99.9 -> ``p99.9``."""
    return f"p{p:g}"


def describe(col: str, percentiles: Sequence[float] = (50, 95), *, prefix: str = "",
             mean: bool = True, maximum: bool = True) -> list[pl.Expr]:
    """Aggregations of ``col``: ``mean``, the ``percentiles`` (0-100) and ``max``, named ``prefix + name``."""
    out = [pl.col(col).mean().alias(f"{prefix}mean")] if mean else []
    out += [quantile(col, p / 100).alias(f"{prefix}{pct_name(p)}") for p in percentiles]
    if maximum:
        out.append(pl.col(col).max().alias(f"{prefix}max"))
    return out


def cv(col: str) -> pl.Expr:
    """Coefficient of variation: sample standard deviation over the mean (null when the mean is 0)."""
    mean = pl.col(col).mean()
    return pl.when(mean != 0).then(pl.col(col).std(ddof=1) / mean).otherwise(None)


def quantile_grid(lf: pl.LazyFrame, value: str, by: Sequence[str], points: int = 101) -> pl.LazyFrame:
    """The empirical quantile function of ``value`` per ``by`` group at ``points`` evenly spaced
    probabilities 0..1 (columns ``*by``, ``p``, ``value``): the points of a CDF curve."""
    if points < 2:
        raise ValueError("points must be at least 2")
    probs = [i / (points - 1) for i in range(points)]
    aggs = [quantile(value, p).alias(f"_q{i}") for i, p in enumerate(probs)]
    wide = lf.group_by(list(by)).agg(aggs)
    long = wide.unpivot(index=list(by), on=[f"_q{i}" for i in range(points)], variable_name="_i", value_name=value)
    p_of = pl.col("_i").str.slice(2).cast(pl.Int32) / (points - 1)
    return long.with_columns(p_of.alias("p")).select(*by, "p", value).sort([*by, "p"])


def histogram(df: pl.DataFrame, value: str, by: Sequence[str], bins: int = 20) -> pl.DataFrame:
    """Counts of ``value`` in ``bins`` equal-width bins over its overall range, per ``by`` group.

    Bin ``i`` covers ``[lo + i*w, lo + (i+1)*w)`` with ``w = (max - min) / bins``; the
    last bin also holds the maximum. Empty bins are listed with count 0.
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    lo, hi = df.select(pl.col(value).min().alias("lo"), pl.col(value).max().alias("hi")).row(0)
    if lo is None:
        return pl.DataFrame()
    width = (hi - lo) / bins if hi > lo else 1.0
    idx = ((pl.col(value) - lo) / width).floor().cast(pl.Int64).clip(0, bins - 1).alias("bin")
    counts = df.group_by([*by, idx]).agg(pl.len().cast(pl.Int64).alias("count"))
    frame = df.select(by).unique().join(pl.DataFrame({"bin": list(range(bins))}), how="cross")
    out = frame.join(counts, on=[*by, "bin"], how="left").with_columns(pl.col("count").fill_null(0))
    return out.with_columns(
        (lo + pl.col("bin") * width).alias(f"{value}_from"),
        (lo + (pl.col("bin") + 1) * width).alias(f"{value}_to"),
    ).sort([*by, "bin"]).select(*by, f"{value}_from", f"{value}_to", "count")
