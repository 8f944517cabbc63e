"""The official HotpotQA answer metrics (``hotpot_evaluate_v1.py``): exact match and token F1.

Answers are normalized as the official script does: lower-cased, punctuation removed,
the articles a/an/the removed, whitespace collapsed. F1 is 0 when either side
normalizes to "yes", "no" or "noanswer" and the two differ (no partial credit there).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

from ..base import Score

__all__ = ["AnswerMetrics", "normalize_answer", "exact_match", "f1_score", "answer_metrics", "score_answer"]

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPECIAL = frozenset({"yes", "no", "noanswer"})


@dataclass(frozen=True, slots=True)
class AnswerMetrics:
    em: bool
    f1: float
    precision: float
    recall: float


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, drop articles, collapse whitespace (in the official order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def answer_metrics(prediction: str, gold: str) -> AnswerMetrics:
    """EM, F1, precision and recall of ``prediction`` against ``gold``."""
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    em = pred == ref
    if (pred in _SPECIAL or ref in _SPECIAL) and pred != ref:
        return AnswerMetrics(em, 0.0, 0.0, 0.0)
    pred_tokens, ref_tokens = pred.split(), ref.split()
    same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if same == 0:
        return AnswerMetrics(em, 0.0, 0.0, 0.0)
    precision, recall = same / len(pred_tokens), same / len(ref_tokens)
    return AnswerMetrics(em, 2 * precision * recall / (precision + recall), precision, recall)


def f1_score(prediction: str, gold: str) -> float:
    return answer_metrics(prediction, gold).f1


def score_answer(prediction: str | None, gold: str) -> Score:
    """``Score`` with ``correct`` = exact match, ``value`` = EM as 0/1, detail em/f1/precision/recall."""
    m = answer_metrics(prediction or "", gold)
    return Score(value=float(m.em), correct=m.em,
                 detail={"em": float(m.em), "f1": m.f1, "precision": m.precision, "recall": m.recall})
