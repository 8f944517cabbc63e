"""`analyze tokens`: per-call statistics, category shares and growth with iteration."""

from __future__ import annotations

import pytest

from agentledger.analyze.load import open_traces
from agentledger.analyze.tokens import MEASURES, token_stats
from agentledger.errors import TraceError
from tests.analyze.conftest import llm, req, write_events


def call(eid, it, user, llm_hist, tool_hist, out, cached=0):
    prompt = 100 + 0 + user + llm_hist + tool_hist + 2
    return llm(eid, 0, eid, eid + 1, iteration=it, prompt_tokens=prompt, completion_tokens=out, cached_tokens=cached,
               tokens_instruction=100, tokens_few_shot=0, tokens_user=user, tokens_llm_history=llm_hist,
               tokens_tool_history=tool_hist, tokens_template=2)


# prompts: 132 (it 0), 232 and 272 (it 1), 392 (it 2)
CALLS = [call(1, 0, 30, 0, 0, 40), call(2, 1, 30, 40, 60, 20, cached=100), call(3, 1, 70, 40, 60, 30),
         call(4, 2, 30, 80, 180, 50, cached=200)]


@pytest.fixture
def hand(tmp_path):
    return write_events(tmp_path / "tok.arrow", [req(0, 0, 100), *CALLS])


def test_summary_and_shares(hand):
    res = token_stats(open_traces([hand]))
    s = {r["measure"]: r for r in res.summary.to_dicts()}
    assert list(s) == list(MEASURES)
    assert s["prompt_tokens"]["mean"] == pytest.approx((132 + 232 + 272 + 392) / 4)
    assert s["prompt_tokens"]["max"] == 392 and s["prompt_tokens"]["calls"] == 4
    assert s["completion_tokens"]["mean"] == 35 and s["completion_tokens"]["p50"] == 35
    total = 132 + 232 + 272 + 392
    assert s["tokens_tool_history"]["share_of_prompt"] == pytest.approx(300 / total)
    assert s["cached_tokens"]["share_of_prompt"] == pytest.approx(300 / total)
    assert sum(s[c]["share_of_prompt"] for c in MEASURES[1:7]) == pytest.approx(1.0)
    assert s["prompt_tokens"]["share_of_prompt"] is None and res.notes == []


def test_by_iteration_and_growth(hand):
    res = token_stats(open_traces([hand]))
    rows = res.by_iteration.to_dicts()
    assert [r["iteration"] for r in rows] == [0, 1, 2] and [r["calls"] for r in rows] == [1, 2, 1]
    assert [r["prompt_tokens"] for r in rows] == [132, 252, 392]
    assert [r["tokens_tool_history"] for r in rows] == [0, 60, 180]
    # least-squares slope of prompt_tokens on iteration over the 4 calls: x = 0,1,1,2; y = 132,232,272,392
    # mean x 1, mean y 257; cov = (125 + 0 + 0 + 135) / 3; var x = 2 / 3 -> slope 130
    g = res.growth.row(0, named=True)
    assert g["iterations"] == 3 and g["prompt_tokens_per_iteration"] == pytest.approx(130)


def test_missing_categories_are_noted(tmp_path):
    p = write_events(tmp_path / "nocat.arrow", [req(0, 0, 10), llm(1, 0, 0, 5, iteration=0, prompt_tokens=50,
                                                                    completion_tokens=5)])
    res = token_stats(open_traces([p]))
    s = {r["measure"]: r for r in res.summary.to_dicts()}
    assert s["prompt_tokens"]["mean"] == 50 and s["tokens_user"]["calls"] == 0 and s["tokens_user"]["mean"] is None
    assert res.categorized_calls == 0 and "not recorded" in res.notes[0]


def test_no_token_counts_is_an_error(tmp_path):
    p = write_events(tmp_path / "nousage.arrow", [req(0, 0, 10), llm(1, 0, 0, 5)])
    with pytest.raises(TraceError, match="no llm_call has prompt_tokens"):
        token_stats(open_traces([p]))
