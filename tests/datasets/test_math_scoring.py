"""MATH scoring: answer extraction, MATH-style normalization, sympy equivalence, real MATH-500 items."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agentledger.datasets.math import (
    MATH,
    SympyWorker,
    extract_answer,
    last_boxed,
    load_math,
    score_answer,
    strip_string,
)
from agentledger.datasets.math.sympy_safe import latex_to_text


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def worker(loop):
    w = SympyWorker(cpu_limit_s=1.0, max_workers=1, grace_s=1.0)
    loop.run_until_complete(w.warm_up())
    yield w
    loop.run_until_complete(w.aclose())


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(("text", "expected"), [
    ("so $\\boxed{\\frac{1}{\\sqrt{2}}}$.", "\\frac{1}{\\sqrt{2}}"),
    ("first \\boxed{1}, finally \\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
    ("\\fbox{a{b}c}", "a{b}c"),
    ("it is $\\boxed 5$.", "5"),
    ("\\boxed{unclosed", None),
    ("no box here", None),
])
def test_last_boxed_handles_nesting_and_forms(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Thus the answer is $\\boxed{(3, \\frac{\\pi}{2})}$.", "(3, \\frac{\\pi}{2})"),
    ("Therefore, the answer is $\\frac{3}{4}$.", "\\frac{3}{4}"),
    ("The final answer is: 12", "12"),
    ("So the answer is 5. Checking: 2 + 3 = 5.", "5"),
    ("I think the answer is $-\\frac{1}{3}$.\nDone", "-\\frac{1}{3}"),
    ("7", "7"),
    ("$x = 3$", "x = 3"),
])
def test_extract_answer_falls_back_to_the_answer_is_and_then_the_text(text, expected):
    assert extract_answer(text) == expected


# --------------------------------------------------------------------------- normalization


@pytest.mark.parametrize(("raw", "normalized"), [
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
    ("\\dfrac12", "\\frac{1}{2}"),
    ("\\tfrac{3}{4}", "\\frac{3}{4}"),
    ("\\frac1{72}", "\\frac{1}{72}"),
    ("0.5", "\\frac{1}{2}"),
    (".5", "\\frac{1}{2}"),
    ("3/4", "\\frac{3}{4}"),
    ("k = 5", "5"),
    ("10\\%", "10"),
    ("90^\\circ", "90"),
    ("\\$18.90", "18.90"),
    ("5\\text{ cm}", "5"),
    ("\\text{(C)}", "(C)"),
    ("\\sqrt3", "\\sqrt{3}"),
    ("2\\sqrt 2", "2\\sqrt{2}"),
    ("10{,}000", "10000"),
    ("1,000,000", "1000000"),
    ("x\\!+\\!1.", "x+1"),
    ("\\displaystyle 4", "4"),
])
def test_strip_string_normalizes_like_the_math_evaluation(raw, normalized):
    assert strip_string(raw) == normalized


def test_latex_subset_reaches_sympy_syntax():
    assert latex_to_text("\\frac{\\sqrt{3}}{2}") == "((sqrt(3))/(2))"
    assert latex_to_text("\\sqrt[3]{x}\\cdot\\pi") == "root(x,3)* pi"
    assert latex_to_text("\\sin^{2}(x)") == "(sin(x))^(2)"
    assert latex_to_text("\\{1,2\\}") is None  # sets are left to string comparison
    assert latex_to_text("\\begin{pmatrix}1\\end{pmatrix}") is None


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize(("answer", "reference"), [
    ("\\boxed{\\frac{1}{2}}", "0.5"),
    ("\\boxed{0.5}", "\\frac12"),
    ("\\boxed{1/2}", "\\dfrac{1}{2}"),
    ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}"),
    ("\\boxed{x+1}", "1+x"),
    ("\\boxed{(x+1)^2}", "x^2+2x+1"),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{1}{2}\\sqrt3"),
    ("\\boxed{\\pi/2}", "\\frac{\\pi}{2}"),
    ("\\boxed{(1, 2]}", "\\left(1,2\\right]"),
    ("\\boxed{(3, \\pi/2)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\boxed{3, -2}", "-2, 3"),
    ("\\boxed{10,000}", "10000"),
    ("\\boxed{\\sin^2 x + \\cos^2 x}", "1"),
    ("\\boxed{18.9}", "18.90"),
    ("\\boxed{y = 2x + 3}", "y=3+2x"),
    ("The answer is 5.", "5"),
    ("\\boxed{1+2i}", "2i+1"),
])
def test_equivalent_answers_score_correct(loop, worker, answer, reference):
    score = loop.run_until_complete(score_answer(answer, reference, worker))
    assert (score.value, score.correct) == (1.0, True)
    assert score.detail["string_match"] + score.detail["sympy_match"] == 1.0


@pytest.mark.parametrize(("answer", "reference"), [
    ("\\boxed{3}", "4"),
    ("\\boxed{0.33}", "\\frac{1}{3}"),
    ("\\boxed{(1, 2]}", "[1, 2]"),
    ("\\boxed{(1, 2)}", "(2, 1)"),
    ("\\boxed{3, 2}", "3, 2, 1"),
    ("\\boxed{x - 1}", "1 - x"),
    ("\\boxed{\\sqrt{2}}", "1.414"),
    ("\\boxed{ba}", "ab"),
    ("\\boxed{}", "0"),
    ("", "1"),
])
def test_wrong_answers_score_zero(loop, worker, answer, reference):
    score = loop.run_until_complete(score_answer(answer, reference, worker))
    assert (score.value, score.correct) == (0.0, False)


def test_sympy_equivalence_is_bounded_in_time(loop, worker):
    start = time.perf_counter()
    score = loop.run_until_complete(score_answer("\\boxed{2^{10^{10}}}", "3", worker))
    assert time.perf_counter() - start < worker.wall_limit_s + 2
    assert not score.correct and score.detail["sympy_timed_out"] == 1.0


def test_without_a_worker_only_strings_decide(loop):
    assert loop.run_until_complete(score_answer("\\boxed{\\dfrac{1}{2}}", "0.5", None)).correct
    assert not loop.run_until_complete(score_answer("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", None)).correct


# --------------------------------------------------------------------------- real MATH-500 items


def test_reference_solutions_score_correct_on_20_math500_items(loop, worker, shared_data: Path):
    problems = load_math(shared_data / "math" / "math500_test.jsonl").problems[:20]
    scores = [loop.run_until_complete(score_answer(p.solution, p.answer, worker)) for p in problems]
    assert sum(s.correct for s in scores) == 20
    # and each solution is wrong for the next problem (no two neighbours share an answer here)
    shifted = [loop.run_until_complete(score_answer(p.solution, q.answer, worker))
               for p, q in zip(problems, problems[1:] + problems[:1], strict=True)]
    assert sum(s.correct for s in shifted) == 0


def test_benchmark_score_uses_the_task_reference(loop, shared_data: Path):
    bench = MATH(shared_data / "math", subject="precalculus", cpu_limit_s=1.0, max_workers=1)
    task = bench.tasks(1)[0]
    assert task.task_id == "test/precalculus/807.json"

    async def scenario() -> tuple[bool, bool]:
        try:
            good = await bench.score(task, "The polar coordinates are $\\boxed{(3, \\pi/2)}$.")
            bad = await bench.score(task, "$\\boxed{(3, \\pi)}$")
            return good.correct, bad.correct
        finally:
            await bench.aclose()

    assert loop.run_until_complete(scenario()) == (True, False)
