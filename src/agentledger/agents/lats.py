"""LATS, Language Agent Tree Search (Zhou et al., 2023): Monte Carlo tree search over ReAct steps.

Each of up to ``iterations`` search iterations (default 20):

1. **Selection**: from the root, follow the child with the highest UCT (:mod:`.lats_tree`)
   to a node without children.
2. **Expansion**: sample ``children`` next steps (default 5) for it: ONE actor call with
   ``n=children`` at temperature 1.0, or (``separate_requests``) that many concurrent calls.
   Duplicate actions are dropped. Each child's action runs on its tool, concurrently
   (``asyncio.gather``); a tool call's parent is the LLM call that wrote the action. A
   malformed output becomes a child whose observation says what was wrong (value 0, no
   evaluator call), as in ReAct.
3. **Evaluation**: one ``evaluator`` call per non-terminal child (temperature 0, ``n=value_samples``)
   scores it 1-10; the mean / 10 is its value. A child that answers is terminal: its reward
   is the environment's score (``ctx.evaluate``: exact match, answer equivalence, the
   purchase reward), or on HumanEval the pass rate of the task's own generated tests (one
   ``test_generator`` call per task, concurrent with the first expansion). A child at
   ``max_depth`` steps (7 HotpotQA/MATH, 15 WebShop, 8 HumanEval) without an answer is
   terminal with reward 0.
4. **Simulation**: from the best child, expand (``rollout_children`` samples, evaluated the
   same way) and follow the best, until a terminal node. Rollout nodes stay in the tree.
5. **Backpropagation** of the terminal reward to the root; **reflection** (role
   ``reflection``, temperature 0) on each failed terminal trajectory, up to ``reflections``
   per task; later expansions carry the reflections in their prompt.

The search stops at the first success (a correct answer, a purchase of reward 1, all own
tests passed), after ``iterations``, or when the whole tree is terminal. The answer is the
success, else the terminal with the highest reward (outcome ``finished``); with no answer at
all the outcome is ``budget``; a failed actor call ends the task with ``error``. All LLM and
tool calls of an iteration carry its index as ``iteration``. How each branch gets its own
env state from the task's one env is in :mod:`.lats_env`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import UsageError
from .base import Agent, AgentContext, Episode, Knobs
from .lats_search import TreeSearch
from .react import check_positive, resolved

__all__ = ["MAX_DEPTH", "LATSKnobs", "LATS"]

MAX_DEPTH = MappingProxyType({"hotpotqa": 7, "webshop": 15, "math": 7, "humaneval": 8})


@dataclass(frozen=True, slots=True)
class LATSKnobs(Knobs):
    """LATS's settings; None means the benchmark's default."""

    children: int = 5  # samples per expansion
    separate_requests: bool = False  # one request per child instead of one request with n=children
    iterations: int = 20
    max_depth: int | None = None  # steps per trajectory: hotpotqa/math 7, webshop 15, humaneval 8
    value_samples: int = 1  # evaluator samples per child (n of the evaluator call)
    rollout_children: int | None = None  # samples per simulation step (default: children)
    exploration: float = 1.0  # UCT exploration weight
    reflections: int = 3  # reflections per task on failed trajectories (0: none)
    own_tests: int = 6  # HumanEval: generated asserts kept (the generator's regex allows at most 6)
    few_shot: int | None = None  # as ReAct: hotpotqa 6, webshop 2, math 4, humaneval 2
    max_tokens: int | None = None  # per actor call, as ReAct
    temperature: float = 1.0  # expansion sampling
    value_temperature: float = 0.0
    reflection_max_tokens: int = 128
    max_observation_chars: int | None = 2000

    def __post_init__(self) -> None:
        check_positive(self, "children", "iterations", "max_depth", "value_samples", "rollout_children",
                       "own_tests", "max_tokens", "reflection_max_tokens", "max_observation_chars")
        if not isinstance(self.reflections, int) or self.reflections < 0:
            raise UsageError(f"LATSKnobs.reflections must be a whole number of at least 0, not {self.reflections!r}")
        for name in ("exploration", "temperature", "value_temperature"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise UsageError(f"LATSKnobs.{name} must be a number of at least 0, not {value!r}")


class LATS(Agent):
    """Language Agent Tree Search; see the module docstring."""

    name = "lats"
    datasets = ("hotpotqa", "webshop", "math", "humaneval")
    knobs_type = LATSKnobs

    def settings(self, dataset: str) -> dict[str, Any]:
        values = resolved(self.knobs, dataset)
        if values["max_depth"] is None:
            values["max_depth"] = MAX_DEPTH[dataset]
        if values["rollout_children"] is None:
            values["rollout_children"] = values["children"]
        return values

    async def run(self, ctx: AgentContext) -> Episode:
        return await TreeSearch(ctx, self.settings(ctx.dataset)).run()
