"""`analyze pareto` on configurations whose frontier is worked out by hand below."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from agentledger.analyze.cli import app
from agentledger.analyze.load import open_traces
from agentledger.analyze.pareto import frontier, pareto, report
from agentledger.errors import TraceError, UsageError
from tests.analyze.conftest import config, llm, req, write_events
from tests.analyze.test_energy import HAND_J, write_hand

# agent -> (latency of each request in ms, scores). Accuracy and mean latency:
#   cot 25% at 0.1 s, react 50% at 0.4 s, reflexion 75% at 3.1 s, lats 50% at 5.0 s.
# lats is dominated by react (same accuracy, cheaper); the frontier is cot -> react -> reflexion.
# Highest accuracy: reflexion. Best accuracy per second: cot (2.5 /s).
# Last gain on the frontier: react -> reflexion, +25 points for 3.1 / 0.4 = 7.75x the latency,
# (3.1 - 0.4) / 25 = 0.108 s per accuracy point.
CONFIGS = {"cot": (100, [1, 0, 0, 0]), "react": (400, [1, 1, 0, 0]), "reflexion": (3100, [1, 1, 1, 0]),
           "lats": (5000, [1, 1, 0, 0])}


@pytest.fixture
def configs(tmp_path):
    paths = []
    for agent, (ms, scores) in CONFIGS.items():
        events = [req(i + 1, i * 10_000, i * 10_000 + ms, score=float(s)) for i, s in enumerate(scores)]
        paths.append(write_events(tmp_path / f"{agent}.arrow", events, config(agent=agent)))
    return paths


def test_frontier_best_points_and_marginal_cost(configs):
    res = pareto(open_traces(configs))
    pts = {r["group"]: r for r in res.points.to_dicts()}
    assert {g: p["accuracy"] for g, p in pts.items()} == {
        "cot/hotpotqa": 0.25, "react/hotpotqa": 0.5, "reflexion/hotpotqa": 0.75, "lats/hotpotqa": 0.5}
    assert pts["reflexion/hotpotqa"]["cost_s"] == pytest.approx(3.1)
    assert pts["cot/hotpotqa"]["accuracy_per_s"] == pytest.approx(2.5)
    assert [g for g, p in pts.items() if p["frontier"]] == ["cot/hotpotqa", "react/hotpotqa", "reflexion/hotpotqa"]
    assert [g for g, p in pts.items() if p["top_accuracy"]] == ["reflexion/hotpotqa"]
    assert [g for g, p in pts.items() if p["top_efficiency"]] == ["cot/hotpotqa"]
    m = res.marginal.row(0, named=True)
    assert (m["from_group"], m["to_group"]) == ("react/hotpotqa", "reflexion/hotpotqa")
    assert m["accuracy_gain"] == pytest.approx(0.25) and m["cost_ratio"] == pytest.approx(7.75)
    assert m["marginal_cost_per_point"] == pytest.approx(0.108) and m["cost_s_from"] == pytest.approx(0.4)


def test_the_studys_31x_for_4_points(tmp_path):
    # 25 requests each: 20 correct (80%) at 1 s, and 21 correct (84%) at 31 s
    paths = []
    for agent, ok, ms in (("cot", 20, 1000), ("lats", 21, 31_000)):
        events = [req(i + 1, i * 100_000, i * 100_000 + ms, outcome="correct" if i < ok else "incorrect") for i in range(25)]
        paths.append(write_events(tmp_path / f"{agent}.arrow", events, config(agent=agent)))
    rep = report(open_traces(paths))
    m = rep.section("marginal").row(0, named=True)
    assert m["accuracy_gain"] == pytest.approx(0.04) and m["cost_ratio"] == pytest.approx(31.0)
    assert m["marginal_cost_per_point"] == pytest.approx(7.5)  # 30 s more for 4 points
    assert rep.data["marginal_text"].startswith("the last 4.0% of accuracy (cot/hotpotqa -> lats/hotpotqa) takes 31x the cost")


def test_accuracy_from_outcomes_when_no_score(tmp_path):
    events = [req(1, 0, 100, outcome="correct"), req(2, 200, 300, outcome="timeout"),
              req(3, 400, 500, outcome="unscored"), req(4, 600, 700, score=0.5, outcome="incorrect")]
    row = pareto(open_traces([write_events(tmp_path / "o.arrow", events)])).points.row(0, named=True)
    assert row["requests"] == 4 and row["scored"] == 3 and row["accuracy"] == pytest.approx(0.5)  # (1 + 0 + 0.5) / 3


def test_token_cost_sums_prompt_and_completion_per_request(tmp_path):
    events = [req(1, 0, 100, score=1.0), req(2, 200, 300, score=0.0),
              llm(11, 1, 0, 40, prompt_tokens=100, completion_tokens=20), llm(12, 1, 50, 90, prompt_tokens=150, completion_tokens=30),
              llm(21, 2, 200, 250, prompt_tokens=80, completion_tokens=None)]
    row = pareto(open_traces([write_events(tmp_path / "t.arrow", events)]), cost="tokens").points.row(0, named=True)
    assert row["cost_tokens"] == pytest.approx((300 + 80) / 2)
    assert row["accuracy_per_ktoken"] == pytest.approx(0.5 / 190 * 1000)


def test_token_cost_needs_token_counts(tmp_path):
    p = write_events(tmp_path / "nt.arrow", [req(1, 0, 100, score=1.0), llm(2, 1, 0, 50)])
    with pytest.raises(TraceError, match="no llm_call has prompt_tokens"):
        pareto(open_traces([p]), cost="tokens")


def test_energy_cost_comes_from_gpu_samples(tmp_path):
    row = pareto(open_traces([write_hand(tmp_path / "e.arrow")]), cost="energy").points.row(0, named=True)
    assert row["accuracy"] == pytest.approx(2 / 3)
    assert row["cost_wh"] == pytest.approx(sum(HAND_J.values()) / 3 / 3600)


def test_equal_points_are_both_on_the_frontier():
    pts = pl.DataFrame({"accuracy": [0.5, 0.5, 0.4, 0.6], "cost_s": [1.0, 1.0, 1.0, 3.0]})
    assert frontier(pts, "cost_s").to_list() == [True, True, False, True]


def test_errors(tmp_path, configs):
    unscored = write_events(tmp_path / "u.arrow", [req(1, 0, 100, outcome="unscored")])
    with pytest.raises(TraceError, match="no request has a score or a scored outcome"):
        pareto(open_traces([unscored]))
    with pytest.raises(UsageError, match="unknown --cost value 'dollars'"):
        pareto(open_traces(configs), cost="dollars")
    res = CliRunner().invoke(app, ["pareto", str(configs[0]), "--cost", "dollars"])
    assert res.exit_code == 2 and "use one of: latency, tokens, energy" in res.output
    res = CliRunner().invoke(app, ["pareto", str(configs[0]), "--cost", "energy"])
    assert res.exit_code == 2 and "no gpu_sample events" in res.output


def test_cli_json_table_and_chart(configs, tmp_path):
    res = CliRunner().invoke(app, ["pareto", *map(str, configs), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["cost"] == "latency" and len(data["points"]) == 4 and data["marginal"][0]["cost_ratio"] == pytest.approx(7.75)
    table = CliRunner().invoke(app, ["pareto", *map(str, configs)])
    assert table.exit_code == 0 and "reflexion/hotpotqa" in table.stdout and "75.0%" in table.stdout
    out = tmp_path / "p.svg"
    assert CliRunner().invoke(app, ["pareto", *map(str, configs), "--chart", str(out)]).exit_code == 0
    assert b"<svg" in out.read_bytes()[:200]


def test_synthetic_trace_runs(synthetic_trace):
    res = pareto(open_traces([synthetic_trace]), cost="tokens")
    assert res.points.height == 1 and res.points["frontier"][0] and res.marginal.height == 0
