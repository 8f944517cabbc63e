"""LLMCompiler plans: the planner's numbered task lines, parsed while they stream, and their grammar.

A plan is one task per line, numbered from 1, ending with ``join()`` (``tool[argument]`` is
read as well as ``tool("argument")``)::

    Thought: Both rivers' lengths are needed.
    1. search("Danube")
    2. search("Rhine")
    3. lookup("length", $1)
    4. join()

``$k`` is the result of task ``k``: written inside the quoted argument it is replaced by
that result; written as a further argument (``lookup("length", $1)``) it only says that the
task waits for task ``k``. :class:`PlanStream` takes the text in arbitrary pieces and hands
each task over as soon as its line is complete, so the executor can start it while the
planner is still writing. Lines it cannot read are counted, not fatal; :func:`plan_regex`
gives the grammar that keeps a small model's plan readable in the first place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Step", "PlanStream", "parse_plan", "plan_regex", "JOINER_REGEX", "Verdict", "parse_verdict",
           "MAX_TASKS_LIMIT"]

MAX_TASKS_LIMIT = 8  # the grammar writes task numbers and references as single digits
_STEP = re.compile(r"^\s*(?:task\s*)?(\d{1,2})\s*[.):]\s*([A-Za-z_]\w*)\s*[(\[](.*)[)\]]\s*$", re.IGNORECASE)
_REF = re.compile(r"\$\{?(\d{1,2})\}?")
_TRAILING_REFS = re.compile(r"^(.*?)((?:\s*,\s*\$\{?\d{1,2}\}?)*)\s*$", re.DOTALL)
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "`": "`"}
_VERDICT = re.compile(r"\b(finish|replan)\s*\[([^\]\n]*)\]", re.IGNORECASE)
JOINER_REGEX = r"Thought: [^\n]{1,200}\n(Finish|Replan)\[[^\]\n]{1,100}\]"
_THOUGHT = r"Thought: [^\n]{1,200}\n"


@dataclass(frozen=True, slots=True)
class Step:
    """One planned tool call: ``argument`` may still hold ``$k`` references (``arg_refs``)."""

    idx: int
    tool: str  # lower case, as the agent calls it
    argument: str
    deps: tuple[int, ...]  # every task referenced, in the argument or after it
    arg_refs: tuple[int, ...]  # the references inside the argument, replaced by results
    line: str


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        return text[1:-1].strip()
    return text


def _refs(text: str) -> tuple[int, ...]:
    return tuple(dict.fromkeys(int(m) for m in _REF.findall(text)))


@dataclass
class PlanStream:
    """Incremental plan parser: ``feed`` text pieces, ``close`` at the end; ``on_step`` gets each task.

    A task is handed over once its line ends (newline) or at ``close``. The plan ends at
    ``join()`` or after ``max_tasks`` tasks; later text is ignored. A task number out of
    sequence is renumbered to the next number (the order of lines is what counts). Inside an
    argument only ``$k`` of an earlier task is a reference; after it (``, $k``) any is, and a
    wrong one becomes the task's error observation.
    """

    max_tasks: int
    on_step: Callable[[Step], None] | None = None
    refs: bool = True  # read $k references (False: a $ is text, as in WebShop's "under $30")
    steps: list[Step] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    joined: bool = False
    truncated: bool = False
    _buffer: str = ""
    _text: list[str] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.joined or self.truncated

    @property
    def text(self) -> str:
        """Everything fed so far."""
        return "".join(self._text)

    def feed(self, piece: str) -> None:
        self._text.append(piece)
        self._buffer += piece
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._line(line)

    def close(self) -> None:
        line, self._buffer = self._buffer, ""
        if line.strip():
            self._line(line)

    def _line(self, line: str) -> None:
        stripped = line.strip()
        if self.ended or not stripped or stripped.lower().startswith(("thought", "plan:", "question")):
            return
        m = _STEP.match(stripped)
        if m is None:
            self.malformed.append(stripped)
            return
        tool, args = m.group(2).lower(), m.group(3)
        if tool in ("join", "finish"):
            self.joined = True
            return
        if len(self.steps) >= self.max_tasks:
            self.truncated = True
            return
        idx = len(self.steps) + 1
        head = _TRAILING_REFS.match(args) if self.refs else None
        argument = _unquote(head.group(1) if head else args)
        inside = tuple(r for r in _refs(argument) if r < idx) if self.refs else ()  # "$100 bill" is text
        after = _refs(head.group(2)) if head else ()
        step = Step(idx=idx, tool=tool, argument=argument, deps=tuple(dict.fromkeys(inside + after)),
                    arg_refs=inside, line=stripped)
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)


def parse_plan(text: str, max_tasks: int, *, refs: bool = True) -> PlanStream:
    """A whole plan text parsed at once (what the stream gives for the same text)."""
    stream = PlanStream(max_tasks, refs=refs)
    stream.feed(text)
    stream.close()
    return stream


def _call(tools: Sequence[str], i: int, refs: bool) -> str:
    names = "|".join(re.escape(t) for t in tools)
    if not refs:
        return f"({names})\\[[^\\]\\n]{{1,80}}\\]"
    dep = "" if i == 1 else "(, \\$1)?" if i == 2 else f"(, \\$[1-{i - 1}])?"
    return f'({names})\\("[^"\\n]{{1,80}}"{dep}\\)'


def plan_regex(tools: Sequence[str], max_tasks: int, *, refs: bool = True) -> str:
    """The grammar of a plan: a thought, then 1..``max_tasks`` numbered calls, then ``join()``.

    With ``refs`` a call is ``tool("argument")`` and may name one earlier task as a dependency
    (``, $k`` with ``k`` below its own number); without, it is ``tool[argument]`` (arguments
    that hold quotes, such as WebShop's ``28" x 28"``, and no references).
    """
    if not 1 <= max_tasks <= MAX_TASKS_LIMIT:
        raise ValueError(f"max_tasks must be 1..{MAX_TASKS_LIMIT}, not {max_tasks}")
    body = f"{max_tasks + 1}\\. join\\(\\)"
    for i in range(max_tasks, 0, -1):
        step = f"{i}\\. {_call(tools, i, refs)}\\n"
        body = step + body if i == max_tasks else f"{step}({body}|{i + 1}\\. join\\(\\))"
    return _THOUGHT + body


@dataclass(frozen=True, slots=True)
class Verdict:
    """The joiner's decision: ``finish`` with an answer, or ``replan`` with a reason; ``ok`` False if unreadable."""

    action: str  # "finish" or "replan"
    text: str
    ok: bool = True


def parse_verdict(text: str) -> Verdict:
    """``Finish[answer]`` or ``Replan[reason]`` (the first one written); unreadable output asks for a replan."""
    m = _VERDICT.search(text)
    if m is None:
        return Verdict("replan", "the joiner wrote neither Finish[answer] nor Replan[reason]", ok=False)
    return Verdict(m.group(1).lower(), m.group(2).strip())
