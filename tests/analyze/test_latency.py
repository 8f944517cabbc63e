"""`analyze latency`: percentiles, CV, CDF points and histogram, checked against hand values."""

from __future__ import annotations

import math

import pytest

from agentledger.analyze.latency import latency
from agentledger.analyze.load import open_traces
from tests.analyze.conftest import config, req, write_events

E2E_S = [1, 2, 3, 4, 10]


@pytest.fixture
def five(tmp_path):
    return write_events(tmp_path / "five.arrow", [req(i, 0, s * 1000) for i, s in enumerate(E2E_S)])


def test_summary_by_hand(five):
    row = latency(open_traces([five])).summary.row(0, named=True)
    std = math.sqrt((9 + 4 + 1 + 0 + 36) / 4)  # sample standard deviation around the mean 4
    assert row["requests"] == 5 and row["mean_s"] == pytest.approx(4.0) and row["std_s"] == pytest.approx(std)
    assert row["cv"] == pytest.approx(std / 4)
    assert (row["min_s"], row["p50_s"], row["max_s"]) == (pytest.approx(1), pytest.approx(3), pytest.approx(10))
    # linear interpolation at rank p * (n - 1): p90 -> 3.6 -> 4 + 0.6 * 6; p95 -> 3.8; p99 -> 3.96
    assert row["p90_s"] == pytest.approx(7.6) and row["p95_s"] == pytest.approx(8.8) and row["p99_s"] == pytest.approx(9.76)


def test_cdf_points_and_histogram(five):
    res = latency(open_traces([five]), points=5, bins=3)
    assert res.cdf["p"].to_list() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert res.cdf["e2e_s"].to_list() == pytest.approx([1, 2, 3, 4, 10])
    # bins of width 3 over [1, 10]: {1, 2, 3}, {4}, {10}
    assert res.histogram["count"].to_list() == [3, 1, 1]
    assert res.histogram["e2e_s_from"].to_list() == pytest.approx([1, 4, 7])


def test_groups_compared_across_traces(five, tmp_path):
    other = write_events(tmp_path / "nocache.arrow", [req(0, 0, 500), req(1, 0, 1500)], config(prefix_caching=False))
    res = latency(open_traces([five, other]))
    labels = res.summary["group"].cast(str).to_list()
    assert labels == ["react/hotpotqa prefix_caching=True", "react/hotpotqa prefix_caching=False"]
    assert res.summary["mean_s"].to_list() == pytest.approx([4.0, 1.0])
    assert res.cdf.height == 2 * 101
    res = latency(open_traces([five, other], by="trace"))
    assert res.summary["group"].cast(str).to_list() == ["five", "nocache"]
