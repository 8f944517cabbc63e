"""One env per task, many branches: how LATS gives each tree node the env state of its own path.

A task has one ``ctx.env``, but LATS acts from many nodes, and children of one node act
concurrently. Tools differ in how they use the env's state:

* MATH (``calculate``, ``solve``) and HumanEval (``run_tests``): stateless; any number run at once.
* HotpotQA: ``search`` does not read state (its observation depends only on the entity) but a
  search that finds a page opens it; ``lookup`` reads the open page and its result counter.
* WebShop: ``search`` and ``click`` both read and change the session's current page, and a
  purchase ends the session.

The state a node needs is a *key*: the state-changing actions of its path that matter. For
HotpotQA that is the last page-opening search and the lookups after it; for WebShop every
search and click. No-ops (invalid actions, searches that found nothing) are left out.
Before a state-reading action runs, :class:`BranchEnv` brings the env to the acting node's
key: when the env's current key is a prefix of it, only the missing actions are replayed;
otherwise WebShop's env is reset (``await env.reset()``) and the whole key is replayed, and
on HotpotQA the key's opening search restores the page. Replayed actions are real tool calls
through ``ctx.tool`` (recorded as ``tool_call`` events whose parent is the LLM call of the
action that needed them), counted in ``replayed``.

Within one batch of children, state-free calls (and HotpotQA searches) run concurrently
first; then state-reading calls run one at a time under a lock, each after its restore. So
WebShop children act one after another (their restores would clash), while HotpotQA searches,
MATH and HumanEval calls overlap. A WebShop purchase is scored under the lock, right after
the ``click[Buy Now]``, while the env still holds it. Known limit: HotpotQA's env cannot
close a page, so a lookup on a branch that never opened one reads the page other branches
left open (``unrestorable`` counts these).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from types import MappingProxyType

from ..datasets.base import Score
from .actions import Action, parse_action
from .base import AgentContext
from .react import Step, take_action

__all__ = ["READS_STATE", "WRITES_STATE", "SCORED_BY_STATE", "Key", "state_key", "is_no_op", "Gate", "BranchEnv"]

READS_STATE = MappingProxyType({"hotpotqa": frozenset({"lookup"}), "webshop": frozenset({"search", "click"}),
                                "math": frozenset(), "humaneval": frozenset()})
WRITES_STATE = MappingProxyType({"hotpotqa": frozenset({"search", "lookup"}),
                                 "webshop": frozenset({"search", "click"}),
                                 "math": frozenset(), "humaneval": frozenset()})
SCORED_BY_STATE = frozenset({"webshop"})  # benchmarks whose score reads the env (the purchase)
_NO_OP = ("Invalid action", "Could not find", "No page is open", "The episode is over")
Key = tuple[tuple[str, str], ...]


def is_no_op(observation: str) -> bool:
    """Whether an observation says the action left the env as it was."""
    return observation.lstrip().startswith(_NO_OP)


def state_key(steps: Sequence[Step], dataset: str) -> Key:
    """The actions that bring a fresh env to the state after ``steps``."""
    writes = WRITES_STATE.get(dataset, frozenset())
    acts = [(s.action.name, s.action.argument) for s in steps
            if s.action is not None and s.tool_event_id is not None and s.action.name in writes
            and not is_no_op(s.observation)]
    if dataset == "hotpotqa":
        opened = [i for i, (name, _) in enumerate(acts) if name == "search"]
        acts = acts[opened[-1]:] if opened else []  # a lookup without an open page changed nothing
    return tuple(acts)


class Gate:
    """Opens when the batch's state-free calls are done; state-reading calls wait for it."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.event = asyncio.Event()
        if pending <= 0:
            self.event.set()

    def done(self) -> None:
        self.pending -= 1
        if self.pending <= 0:
            self.event.set()


class BranchEnv:
    """Runs actions of tree nodes on the task's one env, restoring each node's state first."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.dataset = ctx.dataset
        self.reads = READS_STATE.get(ctx.dataset, frozenset())
        self.writes = WRITES_STATE.get(ctx.dataset, frozenset())
        self._lock = asyncio.Lock()
        self._current: Key | None = ()  # a fresh env; None: unknown
        self.replayed = 0
        self.resets = 0
        self.unrestorable = 0
        self.evaluate_failed = 0

    def _action(self, text: str) -> Action | None:
        parsed = parse_action(text, self.dataset)
        return parsed if isinstance(parsed, Action) and not parsed.is_finish else None

    def reads_state(self, text: str) -> bool:
        action = self._action(text)
        return action is not None and action.name in self.reads

    def gate(self, texts: Sequence[str]) -> Gate:
        """The gate of one batch of outputs (its pending count: those that read no state)."""
        return Gate(sum(not self.reads_state(t) for t in texts))

    async def act(self, steps: Sequence[Step], text: str, *, llm_event_id: int | None, iteration: int,
                  gate: Gate) -> tuple[Step, Score | None]:
        """Parse ``text`` and act on it from the state after ``steps``.

        Returns the step and, for an episode the env ended (a WebShop purchase), its score.
        """
        if not self.reads_state(text):
            try:
                step = await take_action(self.ctx, text, llm_event_id=llm_event_id, iteration=iteration)
            finally:
                gate.done()
            if step.action is not None and step.action.name in self.writes and not is_no_op(step.observation):
                self._current = None  # e.g. a search opened its page: which one is open now is unknown
            return step, None
        await gate.event.wait()
        async with self._lock:
            restored = await self._restore(state_key(steps, self.dataset), cause=llm_event_id, iteration=iteration)
            step = await take_action(self.ctx, text, llm_event_id=llm_event_id, iteration=iteration)
            self._current = state_key([*steps, step], self.dataset) if restored else None
            score = await self._score(step.answer) if step.answer is not None else None
        return step, score

    async def _score(self, answer: str) -> Score:
        try:
            return await self.ctx.evaluate(answer)
        except Exception:  # a scorer failure is a zero reward for this branch, not a crash
            self.evaluate_failed += 1
            return Score(0.0, False, {"evaluate_failed": 1.0})

    async def settle(self, steps: Sequence[Step] | None, *, cause: int | None, iteration: int) -> None:
        """Leave the env in the state after ``steps`` (None: no purchase), where the score reads the env."""
        if self.dataset not in SCORED_BY_STATE:
            return
        async with self._lock:
            if steps is None:
                if getattr(self.ctx.env, "done", False) and await self._reset():
                    self._current = ()
                return
            await self._restore(state_key(steps, self.dataset), cause=cause, iteration=iteration)

    async def _reset(self) -> bool:
        reset = getattr(self.ctx.env, "reset", None)
        if not callable(reset):
            return False
        result = reset()
        if inspect.isawaitable(result):
            await result
        self.resets += 1
        return True

    async def _restore(self, target: Key, *, cause: int | None, iteration: int) -> bool:
        """Bring the env to ``target``; False when it cannot be done (the state stays unknown)."""
        current = self._current
        if current is not None and target[:len(current)] == current:
            todo = target[len(current):]
        elif await self._reset() or (target and target[0][0] == "search"):
            todo = target  # a reset env, or (HotpotQA) a search that reopens the page
        else:
            self.unrestorable += 1
            self._current = None
            return False
        for name, argument in todo:
            await self.ctx.tool(name, argument, parent=cause, iteration=iteration)
            self.replayed += 1
        self._current = target
        return True
