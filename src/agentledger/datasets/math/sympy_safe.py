"""Reading untrusted math text into sympy without running arbitrary code.

``sympy.parse_expr`` ends in ``eval``, so text from an agent is checked first: only digits,
letters, ``_``, whitespace and ``+ - * / ^ ( ) , . !`` may appear; no ``__``, no Python keyword,
no attribute access (a dot before a letter), at most :data:`MAX_CHARS` characters. The
``eval`` then runs with ``__builtins__`` emptied and a namespace that holds only a whitelist of
sympy names, so a name that is not math becomes a plain ``Symbol``.

:func:`latex_to_text` turns the small LaTeX of final answers (``\\frac``, ``\\sqrt``, ``^{}``,
``\\cdot``, ``\\pi``, trig and log names, ``\\infty``) into that input syntax; anything else
(sets, matrices, ``\\pm``, ...) gives None so that the caller falls back to comparing strings.
sympy's own LaTeX parser needs the ``antlr4`` runtime, which is not a dependency.
"""

from __future__ import annotations

import keyword
import re
from typing import Any

__all__ = ["MAX_CHARS", "UnsafeInput", "parse_math", "latex_to_text"]

MAX_CHARS = 400

_ALLOWED = re.compile(r"[A-Za-z0-9_+\-*/^().,! \t]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FUNCTIONS = (
    "sqrt root cbrt sin cos tan cot sec csc asin acos atan atan2 sinh cosh tanh exp log factorial "
    "binomial gcd lcm floor ceiling Abs Max Min re im arg conjugate Rational Integer Float Symbol "
    "Function pi E I oo zoo nan diff integrate limit summation Sum product expand factor simplify"
).split()
_GLUED_CALL = re.compile(
    r"\b(sinh|cosh|tanh|asin|acos|atan|arcsin|arccos|arctan|sin|cos|tan|cot|sec|csc|sqrt|log|ln|exp)(?=[A-Za-z0-9])")
_ALIASES = {"ln": "log", "abs": "Abs", "ceil": "ceiling", "max": "Max", "min": "Min", "arcsin": "asin",
            "arccos": "acos", "arctan": "atan", "choose": "binomial", "infinity": "oo", "inf": "oo"}


class UnsafeInput(ValueError):
    """Text that is not plain math; the message says what is not allowed."""


