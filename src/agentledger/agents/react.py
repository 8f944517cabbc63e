"""ReAct (Yao et al., 2023): interleave a thought and an action, read the tool's observation, repeat.

The pieces here are shared by the agents built on ReAct steps (Reflexion, LATS):

* :class:`Step` and :class:`Trajectory`: what was thought, done and observed, with the event ids
  of the LLM call and the tool call; ``Trajectory.to_segments()`` replays it as chat history
  (each step an assistant turn in ``llm_history``, each observation a user turn in ``tool_history``).
* :func:`base_segments`: instruction (system), few-shot examples, the task (and, for Reflexion,
  the reflections kept as memory).
* :func:`take_action`: parse one model output and run its tool (or finish); a malformed output
  becomes an observation telling the model the syntax, never an exception.
* :func:`react_step`: one LLM call (``stop`` at ``Observation``, the step regex as constraint)
  plus :func:`take_action`; :func:`run_trajectory` loops it within a step budget.

Parents: a tool call's parent is the LLM call that chose it; an LLM call's parent is the event
that caused it (the previous observation's tool call, else the previous LLM call, else the
request). ``iteration`` is the 0-based index of the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..datasets.base import Task
from ..errors import UsageError
from .actions import STEP_REGEX, STEP_STOP, Action, ParseFailure, episode_done, parse_step, purchased
from .base import Agent, AgentContext, Episode, Knobs
from .fewshot import DEFAULT_SHOTS, few_shot_text, instruction, user_text
from .prompt import Segment

__all__ = ["STEP_MAX_TOKENS", "Step", "Trajectory", "base_segments", "clip_step", "take_action", "react_step",
           "run_trajectory", "resolved", "episode_notes", "check_positive", "ReActKnobs", "ReAct"]

STEP_MAX_TOKENS = MappingProxyType({"hotpotqa": 128, "webshop": 128, "math": 160, "humaneval": 384})
_MAX_BAD_CHARS = 400  # a malformed output is replayed to the model only up to this length


@dataclass(slots=True)
class Step:
    """One Thought/Action/Observation. ``action`` is None when the output did not parse
    (``observation`` then says why); ``answer`` is set when the step ended the task;
    ``error`` when the LLM call itself failed (no output)."""

    thought: str
    action: Action | None
    observation: str
    llm_event_id: int | None = None
    tool_event_id: int | None = None
    text: str = ""  # the step as replayed to the model
    answer: str | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.answer is not None

    @property
    def last_event_id(self) -> int | None:
        """The event a following call descends from."""
        return self.tool_event_id if self.tool_event_id is not None else self.llm_event_id


@dataclass(slots=True)
class Trajectory:
    """The steps of one attempt on a task, in order."""

    dataset: str
    steps: list[Step] = field(default_factory=list)
    max_observation_chars: int | None = 2000  # longer observations are cut in prompts (not in the trace)

    @property
    def answer(self) -> str | None:
        return self.steps[-1].answer if self.steps else None

    @property
    def finished(self) -> bool:
        return bool(self.steps) and self.steps[-1].finished

    def _observation(self, step: Step) -> str:
        obs, cap = step.observation.strip(), self.max_observation_chars
        return obs if cap is None or len(obs) <= cap else obs[:cap] + " ..."

    def to_segments(self, *, transcript: bool = False) -> list[Segment]:
        """The steps as history: assistant turns and ``Observation:`` user turns, or (``transcript``)
        one user-role text, for prompts that show the attempt to another call (a reflection)."""
        out: list[Segment] = []
        llm_role = "user" if transcript else "assistant"
        for step in self.steps:
            if step.error is not None:
                continue
            out.append(Segment("llm_history", step.text + ("\n" if transcript else ""), role=llm_role))
            if not step.finished or step.observation:
                obs = f"Observation: {self._observation(step)}" if step.observation else "Observation:"
                out.append(Segment("tool_history", obs + ("\n" if transcript else ""), role="user"))
        return out

    def to_text(self) -> str:
        """The attempt as plain text (Thought/Action/Observation lines)."""
        return "".join(s.text for s in self.to_segments(transcript=True))


def base_segments(task: Task, dataset: str, *, agent: str = "react", shots: int | None = None,
                  memory: Sequence[str] = ()) -> list[Segment]:
    """Instruction (system), our few-shot examples, the task, then any reflections as memory."""
    k = DEFAULT_SHOTS[("react", dataset)] if shots is None else shots
    segs = [Segment("instruction", instruction(dataset, agent), role="system")]
    text = few_shot_text(dataset, k, style="react")
    if text:
        segs.append(Segment("few_shot", text, role="user"))
    segs.append(Segment("user", user_text(task, dataset), role="user"))
    if memory:
        notes = "".join(f"\n- {m}" for m in memory)
        segs.append(Segment("llm_history", f"\n\nReflections on your earlier attempts:{notes}", role="user"))
    return segs


def clip_step(text: str, dataset: str) -> str:
    """The output up to the end of its action (a model may run on past it when unconstrained)."""
    text = text.strip()
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.lstrip(" *").lower().startswith("action"):
            if dataset != "humaneval":
                return "\n".join(lines[: i + 1])
            fences = [j for j in range(i, len(lines)) if lines[j].strip().startswith("```")]
            if len(fences) >= 2:
                return "\n".join(lines[: fences[1] + 1])
            return text
    return text if len(text) <= _MAX_BAD_CHARS else text[:_MAX_BAD_CHARS] + " ..."


async def take_action(ctx: AgentContext, text: str, *, llm_event_id: int | None, iteration: int) -> Step:
    """Parse one output and act on it: a tool call (parent: ``llm_event_id``), a finish, or a
    parse-failure observation. On WebShop a purchase ends the task (the answer is the product)."""
    thought, parsed = parse_step(text, ctx.dataset)
    clipped = clip_step(text, ctx.dataset) or "(empty output)"
    if isinstance(parsed, ParseFailure):
        return Step(thought, None, parsed.message, llm_event_id, None, clipped)
    if parsed.is_finish:
        return Step(thought, parsed, "", llm_event_id, None, clipped, answer=parsed.argument)
    obs = await ctx.tool(parsed.name, parsed.argument, parent=llm_event_id, iteration=iteration)
    answer = (purchased(ctx.env) or parsed.argument) if episode_done(ctx.env) else None
    return Step(thought, parsed, obs.output, llm_event_id, obs.event_id, clipped, answer=answer)


async def react_step(ctx: AgentContext, base: Sequence[Segment], trajectory: Trajectory, *, iteration: int,
                     parent: int | None, role: str = "actor", temperature: float = 0.0,
                     max_tokens: int | None = None) -> Step:
    """One step: the LLM call on ``base`` + the trajectory so far, then :func:`take_action`."""
    gen = await ctx.llm([*base, *trajectory.to_segments()], role=role, iteration=iteration, parent=parent,
                        temperature=temperature, max_tokens=max_tokens or STEP_MAX_TOKENS[ctx.dataset],
                        stop=list(STEP_STOP), regex=STEP_REGEX[ctx.dataset])
    if not gen.ok:
        return Step("", None, "", gen.event_id, None, error=gen.error or "the LLM call failed")
    return await take_action(ctx, gen.text, llm_event_id=gen.event_id, iteration=iteration)


async def run_trajectory(ctx: AgentContext, base: Sequence[Segment], trajectory: Trajectory, *, max_steps: int,
                         first_iteration: int = 0, parent: int | None = None, temperature: float = 0.0,
                         max_tokens: int | None = None) -> str:
    """Take steps until one finishes, an LLM call fails or ``max_steps`` are taken.

    Returns the outcome: ``"finished"``, ``"error"`` or ``"budget"``; the steps are appended to
    ``trajectory``. The first call's parent is ``parent`` (default: the request).
    """
    cause = ctx.request_event_id if parent is None else parent
    for i in range(max_steps):
        step = await react_step(ctx, base, trajectory, iteration=first_iteration + i, parent=cause,
                                temperature=temperature, max_tokens=max_tokens)
        trajectory.steps.append(step)
        if step.error is not None:
            return "error"
        if step.finished:
            return "finished"
        cause = step.last_event_id
    return "budget"


@dataclass(frozen=True, slots=True)
class ReActKnobs(Knobs):
    """ReAct's settings; None means the benchmark's default."""

    max_iterations: int = 15
    few_shot: int | None = None  # hotpotqa 6, webshop 2, math 4, humaneval 2
    max_tokens: int | None = None  # per step; hotpotqa/webshop 128, math 160, humaneval 384
    temperature: float = 0.0
    max_observation_chars: int | None = 2000

    def __post_init__(self) -> None:
        check_positive(self, "max_iterations", "max_tokens", "max_observation_chars")


def check_positive(knobs: Any, *names: str) -> None:
    """A ``UsageError`` for a knob among ``names`` set below 1 (None is allowed: the default)."""
    for name in names:
        value = getattr(knobs, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise UsageError(f"{type(knobs).__name__}.{name} must be a whole number of at least 1, not {value!r}")


def resolved(knobs: Any, dataset: str) -> dict[str, Any]:
    """The knobs with the benchmark defaults filled in (what the trace records)."""
    values = knobs.to_dict()
    if "few_shot" in values and values["few_shot"] is None:
        values["few_shot"] = DEFAULT_SHOTS[("react", dataset)]
    if "max_tokens" in values and values["max_tokens"] is None:
        values["max_tokens"] = STEP_MAX_TOKENS[dataset]
    return values


def episode_notes(trajectory: Trajectory) -> dict[str, Any]:
    """Counts for ``Episode.notes``: steps, tool calls, malformed outputs."""
    return {"steps": len(trajectory.steps),
            "tool_calls": sum(s.tool_event_id is not None for s in trajectory.steps),
            "malformed": sum(s.action is None and s.error is None for s in trajectory.steps)}


class ReAct(Agent):
    """Thought/Action/Observation loop up to ``max_iterations`` steps."""

    name = "react"
    datasets = ("hotpotqa", "webshop", "math", "humaneval")
    knobs_type = ReActKnobs

    def settings(self, dataset: str) -> dict[str, Any]:
        return resolved(self.knobs, dataset)

    async def run(self, ctx: AgentContext) -> Episode:
        k = self.settings(ctx.dataset)
        base = base_segments(ctx.task, ctx.dataset, agent=self.name, shots=k["few_shot"])
        trajectory = Trajectory(ctx.dataset, max_observation_chars=k["max_observation_chars"])
        outcome = await run_trajectory(ctx, base, trajectory, max_steps=k["max_iterations"],
                                       temperature=k["temperature"], max_tokens=k["max_tokens"])
        notes = episode_notes(trajectory)
        if outcome == "error":
            notes["error"] = trajectory.steps[-1].error
        return Episode(answer=trajectory.answer or "", outcome=outcome, iterations=len(trajectory.steps),
                       notes=notes)
