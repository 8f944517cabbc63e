"""The action syntax of each benchmark: what a step looks like, how it is parsed, when it ends a task.

A ReAct-style step is two lines, ``Thought: ...`` then ``Action: Name[argument]``:

* ``hotpotqa``: ``Search[entity]``, ``Lookup[keyword]``, ``Finish[answer]``;
* ``webshop``: ``search[keywords]``, ``click[element]``; there is no finish action, the task
  ends when ``click[Buy Now]`` buys something (the env's ``done`` becomes true);
* ``math``: ``Calculate[expression]``, ``Solve[query]``, ``Finish[answer]`` (the answer plain or
  as ``\\boxed{...}``; a finish argument may hold ``]``, as in an interval ``(0, 1]``);
* ``humaneval``: ``Test`` or ``Finish`` followed by a fenced Python block (the function, plus
  ``assert`` lines for ``Test``); ``Finish[code]`` is accepted too, and so is a bare code block
  with no action line (read as the final answer).

:data:`STEP_REGEX` is one step as a regular expression for constrained decoding, with the
thought's length bounded so that a small model cannot ramble on the thought line. Action names
are matched case-insensitively by :func:`parse_action`, which returns the tool name the env
uses (lower case) or ``"finish"``, or a :class:`ParseFailure` whose message is the observation
the model should see. :data:`COT_REGEX` and :func:`cot_answer` do the same for a one-call
chain-of-thought answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..datasets.humaneval.tools import strip_fences
from ..datasets.math.latex import last_boxed

__all__ = ["DATASETS", "FINISH", "STEP_STOP", "STEP_REGEX", "COT_REGEX", "SYNTAX", "Action", "ParseFailure",
           "parse_action", "parse_step", "split_thought", "cot_answer", "episode_done", "purchased"]

DATASETS = ("hotpotqa", "webshop", "math", "humaneval")
FINISH = "finish"
STEP_STOP = ["\nObservation"]  # a step ends before the model invents its own observation

_THOUGHT = r"Thought: [^\n]{1,200}\n"
_CODE = r"\n```python\n[^`]+\n```"
STEP_REGEX: Mapping[str, str] = MappingProxyType({
    "hotpotqa": _THOUGHT + r"Action: (Search|Lookup|Finish)\[[^\]\n]{1,100}\]",
    "webshop": _THOUGHT + r"Action: (search|click)\[[^\]\n]{1,100}\]",
    "math": _THOUGHT + r"Action: ((Calculate|Solve)\[[^\]\n]{1,150}\]|Finish\[[^\n]{1,80}\])",
    "humaneval": _THOUGHT + r"Action: (Test|Finish)" + _CODE,
})
COT_REGEX: Mapping[str, str] = MappingProxyType({
    "hotpotqa": r"Thought: [^\n]{1,400}\nAnswer: [^\n]{1,100}",
    "math": r"Solution: [^\n]{1,500}\nAnswer: \\boxed\{[^\n]{1,80}\}",
    "humaneval": r"```python\n[^`]+\n```",
})

# alias (lower case, no spaces or underscores) -> tool name in the env, or FINISH
_ALIASES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "hotpotqa": MappingProxyType({"search": "search", "lookup": "lookup", "finish": FINISH}),
    "webshop": MappingProxyType({"search": "search", "click": "click"}),
    "math": MappingProxyType({"calculate": "calculate", "calc": "calculate", "calculator": "calculate",
                              "solve": "solve", "finish": FINISH}),
    "humaneval": MappingProxyType({"test": "run_tests", "runtests": "run_tests", "run": "run_tests",
                                   "finish": FINISH}),
})
SYNTAX: Mapping[str, str] = MappingProxyType({
    "hotpotqa": ("write a line 'Thought: <one sentence>' then one line 'Action: Search[entity]', "
                 "'Action: Lookup[keyword]' or 'Action: Finish[answer]'"),
    "webshop": ("write a line 'Thought: <one sentence>' then one line 'Action: search[keywords]' or "
                "'Action: click[element shown on the page]'"),
    "math": ("write a line 'Thought: <one sentence>' then one line 'Action: Calculate[expression]', "
             "'Action: Solve[equation]' or 'Action: Finish[answer]'"),
    "humaneval": ("write a line 'Thought: <one sentence>', then 'Action: Test' or 'Action: Finish', then the "
                  "complete function in a ```python block (for Test, followed by assert lines)"),
})

_ACTION_LINE = re.compile(r"^[ \t*]*Action[ \t]*\d*[ \t*]*:[ \t*]*(.*)$", re.IGNORECASE | re.MULTILINE)
_THOUGHT_PREFIX = re.compile(r"^[\s*]*Thought\s*\d*[\s*]*:[\s*]*", re.IGNORECASE)
_CALL = re.compile(r"^\s*([A-Za-z][A-Za-z_ ]*?)\s*\[(.*)$", re.DOTALL)
_NAME_ONLY = re.compile(r"^\s*([A-Za-z][A-Za-z_ ]*?)\s*:?\s*$")
_FENCE_OPEN = re.compile(r"```")


@dataclass(frozen=True, slots=True)
class Action:
    """A parsed action: ``name`` is the env's tool name (lower case) or ``"finish"``."""

    name: str
    argument: str

    @property
    def is_finish(self) -> bool:
        return self.name == FINISH

    def render(self, dataset: str) -> str:
        """The action as the prompts write it (``Search[Paris]``; a code block for HumanEval)."""
        shown = {"run_tests": "Test"}.get(self.name, self.name)
        shown = shown if dataset == "webshop" else shown.capitalize()
        if dataset == "humaneval":
            return f"{shown}\n```python\n{self.argument.strip(chr(10))}\n```"
        return f"{shown}[{self.argument}]"


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """An output that is not a valid action; ``message`` is the observation to show the model."""

    message: str


