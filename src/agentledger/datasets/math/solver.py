"""The ``solve[query]`` tool backed by sympy (the local stand-in for Wolfram Alpha).

Queries it understands (case of the leading word does not matter):

* an equation or inequality: ``x^2 - 5x + 6 = 0``, ``solve 2x+3=7 for x``, ``x^2 < 4``;
* a system, equations separated by ``;`` or top-level commas: ``x + y = 10, x - y = 2``;
* ``simplify E``, ``factor E``, ``expand E``;
* ``integrate E`` (``from a to b`` for a definite integral; ``dx`` and ``with respect to x``
  accepted), ``derivative of E`` / ``differentiate E`` / ``d/dx E``;
* ``evaluate E`` or a bare expression: exact value and a decimal approximation.

Input is read with :func:`~.sympy_safe.parse_math` (no arbitrary code). :func:`run_query` is
the whole computation, meant to run inside a :class:`~.worker.SympyWorker`; :class:`SympySolver`
is the async tool that sends it there. A query that does not parse gives an observation with
the syntax; a query sympy cannot finish in its CPU budget raises ``SympyTimeout``.
"""

from __future__ import annotations

import re
from tokenize import TokenError
from typing import Any

from .sympy_safe import UnsafeInput, parse_math
from .worker import SympyTimeout, SympyWorker

__all__ = ["SYNTAX", "MAX_OUTPUT_CHARS", "run_query", "SympySolver"]

MAX_OUTPUT_CHARS = 2000

SYNTAX = ("solve[...] takes an equation (solve[x^2 - 5x + 6 = 0], solve[2x + 3 = 7 for x]), a system "
          "(solve[x + y = 10, x - y = 2]), or simplify/factor/expand/integrate/derivative of/evaluate "
          "followed by an expression (solve[integrate x^2 from 0 to 1], solve[derivative of sin(x)])")
_CONSTANTS = {"e": "E", "i": "I"}
_VERBS = (
    ("derivative of", "diff"), ("differentiate", "diff"), ("d/dx", "diff"), ("diff", "diff"),
    ("integral of", "integrate"), ("integrate", "integrate"), ("antiderivative of", "integrate"),
    ("simplify", "simplify"), ("factorise", "factor"), ("factor", "factor"), ("expand", "expand"),
    ("evaluate", "evaluate"), ("compute", "evaluate"), ("calculate", "evaluate"), ("what is", "evaluate"),
    ("solve", "solve"), ("roots of", "solve"), ("zeros of", "solve"),
)
_FOR_VAR = re.compile(r"\s+(?:for|with respect to|wrt)\s+([A-Za-z](?:\s*,\s*[A-Za-z])*)\s*$", re.IGNORECASE)
_BOUNDS = re.compile(r"\s+from\s+(.+?)\s+to\s+(.+)$", re.IGNORECASE)
_RELATIONS = ("<=", ">=", "!=", "<", ">", "=")


def _show(value: Any) -> str:
    import sympy  # type: ignore[import-untyped]

    if value in (sympy.zoo, sympy.nan):
        return "undefined (division by zero or 0/0)"
    text = sympy.sstr(value).replace("**", "^")
    if isinstance(value, sympy.Expr) and value.is_number:
        try:
            if not all(part.is_Rational for part in value.as_real_imag()):
                return f"{text} ≈ {sympy.sstr(sympy.N(value, 10)).replace('**', '^')}"
        except (TypeError, ValueError):
            pass
    return text


