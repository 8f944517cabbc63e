"""MATH tools: the ast calculator, the sympy solver, and the CPU-limited worker processes."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from agentledger.datasets.math import SympySolver, SympyTimeout, SympyWorker, calculate, evaluate, run_query
from agentledger.datasets.math.calculator import CalcError
from agentledger.datasets.math.sympy_safe import UnsafeInput, parse_math


@pytest.fixture(scope="module")
def loop():
    """One event loop for the module, so the worker processes are started once."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def worker(loop):
    w = SympyWorker(cpu_limit_s=1.0, max_workers=1, grace_s=1.0)
    loop.run_until_complete(w.warm_up())
    yield w
    loop.run_until_complete(w.aclose())


# --------------------------------------------------------------------------- calculate


@pytest.mark.parametrize(("expr", "expected"), [
    ("2^10", "1024"), ("-2^2", "-4"), ("2^3^2", "512"), ("2*3^2", "18"), ("(3 + 4) * 5", "35"),
    ("7 // 2", "3"), ("7 % 3", "1"), ("1/4", "0.25"), ("1/3", "0.333333333333333"), ("sqrt(16)", "4"),
    ("factorial(10)", "3628800"), ("comb(10, 3)", "120"), ("perm(5, 2)", "20"), ("gcd(12, 18)", "6"),
    ("lcm(4, 6)", "12"), ("log(8, 2)", "3"), ("ln(e)", "1"), ("log10(1000)", "3"), ("exp(0)", "1"),
    ("sin(pi/2)", "1"), ("cos(0) + tan(0)", "1"), ("floor(-2.5)", "-3"), ("ceil(2.1)", "3"),
    ("round(2.567, 2)", "2.57"), ("abs(-3.5)", "3.5"), ("3 × 4 − 2", "10"), ("2**100", str(2**100)),
])
def test_calculate_known_answers(loop, expr, expected):
    assert loop.run_until_complete(calculate(expr)) == expected


def test_evaluate_returns_numbers():
    assert evaluate("factorial(20)") == math.factorial(20)
    assert evaluate("sqrt(2)") == pytest.approx(1.4142135623730951)


