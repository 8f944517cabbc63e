"""One task's LATS search: expansion, evaluation, simulation, backpropagation, reflection.

:class:`TreeSearch` holds everything of one task (the tree, the reflections, the generated
tests, counters) and nothing outlives :meth:`TreeSearch.run`. The algorithm is described in
:mod:`.lats`; ``k`` is the agent's resolved settings (``LATS.settings``).
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from typing import Any

from .actions import STEP_REGEX, STEP_STOP, ParseFailure, parse_action
from .base import AgentContext, Episode, Generation
from .lats_env import BranchEnv, Gate
from .lats_prompts import (
    VALUE_REGEX,
    own_test_reward,
    parse_value,
    reflection_segments,
    reflection_text,
    tests_segments,
    value_segments,
)
from .lats_tree import Node, backpropagate, best_terminal, count_nodes, select_leaf
from .react import base_segments
from .reflexion import REFLECTION_REGEX, TESTS_REGEX, parse_tests

__all__ = ["TreeSearch", "VALUE_MAX_TOKENS", "TESTS_MAX_TOKENS"]

VALUE_MAX_TOKENS = 8
TESTS_MAX_TOKENS = 192


def _action_key(text: str, dataset: str) -> tuple[str, str]:
    """What makes two children the same: their action (code kept exact; other arguments case-folded)."""
    parsed = parse_action(text, dataset)
    if isinstance(parsed, ParseFailure):
        return ("", " ".join(text.split()))
    argument = parsed.argument.strip() if dataset == "humaneval" else " ".join(parsed.argument.lower().split())
    return (parsed.name, argument)


class TreeSearch:
    """The search of one task; ``await run()`` returns its Episode (never raises for model or tool trouble)."""

    def __init__(self, ctx: AgentContext, k: dict[str, Any]) -> None:
        self.ctx, self.k, self.dataset = ctx, k, ctx.dataset
        self.root = Node(last_event_id=ctx.request_event_id)
        self.env = BranchEnv(ctx)
        self.reflections: list[str] = []
        self.success: Node | None = None
        self.error: str | None = None
        self.counts: Counter[str] = Counter()
        self._tests_call: asyncio.Task[Generation] | None = None
        self._tests: list[str] | None = None

    # ------------------------------------------------------------------ the loop

    async def run(self) -> Episode:
        k, stopped, done = self.k, "iterations", 0
        if self.dataset == "humaneval":
            self._tests_call = asyncio.ensure_future(self.ctx.llm(
                tests_segments(self.ctx.task, self.dataset, k["own_tests"]), role="test_generator", iteration=0,
                parent=self.ctx.request_event_id, temperature=0.0, max_tokens=TESTS_MAX_TOKENS, regex=TESTS_REGEX))
        try:
            for iteration in range(k["iterations"]):
                leaf = select_leaf(self.root, k["exploration"])
                if leaf is None:
                    stopped = "exhausted"
                    break
                done = iteration + 1
                stopped = await self._iterate(leaf, iteration) or stopped
                if stopped in ("success", "error"):
                    break
            if self._tests_call is not None:
                await self._own_tests()
        finally:
            if self._tests_call is not None and not self._tests_call.done():
                self._tests_call.cancel()
        return await self._episode(stopped, done)

    async def _iterate(self, leaf: Node, iteration: int) -> str | None:
        kids = await self._expand(leaf, self.k["children"], iteration)
        if kids is None:
            return "error"
        if self.success is not None:
            return "success"
        open_kids = [c for c in kids if not c.terminal]
        end: Node | None = max(open_kids, key=lambda c: c.value) if open_kids else max(
            kids, key=lambda c: c.reward or 0.0)
        while end is not None and not end.terminal:  # simulation
            rolled = await self._expand(end, self.k["rollout_children"], iteration)
            if rolled is None:
                return "error"
            if self.success is not None:
                return "success"
            terminals = [c for c in rolled if c.terminal]
            end = max(terminals, key=lambda c: c.reward or 0.0) if terminals else max(rolled, key=lambda c: c.value)
        if end is not None:
            backpropagate(end, end.reward or 0.0)
        return None

    # ------------------------------------------------------------------ expansion and evaluation

    async def _expand(self, node: Node, count: int, iteration: int) -> list[Node] | None:
        """``count`` sampled children of ``node``, acted on and evaluated; None if the actor call failed."""
        ctx, k = self.ctx, self.k
        memory = self.reflections[-k["reflections"]:] if k["reflections"] else []
        segments = [*base_segments(ctx.task, self.dataset, agent="lats", shots=k["few_shot"], memory=memory),
                    *node.trajectory(self.dataset, k["max_observation_chars"]).to_segments()]

        def call(n: int):
            return ctx.llm(segments, role="actor", iteration=iteration, parent=node.last_event_id,
                           temperature=k["temperature"], max_tokens=k["max_tokens"], stop=list(STEP_STOP), n=n,
                           regex=STEP_REGEX[self.dataset])

        if k["separate_requests"]:
            gens = list(await asyncio.gather(*(call(1) for _ in range(count))))
        else:
            gens = [await call(count)]
        self.counts["actor_calls"] += len(gens)
        texts = [(text, gen.event_id) for gen in gens if gen.ok for text in (gen.texts or [gen.text])]
        outputs: dict[tuple[str, str], tuple[str, int]] = {}
        for text, event_id in texts:  # children with the same action lead to the same state: keep the first
            outputs.setdefault(_action_key(text, self.dataset), (text, event_id))
        self.counts["duplicates"] += len(texts) - len(outputs)
        if not outputs:
            failed = next((g for g in gens if not g.ok), None)
            self.error = (failed.error if failed is not None else None) or "the actor call failed"
            return None
        gate = self.env.gate([text for text, _ in outputs.values()])
        kids = list(await asyncio.gather(*(self._child(node, text, eid, iteration, gate)
                                           for text, eid in outputs.values())))
        failed_kids = [c for c in kids if c.terminal and not c.correct]
        room = max(0, k["reflections"] - self.counts["reflection_calls"])
        self.counts["reflection_calls"] += min(room, len(failed_kids))
        await asyncio.gather(*(self._reflect(c, iteration) for c in failed_kids[:room]))
        return kids

    async def _child(self, node: Node, text: str, llm_event_id: int, iteration: int, gate: Gate) -> Node:
        step, score = await self.env.act(node.steps(), text, llm_event_id=llm_event_id, iteration=iteration,
                                         gate=gate)
        child = node.add(step)
        if step.action is None:
            self.counts["malformed"] += 1
        if step.finished:
            await self._terminal(child, score, iteration)
        elif child.depth >= self.k["max_depth"]:
            child.terminal, child.reward, child.value = True, 0.0, 0.0
            child.feedback = f"No answer was given within {self.k['max_depth']} steps."
        elif step.action is not None:
            child.value = await self._value(child, iteration)
        return child

    async def _value(self, child: Node, iteration: int) -> float:
        k = self.k
        gen = await self.ctx.llm(
            value_segments(self.ctx.task, self.dataset, child.trajectory(self.dataset, k["max_observation_chars"])),
            role="evaluator", iteration=iteration, parent=child.last_event_id, temperature=k["value_temperature"],
            max_tokens=VALUE_MAX_TOKENS, n=k["value_samples"], regex=VALUE_REGEX)
        self.counts["value_calls"] += 1
        if not gen.ok:
            self.counts["value_failed"] += 1
            return 0.0
        scores = [parse_value(t) for t in (gen.texts or [gen.text])]
        valid = [s for s in scores if s is not None]
        self.counts["value_unparsed"] += len(scores) - len(valid)
        return statistics.fmean(valid) / 10 if valid else 0.0

    async def _own_tests(self) -> list[str]:
        if self._tests is None:
            assert self._tests_call is not None
            gen = await self._tests_call
            self._tests = parse_tests(gen.text, self.k["own_tests"]) if gen.ok else []
        return self._tests

    async def _terminal(self, child: Node, score: Any, iteration: int) -> None:
        """Reward a node that answered: the environment's score, or (HumanEval) its own tests' pass rate."""
        assert child.step is not None and child.answer is not None
        child.terminal = True
        answer = child.answer
        if self.dataset == "humaneval":
            tests = await self._own_tests()
            obs = await self.ctx.tool("run_tests", answer + "\n\n" + "\n".join(tests),
                                      parent=child.step.llm_event_id, iteration=iteration)
            child.reward = own_test_reward(obs.output) if obs.ok else 0.0
            child.last_event_id = obs.event_id if obs.event_id is not None else child.last_event_id
            child.feedback = f"Your own tests said: {obs.output}"
            child.correct = child.reward >= 1.0
        else:
            try:
                score = score if score is not None else await self.ctx.evaluate(answer)
            except Exception as exc:  # a scorer failure is a zero reward for this node, noted
                self.counts["evaluate_failed"] += 1
                child.feedback = f"The answer could not be checked ({type(exc).__name__})."
                child.reward = 0.0
            else:
                child.reward, child.correct = float(score.value), bool(score.correct)
                child.feedback = (f"The purchase ({answer}) scored {child.reward:.2f} of 1."
                                  if self.dataset == "webshop" else f"The answer {answer!r} is wrong.")
        child.value = child.reward
        if child.correct and self.success is None:
            self.success = child

    async def _reflect(self, node: Node, iteration: int) -> None:
        gen = await self.ctx.llm(
            reflection_segments(self.ctx.task, self.dataset, node.trajectory(self.dataset, self.k["max_observation_chars"]),
                                node.feedback or "The attempt failed."),
            role="reflection", iteration=iteration, parent=node.last_event_id, temperature=0.0,
            max_tokens=self.k["reflection_max_tokens"], regex=REFLECTION_REGEX)
        text = reflection_text(gen.text) if gen.ok else ""
        if text:
            self.reflections.append(text)

    # ------------------------------------------------------------------ the result

    async def _episode(self, stopped: str, iterations: int) -> Episode:
        best = self.success or best_terminal(self.root)
        steps = best.steps() if best is not None else None
        cause = best.step.llm_event_id if best is not None and best.step is not None else None
        if self.error is None:  # leave the env holding the chosen answer's state, where the score reads it
            await self.env.settle(steps, cause=cause, iteration=max(iterations - 1, 0))
        notes: dict[str, Any] = {
            "stopped": stopped, **count_nodes(self.root), **dict(sorted(self.counts.items())),
            "reflections": list(self.reflections), "best_reward": best.reward if best is not None else None,
            "replayed_tool_calls": self.env.replayed, "env_resets": self.env.resets,
            "unrestorable_lookups": self.env.unrestorable,
        }
        if self.env.evaluate_failed:
            notes["evaluate_failed"] = notes.get("evaluate_failed", 0) + self.env.evaluate_failed
        if self._tests is not None:
            notes["own_tests"] = list(self._tests)
        if self.error is not None:
            notes["error"] = self.error
            outcome = "error"
        else:
            outcome = "finished" if best is not None else "budget"
        return Episode(answer=(best.answer or "") if best is not None else "", outcome=outcome,
                       iterations=iterations, notes=notes)
