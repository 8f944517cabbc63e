"""The ``calculate[expr]`` tool: numeric evaluation that never runs the agent's text as code.

The expression is parsed with :mod:`ast` and walked by hand. Allowed: int and float literals,
``+ - * / // % **`` (``^`` is read as ``**``, so ``2^10`` is 1024 and ``-2^2`` is -4),
unary ``+``/``-``, parentheses, the constants ``pi``, ``e``, ``tau``, and calls of a fixed
list of functions (``sqrt``, ``sin``, ``cos``, ``tan``, ``log`` (natural, or ``log(x, base)``),
``ln``, ``exp``, ``factorial``, ``comb``, ``perm``, ``gcd``, ``lcm``, ``abs``, ``floor``,
``ceil``, ``round``, ...). Everything else (names, attributes, lambdas, subscripts, strings,
keyword arguments) is refused. Work is bounded before it is done: input at most
:data:`MAX_CHARS` characters, integer results at most :data:`MAX_DIGITS` digits (a power or a
factorial that would be larger is refused without computing it), so one call takes well under
a millisecond and runs inline on the event loop.

A refused or failing expression gives an observation that says why and shows the syntax.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_CHARS", "MAX_DIGITS", "CalcError", "evaluate", "calculate", "SYNTAX"]

MAX_CHARS = 300
MAX_DIGITS = 1000
_MAX_BITS = int(MAX_DIGITS * math.log2(10)) + 1

SYNTAX = ("calculate[...] takes one numeric expression, e.g. calculate[(3 + 4^2) * sqrt(2) / 7]: numbers, "
          "+ - * / // % ^ (or **), parentheses, pi, e and sqrt, sin, cos, tan, asin, acos, atan, log(x) "
          "or log(x, base), ln, log10, log2, exp, factorial, comb, perm, gcd, lcm, abs, floor, ceil, round; "
          "use solve[...] for equations and symbols")

_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


class CalcError(ValueError):
    """An expression the calculator refuses or cannot evaluate; the message says why."""


def _check_int(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > _MAX_BITS:
        raise CalcError(f"result has more than {MAX_DIGITS} digits")
    return value


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise CalcError(f"{what} needs whole numbers, got {value!r}")
    return value


def _digits_of_factorial(n: int) -> float:
    return math.lgamma(n + 1) / math.log(10) if n > 1 else 1.0


def _factorial(n: Any) -> int:
    n = _as_int(n, "factorial")
    if n < 0:
        raise CalcError("factorial needs a non-negative whole number")
    if _digits_of_factorial(n) > MAX_DIGITS:
        raise CalcError(f"factorial({n}) has more than {MAX_DIGITS} digits")
    return math.factorial(n)


def _comb(n: Any, k: Any, *, perm: bool = False) -> int:
    n, k = _as_int(n, "comb"), _as_int(k, "comb")
    if n < 0 or k < 0:
        raise CalcError("comb and perm need non-negative whole numbers")
    if k <= n:
        digits = _digits_of_factorial(n) - _digits_of_factorial(n - k)
        if not perm:
            digits -= _digits_of_factorial(k)
        if digits > MAX_DIGITS:
            raise CalcError(f"{'perm' if perm else 'comb'}({n}, {k}) has more than {MAX_DIGITS} digits")
    return math.perm(n, k) if perm else math.comb(n, k)


def _log(x: Any, base: Any = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


def _round(x: Any, ndigits: Any = None) -> Any:
    return round(x) if ndigits is None else round(x, _as_int(ndigits, "round"))


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin,
    "acos": math.acos, "atan": math.atan, "log": _log, "ln": math.log, "log10": math.log10,
    "log2": math.log2, "exp": math.exp, "factorial": _factorial, "comb": _comb,
    "perm": lambda n, k: _comb(n, k, perm=True), "gcd": lambda *a: math.gcd(*(_as_int(x, "gcd") for x in a)),
    "lcm": lambda *a: math.lcm(*(_as_int(x, "lcm") for x in a)), "abs": abs, "floor": math.floor,
    "ceil": math.ceil, "round": _round, "degrees": math.degrees, "radians": math.radians,
}


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent * (abs(base).bit_length() - 1) > _MAX_BITS:
            raise CalcError(f"power has more than {MAX_DIGITS} digits")
    result = operator.pow(base, exponent)
    if isinstance(result, complex):
        raise CalcError("the result is a complex number (negative base with a fractional power)")
    return result


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: _power,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _check_int(_BINARY[type(node.op)](_eval(node.left), _eval(node.right)))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise CalcError(f"unknown name '{node.id}' (calculate works on numbers only)")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise CalcError(f"{node.func.id}() takes plain positional arguments")
        try:
            return _check_int(_FUNCTIONS[node.func.id](*(_eval(a) for a in node.args)))
        except TypeError as err:
            raise CalcError(f"{node.func.id}(): {err}") from None
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else "this call"
        raise CalcError(f"{name} is not an allowed function")
    raise CalcError(f"{type(node).__name__} is not allowed")


def evaluate(expression: str) -> int | float:
    """The value of ``expression``; raises :class:`CalcError` saying why it cannot be computed."""
    text = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/").replace("−", "-")
    if not text:
        raise CalcError("empty expression")
    if len(text) > MAX_CHARS:
        raise CalcError(f"expression is {len(text)} characters long; at most {MAX_CHARS} are accepted")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CalcError("not a valid expression (check parentheses and write * for multiplication)") from None
    try:
        value = _eval(tree.body)
    except (ZeroDivisionError, OverflowError, ValueError) as err:
        if isinstance(err, CalcError):
            raise
        raise CalcError(f"{type(err).__name__}: {err}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise CalcError("the result is not a finite number")
    return value


def _format(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    return format(value, ".15g")


async def calculate(argument: str) -> str:
    """Tool entry point: the value as text, or an observation explaining the syntax."""
    try:
        return _format(evaluate(argument))
    except CalcError as err:
        return f"calculate could not evaluate {argument.strip()[:80]!r}: {err}. {SYNTAX}"
