"""Interval unions and statistics: vectorized results against plain Python on random data."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

from agentledger.analyze.intervals import merge_intervals, two_set_cover, union_ns
from agentledger.analyze.stats import cv, describe, histogram, quantile_grid


def _union(iv: list[tuple[int, int]]) -> int:
    total, cur_s, cur_e = 0, None, None
    for s, e in sorted(iv):
        if cur_e is None or s > cur_e:
            total += 0 if cur_e is None else cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return total + (0 if cur_e is None else cur_e - cur_s)


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    return _union(a) + _union(b) - _union(a + b)


def _random_frame(seed: int, keys: int, per_key: int, scale: int) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for k in range(keys):
        for _ in range(rng.randrange(per_key + 1)):
            s = rng.randrange(scale)
            rows.append((k * 3, s, s + rng.randrange(scale // 5), rng.random() < 0.4))  # keys need not be dense
    return pl.DataFrame(rows, schema={"key": pl.Int64, "start_ns": pl.Int64, "end_ns": pl.Int64, "tool": pl.Boolean},
                        orient="row")


@pytest.mark.parametrize("scale", [1_000, 2**62 // 4])  # the second forces the two-column sort path
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_set_cover_matches_python(seed, scale):
    df = _random_frame(seed, keys=40, per_key=12, scale=scale)
    got = {r["key"]: r for r in two_set_cover(df, "key", "tool").to_dicts()}
    for k, part in df.group_by("key"):
        a = [(s, e) for _, s, e, t in part.iter_rows() if not t]
        b = [(s, e) for _, s, e, t in part.iter_rows() if t]
        row = got[k[0]]
        assert (row["a_ns"], row["b_ns"]) == (_union(a), _union(b))
        assert row["both_ns"] == _intersect(a, b) and row["either_ns"] == _union(a + b)


@pytest.mark.parametrize("scale", [1_000, 2**62 // 4])
def test_two_set_cover_with_dense_keys_lists_every_key(scale):
    df = _random_frame(3, keys=30, per_key=6, scale=scale)  # keys 0, 3, 6, ...; some have no interval
    dense = two_set_cover(df, "key", "tool", n_keys=100)
    assert dense["key"].to_list() == list(range(100))
    present = two_set_cover(df, "key", "tool")
    assert dense.join(present, on="key", how="semi").equals(present)
    empty = dense.join(present, on="key", how="anti")
    assert empty.height == 100 - present.height and empty.drop("key").sum().row(0) == (0, 0, 0, 0)
    assert two_set_cover(df.head(0), "key", "tool", n_keys=3)["either_ns"].to_list() == [0, 0, 0]


def test_merge_and_union_on_touching_and_nested_intervals():
    df = pl.DataFrame({"k": [1, 1, 1, 1, 2], "start_ns": [0, 5, 6, 20, 3], "end_ns": [5, 9, 7, 30, 4]})
    merged = merge_intervals(df.lazy(), ["k"]).sort("k", "start_ns").collect()
    assert merged.rows() == [(1, 0, 9), (1, 20, 30), (2, 3, 4)]  # [0,5) and [5,9) touch: one segment
    assert dict(union_ns(df.lazy(), ["k"]).collect().rows()) == {1: 19, 2: 1}
    assert two_set_cover(df.head(0).with_columns(pl.lit(False).alias("b")), "k", "b").height == 0


def test_quantiles_are_linear_like_numpy():
    vals = [3.0, 1.0, 7.0, 2.0, 10.0, 4.5]
    df = pl.DataFrame({"g": ["a"] * 6, "v": vals})
    out = df.group_by("g").agg(describe("v", (10, 50, 95))).row(0, named=True)
    for p in (10, 50, 95):
        assert out[f"p{p}"] == pytest.approx(np.percentile(vals, p))  # numpy's default is linear
    assert out["mean"] == pytest.approx(np.mean(vals)) and out["max"] == 10.0
    assert df.select(cv("v")).item() == pytest.approx(np.std(vals, ddof=1) / np.mean(vals))
    grid = quantile_grid(df.lazy(), "v", ["g"], points=3).collect()
    assert grid["p"].to_list() == [0.0, 0.5, 1.0] and grid["v"].to_list() == [1.0, 3.75, 10.0]


def test_histogram_counts_every_value_once():
    df = pl.DataFrame({"g": ["a", "a", "b", "b", "b"], "v": [0.0, 1.0, 2.0, 2.0, 4.0]})
    h = histogram(df, "v", ["g"], bins=4)
    assert h.height == 8 and h["count"].sum() == 5
    b = h.filter(pl.col("g") == "b")
    assert b["count"].to_list() == [0, 0, 2, 1] and b["v_to"].to_list() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError):
        histogram(df, "v", ["g"], bins=0)