def _namespace(constants: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    import sympy  # type: ignore[import-untyped]

    globals_: dict[str, Any] = {name: getattr(sympy, name) for name in _FUNCTIONS}
    globals_.update({alias: getattr(sympy, target) for alias, target in _ALIASES.items()})
    globals_["__builtins__"] = {}
    locals_: dict[str, Any] = {name: getattr(sympy, target) for name, target in constants.items()}
    return globals_, locals_


def _check(text: str) -> None:
    if len(text) > MAX_CHARS:
        raise UnsafeInput(f"input is {len(text)} characters long; at most {MAX_CHARS} are accepted")
    if not _ALLOWED.fullmatch(text):
        bad = sorted({c for c in text if not _ALLOWED.fullmatch(c)})
        raise UnsafeInput(f"character(s) {' '.join(bad)} not allowed; use numbers, letters, + - * / ^ ( ) ,")
    if "__" in text or re.search(r"\.\s*[A-Za-z_]", text):
        raise UnsafeInput("attribute access and double underscores are not allowed")
    for name in _NAME.findall(text):
        if keyword.iskeyword(name):
            raise UnsafeInput(f"'{name}' is a Python keyword, not math")


def parse_math(text: str, *, constants: dict[str, str] | None = None) -> Any:
    """A sympy expression for ``text`` (``2x^2 + 3x``, ``sin x``, ``sqrt(8)/2``); raises on bad input.

    ``constants`` maps names to sympy attributes (e.g. ``{"e": "E", "i": "I"}``). Raises
    :class:`UnsafeInput` for text that is not allowed and ``SyntaxError``/``TypeError``/
    ``ValueError`` (sympy's) for text that does not parse.
    """
    from sympy.parsing.sympy_parser import (  # type: ignore[import-untyped]
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    _check(text)
    text = _GLUED_CALL.sub(r"\1 ", text)  # "sinx" -> "sin x" (else it splits into s*i*n*x)
    globals_, locals_ = _namespace(constants or {})
    transformations = standard_transformations + (implicit_multiplication_application, convert_xor)
    return parse_expr(text, local_dict=locals_, global_dict=globals_, transformations=transformations)


# --------------------------------------------------------------------------- LaTeX -> input syntax

_COMMANDS = {
    "cdot": "*", "times": "*", "div": "/", "pi": "pi", "infty": "oo", "ln": "log", "log": "log",
    "exp": "exp", "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "alpha": "alpha", "beta": "beta", "gamma": "gamma", "theta": "theta", "phi": "phi", "lambda": "lamda",
    "mu": "mu", "sigma": "sigma", "omega": "omega", "tau": "tau", "quad": " ", "cdots": None, "pm": None,
}
_COMMAND = re.compile(r"\\([A-Za-z]+)")


_POWERED = frozenset({"sin", "cos", "tan", "cot", "sec", "csc", "sinh", "cosh", "tanh", "ln", "log"})


def _matching_paren(s: str, i: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``s[i]``."""
    depth = 0
    for j in range(i, len(s)):
        depth += {"(": 1, ")": -1}.get(s[j], 0)
        if depth == 0:
            return j
    raise ValueError("unbalanced parentheses")


def _group(s: str, i: int) -> tuple[str, int]:
    """The argument starting at ``s[i]``: a ``{...}`` group, a command, or one character."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        raise ValueError("missing argument")
    if s[i] == "{":
        depth = 0
        for j in range(i, len(s)):
            depth += {"{": 1, "}": -1}.get(s[j], 0)
            if depth == 0:
                return s[i + 1 : j], j + 1
        raise ValueError("unbalanced braces")
    command = _COMMAND.match(s, i)
    if command:
        return command.group(0), command.end()
    return s[i], i + 1


def _convert(s: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        if s.startswith("\\frac", i) or s.startswith("\\binom", i):
            binom = s.startswith("\\binom", i)
            top, i = _group(s, i + (6 if binom else 5))
            bottom, i = _group(s, i)
            out.append(f"binomial({_convert(top)},{_convert(bottom)})" if binom
                       else f"(({_convert(top)})/({_convert(bottom)}))")
        elif s.startswith("\\sqrt", i):
            i += 5
            index = None
            if i < len(s) and s[i] == "[":
                close = s.index("]", i)
                index, i = s[i + 1 : close], close + 1
            body, i = _group(s, i)
            out.append(f"root({_convert(body)},{_convert(index)})" if index else f"sqrt({_convert(body)})")
        elif s[i] == "^":
            power, i = _group(s, i + 1)
            out.append(f"^({_convert(power)})")
        elif s[i] == "\\":
            command = _COMMAND.match(s, i)
            name = command.group(1) if command else s[i + 1 : i + 2]
            target = _COMMANDS.get(name)
            if target is None:
                raise ValueError(f"unsupported LaTeX \\{name}")
            i = command.end() if command else i + 2
            if name in _POWERED and s.startswith("^", i):  # \sin^2(x), \sin^2 x -> (sin(x))^(2)
                power, i = _group(s, i + 1)
                if s.startswith("(", i):
                    close = _matching_paren(s, i)
                    argument, i = s[i + 1 : close], close + 1
                else:
                    argument, i = _group(s, i)
                out.append(f"({target}({_convert(argument)}))^({_convert(power)})")
                continue
            out.append(f" {target} " if target.isalpha() else target)
        elif s[i] in "{}":
            out.append("(" if s[i] == "{" else ")")
            i += 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def latex_to_text(latex: str) -> str | None:
    """``\\frac{\\sqrt{3}}{2}`` -> ``((sqrt(3))/(2))``; None for LaTeX outside the small subset."""
    try:
        text = _convert(latex)
    except (ValueError, IndexError):
        return None
    return " ".join(text.split()) or None
