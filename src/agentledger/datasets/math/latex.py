"""Final answers in LaTeX: find them (``\\boxed{...}``) and normalize them the MATH way.

:func:`last_boxed` returns the content of the last ``\\boxed{...}`` or ``\\fbox{...}`` in a
text (nested braces handled, as is the brace-less ``\\boxed 5`` form). :func:`extract_answer`
adds the fallbacks an agent's answer needs: "The answer is X", then the whole text.

:func:`strip_string` is the normalization of the MATH paper's evaluation (Hendrycks et al.,
``is_equiv``/``strip_string``), written anew with the same steps: drop line breaks, ``\\!``,
``\\left``/``\\right``, degree marks, dollar and percent signs, units after ``\\text{ ``;
``dfrac``/``tfrac`` become ``frac``; ``\\frac12`` becomes ``\\frac{1}{2}`` and ``\\sqrt3``
becomes ``\\sqrt{3}``; ``.5`` becomes ``0.5`` and ``0.5`` becomes ``\\frac{1}{2}``; a short
left-hand side such as ``k = `` is dropped; spaces are removed; ``a/b`` of two integers becomes
``\\frac{a}{b}``. A few steps are added that later MATH harnesses also take: ``\\text{...}``
wrappers are unwrapped, thin spaces (``\\,``) and ``\\displaystyle`` are dropped, a trailing
period is removed and ``10{,}000`` / ``10,000`` become ``10000``.
"""

from __future__ import annotations

import re

__all__ = ["last_boxed", "extract_answer", "strip_string", "unwrap_math"]

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_ANSWER_IS = re.compile(r"answer\s+is\s*:?\s*(.+)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z])")
_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mbox|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_INT = re.compile(r"-?\d+")


def _group_end(text: str, open_at: int) -> int | None:
    """Index of the ``}`` that closes the ``{`` at ``open_at`` (None if it never closes)."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``/``\\fbox{...}`` in ``text`` (None if there is none)."""
    start, command = max((text.rfind(c), c) for c in _BOX_COMMANDS)
    if start < 0:
        return None
    rest = start + len(command)
    if text.startswith(" ", rest):  # "\boxed 5": up to the next space or dollar
        tail = text[rest + 1 :].lstrip()
        return re.split(r"[\s$]", tail, maxsplit=1)[0] or None
    open_at = text.find("{", rest)
    if open_at < 0 or text[rest:open_at].strip():
        return None
    end = _group_end(text, open_at)
    return None if end is None else text[open_at + 1 : end]


def unwrap_math(text: str) -> str:
    """Strip surrounding ``$...$``, ``\\(...\\)``, ``\\[...\\]`` and whitespace from an answer."""
    text = text.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            text = text[len(left) : len(text) - len(right)].strip()
    return text


def _trim_period(text: str) -> str:
    text = text.strip()
    return text[:-1].rstrip() if text.endswith(".") and not text.endswith("\\.") else text


def extract_answer(text: str) -> str:
    """The final answer in an agent's output: last box, else "The answer is X", else the whole text."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    found = _ANSWER_IS.findall(text)
    if found:  # "The answer is 5. Next, ..." -> "5"
        return unwrap_math(_trim_period(_SENTENCE_END.split(found[-1], maxsplit=1)[0]))
    return unwrap_math(_trim_period(text))


def _fix_sqrt(text: str) -> str:
    r"""``\sqrt3`` -> ``\sqrt{3}`` (one character after a brace-less ``\sqrt``)."""
    return re.sub(r"\\sqrt\s*([^\s\\{\[])", r"\\sqrt{\1}", text)


def _fix_fracs(text: str) -> str:
    r"""``\frac12`` -> ``\frac{1}{2}``, ``\frac1{72}`` -> ``\frac{1}{72}``, ``\fracab`` -> ``\frac{a}{b}``."""
    pieces = text.split("\\frac")
    out = pieces[0]
    for piece in pieces[1:]:
        out += "\\frac"
        if piece.startswith("{") or len(piece) < 2:
            out += piece
            continue
        first, second, rest = piece[0], piece[1], piece[2:]
        out += "{" + first + "}" + (second + rest if second == "{" else "{" + second + "}" + rest)
    return out


def _fix_a_slash_b(text: str) -> str:
    """``3/4`` (two integers, nothing else) -> ``\\frac{3}{4}``."""
    parts = text.split("/")
    if len(parts) == 2 and all(_INT.fullmatch(p) for p in parts) and str(int(parts[0])) == parts[0]:
        return "\\frac{" + str(int(parts[0])) + "}{" + str(int(parts[1])) + "}"
    return text


def strip_string(text: str) -> str:
    """Normalize a LaTeX answer as the MATH evaluation does, so equal answers compare equal."""
    s = text.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac").replace("\\displaystyle", "")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\circ", "")
    s = s.replace("\\$", "").replace("$", "")
    if "\\text{ " in s:  # "\text{ " only ever introduces units on the right
        head = s.split("\\text{ ")[0]
        s = head if head.strip() else s
    s = _TEXT_WRAPPERS.sub(r"\1", s)
    s = s.replace("\\%", "").replace("%", "")
    for thin in ("\\,", "\\;", "\\:", "\\ "):
        s = s.replace(thin, " ")
    s = s.replace("{,}", ",").strip()
    while s.endswith(".") and not s.endswith("\\."):
        s = s[:-1].rstrip()
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0].strip()) <= 2:
        s = sides[1]
    s = _fix_sqrt(s)
    s = s.replace(" ", "")
    s = _fix_fracs(s)
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if s == "0.5":
        s = "\\frac{1}{2}"
    return _fix_a_slash_b(s)
