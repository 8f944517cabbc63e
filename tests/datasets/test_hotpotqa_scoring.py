"""The official HotpotQA answer metrics, on examples worked out by hand."""

from __future__ import annotations

import pytest

from agentledger.datasets.hotpotqa import answer_metrics, exact_match, f1_score, normalize_answer, score_answer


@pytest.mark.parametrize(("raw", "normalized"), [
    ("The  Quick, brown fox!", "quick brown fox"),  # lower, punctuation, article, spaces
    ("An apple a day", "apple day"),
    ("Theatre the", "theatre"),  # only whole-word articles go
    ("1,000", "1000"),
    ("U.S.A.", "usa"),
    ("  ", ""),
    ("Chief of Protocol", "chief of protocol"),
])
def test_normalize(raw, normalized):
    assert normalize_answer(raw) == normalized


def test_exact_match():
    assert exact_match("the Chief of Protocol", "Chief of Protocol")
    assert exact_match("YES", "yes")
    assert not exact_match("Paris, France", "France Paris")


def test_partial_credit():
    # "chief of protocol of united states" (6 tokens) vs "chief of protocol" (3): 3 in common
    m = answer_metrics("Chief of Protocol of the United States", "Chief of Protocol")
    assert m.em is False
    assert m.precision == pytest.approx(3 / 6) and m.recall == pytest.approx(1.0)
    assert m.f1 == pytest.approx(2 * 0.5 * 1.0 / 1.5)  # 0.6667
    # "kenny young and mark" vs "kenny young": 2 in common, P = 2/4, R = 2/2
    assert f1_score("Kenny Young and Mark", "Kenny Young") == pytest.approx(2 / 3)
    # repeated tokens count at most as often as in the gold answer: P = 2/3, R = 2/2, F1 = 0.8
    assert f1_score("the the Ed Wood Wood", "Ed Wood") == pytest.approx(0.8)
    assert f1_score("Paris, France", "France Paris") == 1.0
    assert f1_score("Paul Revere", "Kenny Young") == 0.0


def test_yes_no_get_no_partial_credit():
    # "yes they were" shares "yes" with the gold, but a yes/no gold answer must match exactly
    assert f1_score("yes, they were", "yes") == 0.0
    assert f1_score("yes", "yes they were") == 0.0
    assert f1_score("no", "yes") == 0.0
    assert f1_score("noanswer", "no answer") == 0.0
    assert f1_score("No.", "no") == 1.0
    assert f1_score("no answer", "no answer") == 1.0  # "no answer" is two tokens, not the special "noanswer"


def test_score_object():
    right = score_answer("The Chief of Protocol", "Chief of Protocol")
    assert right.correct is True and right.value == 1.0
    assert dict(right.detail) == {"em": 1.0, "f1": 1.0, "precision": 1.0, "recall": 1.0}
    partial = score_answer("Chief of Protocol of the United States", "Chief of Protocol")
    assert partial.correct is False and partial.value == 0.0
    assert partial.detail["em"] == 0.0 and partial.detail["f1"] == pytest.approx(2 / 3)
    empty = score_answer(None, "Chief of Protocol")
    assert empty.value == 0.0 and empty.detail["f1"] == 0.0