def _check(dataset: str) -> None:
    if dataset not in _ALIASES:
        raise ValueError(f"no action syntax for dataset {dataset!r}; known: {', '.join(DATASETS)}")


def _lookup(dataset: str, raw_name: str) -> str | None:
    return _ALIASES[dataset].get(re.sub(r"[\s_]+", "", raw_name.lower()))


def _names(dataset: str) -> str:
    return ", ".join(sorted({v for v in _ALIASES[dataset].values()}))


def _fail(dataset: str, what: str) -> ParseFailure:
    return ParseFailure(f"Invalid action: {what}. Please {SYNTAX[dataset]}.")


def _bracket_argument(rest: str, dataset: str) -> str:
    """The text after ``[``: up to the last ``]`` (of the line, except for code), else all of it."""
    if dataset != "humaneval":
        rest = rest.split("\n", 1)[0]
    end = rest.rfind("]")
    return (rest[:end] if end >= 0 else rest).strip()


def _parse_code_action(name: str, after: str) -> Action | ParseFailure:
    body = after.strip()
    if body.startswith("["):
        body = _bracket_argument(body[1:], "humaneval")
    code = strip_fences(body).strip("\n")
    if not code.strip():
        return _fail("humaneval", f"'{name}' needs Python code after it")
    return Action(name, code)


def parse_action(text: str, dataset: str) -> Action | ParseFailure:
    """The action in one model output (case-insensitive names), or why there is none.

    Finds the first ``Action:`` line (``Action 3:`` too); without one, a bare ``Name[...]`` of a
    known action anywhere in the text, and for HumanEval a code block (read as ``finish``).
    """
    _check(dataset)
    match = _ACTION_LINE.search(text)
    if match is None:
        known = "|".join(re.escape(a) for a in _ALIASES[dataset])
        bare = re.search(rf"\b({known})\s*\[", text, re.IGNORECASE)
        if bare is not None and dataset != "humaneval":
            match_text = text[bare.start():]
        elif dataset == "humaneval" and _FENCE_OPEN.search(text):
            return _parse_code_action(FINISH, text)
        else:
            return _fail(dataset, "no 'Action:' line was found")
    else:
        match_text = text[match.start(1):]
    if dataset == "humaneval":
        head = re.match(r"\s*([A-Za-z][A-Za-z_ ]*?)\s*(?=\[|\n|```|$)", match_text)
        if head is None or _lookup(dataset, head.group(1)) is None:
            shown = match_text.split("\n", 1)[0].strip()[:60]
            return _fail(dataset, f"unknown action '{shown}' (actions: Test, Finish)")
        return _parse_code_action(_lookup(dataset, head.group(1)) or FINISH, match_text[head.end():])
    call = _CALL.match(match_text)
    if call is None:
        first = match_text.split("\n", 1)[0].strip()
        only = _NAME_ONLY.match(first)
        if only is not None and _lookup(dataset, only.group(1)) is not None:
            return _fail(dataset, f"'{only.group(1)}' needs its argument in square brackets")
        return _fail(dataset, f"'{first[:60]}' is not of the form Name[argument]")
    name = _lookup(dataset, call.group(1))
    if name is None:
        return _fail(dataset, f"unknown action '{call.group(1).strip()}' (actions: {_names(dataset)})")
    argument = _bracket_argument(call.group(2), dataset)
    if not argument:
        return _fail(dataset, f"'{call.group(1).strip()}[]' has an empty argument")
    return Action(name, argument)


def split_thought(text: str) -> str:
    """The thought of a step: the text before its ``Action:`` line, without the ``Thought:`` label."""
    match = _ACTION_LINE.search(text)
    head = text[:match.start()] if match is not None else text
    return _THOUGHT_PREFIX.sub("", head.strip(), count=1).strip()


def parse_step(text: str, dataset: str) -> tuple[str, Action | ParseFailure]:
    """``(thought, action or failure)`` of one step's output."""
    return split_thought(text), parse_action(text, dataset)


def cot_answer(text: str, dataset: str) -> str:
    """The final answer of a one-call chain of thought (empty when the output holds none).

    HotpotQA: the last ``Answer:`` line; MATH: the last ``\\boxed{}`` (else the last ``Answer:``
    line); HumanEval: the code (the fenced block, or the whole text).
    """
    if dataset == "humaneval":
        return strip_fences(text).strip("\n")
    if dataset == "math":
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed.strip()
    found = re.findall(r"^\s*(?:Final\s+)?Answer\s*:\s*(.*)$", text, re.IGNORECASE | re.MULTILINE)
    if found and found[-1].strip():
        return found[-1].strip()
    if dataset == "hotpotqa":
        return ""
    return text.strip().splitlines()[-1].strip() if text.strip() else ""


def episode_done(env: Any) -> bool:
    """Whether the env ended the episode by itself (a WebShop purchase)."""
    return bool(getattr(env, "done", False))


def purchased(env: Any) -> str:
    """The final answer of an env-ended episode: the product bought (empty if none)."""
    purchase = getattr(env, "purchase", None)
    return str(purchase.get("asin", "")) if isinstance(purchase, dict) else ""