def _split_parts(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += 1 if ch == "(" else -1 if ch == ")" else 0
        if ch == ";" or (ch == "," and depth == 0):
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _relation(part: str) -> Any:
    import sympy  # type: ignore[import-untyped]

    for op in _RELATIONS:
        if op in part:
            left, right = part.split(op, 1)
            if any(r in right for r in _RELATIONS):
                raise ValueError("use one relation per equation")
            lhs, rhs = parse_math(left, constants=_CONSTANTS), parse_math(right, constants=_CONSTANTS)
            if op == "=":
                return sympy.Eq(lhs, rhs)
            return {"<": sympy.Lt, ">": sympy.Gt, "<=": sympy.Le, ">=": sympy.Ge, "!=": sympy.Ne}[op](lhs, rhs)
    return parse_math(part, constants=_CONSTANTS)


def _pick_vars(exprs: list[Any], given: list[str] | None) -> list[Any]:
    import sympy  # type: ignore[import-untyped]

    if given:
        return [sympy.Symbol(v) for v in given]
    free = sorted(set().union(*(e.free_symbols for e in exprs)), key=lambda s: s.name)
    if len(exprs) == 1 and len(free) > 1:  # one equation in several letters: solve for x if it is there
        return [next((s for s in free if s.name == "x"), free[0])]
    return free


def _solve(parts: list[str], given: list[str] | None) -> str:
    import sympy  # type: ignore[import-untyped]

    relations = [_relation(p) for p in parts]
    exprs = [r if isinstance(r, sympy.Basic) else sympy.sympify(r) for r in relations]
    variables = _pick_vars(exprs, given)
    if not variables and not any(e in (sympy.true, sympy.false) for e in exprs):
        return f"{_show(exprs[0])} has no unknowns: it is {_show(sympy.simplify(exprs[0]))}"
    if any(isinstance(e, sympy.core.relational.Relational) and not isinstance(e, sympy.Eq) for e in exprs):
        return _show(sympy.reduce_inequalities(exprs, variables))
    if any(e in (sympy.true, sympy.false) for e in exprs):
        return "the equation is always true: every value is a solution" if all(
            e == sympy.true for e in exprs) else "no solution: the equation is never true"
    # one equation goes in alone: in a list, sympy drops roots it can only give as CRootOf
    solutions = sympy.solve(exprs[0] if len(exprs) == 1 else exprs, variables, dict=True)
    if not solutions:
        return "no solution"
    shown = [", ".join(f"{k} = {_show(v)}" for k, v in sorted(sol.items(), key=lambda kv: str(kv[0])))
             for sol in solutions]
    return " or ".join(shown)


def _calculus(verb: str, body: str, given: list[str] | None) -> str:
    import sympy  # type: ignore[import-untyped]

    bounds = _BOUNDS.search(body) if verb == "integrate" else None
    if bounds:
        body = body[: bounds.start()]
    body = re.sub(r"\s*\bd([a-z])\s*$", "", body)  # "x^2 dx"
    expr = parse_math(body, constants=_CONSTANTS)
    variables = _pick_vars([expr], given) or [sympy.Symbol("x")]
    var = variables[0]
    if verb == "diff":
        return f"d/d{var} {_show(expr)} = {_show(sympy.simplify(sympy.diff(expr, var)))}"
    if bounds:
        low, high = (parse_math(b, constants=_CONSTANTS) for b in bounds.groups())
        return f"integral of {_show(expr)} from {_show(low)} to {_show(high)} = {_show(sympy.integrate(expr, (var, low, high)))}"
    return f"integral of {_show(expr)} d{var} = {_show(sympy.integrate(expr, var))} + C"


def _transform(verb: str, body: str) -> str:
    import sympy  # type: ignore[import-untyped]

    expr = parse_math(body, constants=_CONSTANTS)
    if verb == "evaluate" or (verb == "simplify" and expr.is_number):
        value = sympy.nsimplify(expr) if expr.is_Float else sympy.simplify(expr)
        return _show(value) if value == expr else f"{_show(expr)} = {_show(value)}"
    result = {"simplify": sympy.simplify, "factor": sympy.factor, "expand": sympy.expand}[verb](expr)
    return f"{_show(expr)} = {_show(result)}"


def run_query(query: str) -> str:
    """Answer one solve[...] query (runs sympy; call it in a worker process). Always returns text."""
    answer = _answer(query)
    if len(answer) > MAX_OUTPUT_CHARS:
        answer = answer[:MAX_OUTPUT_CHARS] + f" ... (cut: {len(answer):,} characters in all)"
    return answer


def _answer(query: str) -> str:
    text = " ".join(query.strip().split())
    verb, body = None, text
    for word, name in _VERBS:
        if text.lower().startswith(word) and (len(text) == len(word) or not text[len(word)].isalpha()):
            verb, body = name, text[len(word):].strip(" :")
            break
    given = None
    found = _FOR_VAR.search(body)
    if found:
        given, body = [v.strip() for v in found.group(1).split(",")], body[: found.start()]
    if not body:
        return f"solve got an empty query. {SYNTAX}"
    try:
        parts = _split_parts(body)
        if verb in ("diff", "integrate"):
            return _calculus(verb, body, given)
        if verb == "solve" or len(parts) > 1 or any(r in body for r in _RELATIONS):
            return _solve(parts, given)
        return _transform(verb or "evaluate", body)
    except UnsafeInput as err:
        return f"solve could not read {text[:80]!r}: {err}. {SYNTAX}"
    except (SyntaxError, TypeError, ValueError, TokenError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"solve could not read {text[:80]!r} ({reason[:120]}). {SYNTAX}"
    except NotImplementedError as err:
        return f"sympy cannot solve {text[:80]!r} in closed form ({str(err)[:120]}); try calculate[...] with numbers"
    except Exception as err:  # noqa: BLE001 - sympy's own failures on odd input are answers, not crashes
        return f"sympy failed on {text[:80]!r} ({type(err).__name__}: {str(err)[:120]}); rephrase it. {SYNTAX}"


class SympySolver:
    """The async ``solve`` tool: sends the query to a :class:`SympyWorker` (never blocks the loop)."""

    backend = "sympy"

    def __init__(self, worker: SympyWorker) -> None:
        self._worker = worker

    async def __call__(self, argument: str) -> str:
        try:
            return await self._worker.run(run_query, argument)
        except SympyTimeout as err:
            raise SympyTimeout(f"solve[...] {err}: simplify the query, or use calculate[...] on numbers") from None