@pytest.mark.parametrize(("expr", "why"), [
    ("__import__('os')", "not an allowed function"),
    ("__import__('os').system('true')", "not an allowed function"),
    ("().__class__", "not allowed"),
    ("(1).real", "Attribute is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("[1, 2][0]", "not allowed"),
    ("'a' * 10", "not allowed"),
    ("open('/etc/passwd')", "open is not an allowed function"),
    ("9**9**9", "more than 1000 digits"),
    ("9^9^9", "more than 1000 digits"),
    ("10**5000", "more than 1000 digits"),
    ("factorial(100000)", "more than 1000 digits"),
    ("comb(100000, 50000)", "more than 1000 digits"),
    ("factorial(2.5)", "whole numbers"),
    ("x + 1", "unknown name 'x'"),
    ("1/0", "ZeroDivisionError"),
    ("sqrt(-1)", "math domain error"),
    ("(-8)^(1/3)", "complex"),
    ("exp(1000)", "OverflowError"),
    ("1" * 301, "at most 300"),
    ("2 +", "not a valid expression"),
    ("sqrt(x=4)", "positional"),
    ("", "empty"),
])
def test_calculate_refuses_with_an_observation(loop, expr, why):
    start = time.perf_counter()
    out = loop.run_until_complete(calculate(expr))
    assert time.perf_counter() - start < 0.5  # refused before any big computation
    assert out.startswith("calculate could not evaluate") and why in out
    assert "e.g. calculate[" in out  # tells the agent the syntax
    with pytest.raises(CalcError):
        evaluate(expr)


# --------------------------------------------------------------------------- solve (in process)


@pytest.mark.parametrize(("query", "expected"), [
    ("x^2 - 5x + 6 = 0", "x = 2 or x = 3"),
    ("solve 2x+3=7 for x", "x = 2"),
    ("Solve: 3y - 4 = 11", "y = 5"),
    ("roots of x^2 - 9", "x = -3 or x = 3"),
    ("x + y = 10, x - y = 2", "x = 6, y = 4"),
    ("x + y = 10; 2x - y = 5", "x = 5, y = 5"),
    ("solve a*x + 2 = 0 for a", "a = -2/x"),
    ("x^2 = 2", "x = -sqrt(2) ≈ -1.414213562 or x = sqrt(2) ≈ 1.414213562"),
    ("x^2 + 1 = 0", "x = -I or x = I"),
    ("x^2 < 4", "(-2 < x) & (x < 2)"),
    ("x^2 + 1 = x^2", "no solution: the equation is never true"),
    ("x + y = 1, x + y = 2", "no solution"),
    ("2(x+1) = 2x + 2", "the equation is always true: every value is a solution"),
    ("simplify (x^2-1)/(x-1)", "(x^2 - 1)/(x - 1) = x + 1"),
    ("factor x^2-1", "x^2 - 1 = (x - 1)*(x + 1)"),
    ("expand (x+1)^3", "(x + 1)^3 = x^3 + 3*x^2 + 3*x + 1"),
    ("integrate x^2", "integral of x^2 dx = x^3/3 + C"),
    ("integrate x^2 dx from 0 to 3", "integral of x^2 from 0 to 3 = 9"),
    ("derivative of sin(x)", "d/dx sin(x) = cos(x)"),
    ("d/dx x^3 + 2x", "d/dx x^3 + 2*x = 3*x^2 + 2"),
    ("sqrt(8)", "2*sqrt(2) ≈ 2.828427125"),
    ("evaluate log(8, 2)", "3"),
    ("e^(i pi)", "-1"),
    ("what is 5!", "120"),
    ("sinx + cos x", "sin(x) + cos(x)"),
    ("1/0", "undefined (division by zero or 0/0)"),
])
def test_solver_known_answers(query, expected):
    assert run_query(query) == expected


def test_solver_gives_numeric_roots_when_there_is_no_closed_form():
    out = run_query("solve x^5 - x + 1 = 0")
    assert out.count(" or ") == 4 and "≈ -1.167303978" in out


@pytest.mark.parametrize(("query", "why"), [
    ("__import__('os')", "character(s) ' not allowed"),
    ("x.__class__", "attribute access"),
    ("lambda x: x", "not allowed"),
    ("x if 1 else 2", "'if' is a Python keyword"),
    ("getattr(x, 'y')", "not allowed"),
    ("x^2 = 4 = y", "one relation"),
    ("(x + ", "could not read"),
    ("solve", "empty query"),
    ("x" * 401, "at most 400"),
])
def test_solver_refuses_bad_queries_with_the_syntax(query, why):
    out = run_query(query)
    assert why in out and "solve[x^2 - 5x + 6 = 0]" in out


def test_parse_math_never_evaluates_python():
    with pytest.raises(UnsafeInput):
        parse_math("__builtins__")
    with pytest.raises(UnsafeInput):
        parse_math("x.func")
    names = parse_math("exec(1) + eval")  # plain letters times numbers, never called
    assert sorted(str(s) for s in names.free_symbols) == ["a", "c", "e", "l", "v", "x"]


def test_solver_output_is_capped():
    out = run_query("factor x^997 - 1")
    assert len(out) < 2100 and out.endswith("characters in all)")


# --------------------------------------------------------------------------- solve (worker processes)


def test_solve_tool_answers_in_a_worker_without_blocking_the_loop(loop, worker):
    solve = SympySolver(worker)
    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def scenario() -> tuple[str, list[str]]:
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        slow = asyncio.create_task(solve("solve sin(x) + x^x = cos(x^2)"))  # runs to the CPU limit
        answers = await asyncio.gather(*(solve(f"x^2 = {n * n}") for n in (2, 3)))
        with pytest.raises(SympyTimeout, match="1 s of CPU time"):
            await slow
        stop.set()
        await tick
        return await solve("x^2 - 5x + 6 = 0"), answers

    start = time.perf_counter()
    first, answers = loop.run_until_complete(scenario())
    assert time.perf_counter() - start < 10
    assert first == "x = 2 or x = 3"
    assert answers == ["x = -2 or x = 2", "x = -3 or x = 3"]
    assert max(gaps) < 0.5  # the loop kept ticking while sympy worked (a blocked loop would stall >= 1 s)


def test_a_job_stuck_outside_python_is_killed_at_the_wall_clock_limit(loop, worker):
    killed = worker.killed
    start = time.perf_counter()
    with pytest.raises(SympyTimeout, match="stuck in native code"):
        loop.run_until_complete(worker.run(time.sleep, 30))  # sleeping uses no CPU: only the wall limit stops it
    assert time.perf_counter() - start < worker.wall_limit_s + 2
    assert worker.killed == killed + 1
    assert loop.run_until_complete(worker.run(run_query, "x + 1 = 3")) == "x = 2"  # a fresh worker took over


def test_a_cancelled_job_does_not_leak_its_reply_into_the_next(loop, worker):
    async def scenario() -> str:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(worker.run(run_query, "solve sin(x) + x^x = cos(x^2)"), 0.2)
        return await worker.run(run_query, "2x = 8")

    assert loop.run_until_complete(scenario()) == "x = 4"


def test_a_job_that_raises_is_reported(loop, worker):
    from agentledger.datasets.math import SympyWorkerError

    with pytest.raises(SympyWorkerError, match="ValueError"):
        loop.run_until_complete(worker.run(int, "not a number"))
