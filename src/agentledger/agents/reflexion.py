"""Reflexion (Shinn et al., 2023): retry a task, learning from verbal reflections on failed trials.

HotpotQA, MATH, WebShop: each trial is a ReAct attempt (:func:`~.react.run_trajectory`, at most
``max_iterations`` steps). Its answer is scored by the environment (``ctx.evaluate``: exact
match, answer equivalence, the purchase reward). A trial that is not correct gets a reflection
(role ``reflection``, temperature 0) on its transcript; later trials carry all reflections in
the prompt, after the task. A WebShop env is reset between trials (a purchase ends a session).

HumanEval, as in the paper's programming setup: a ``test_generator`` call writes ``assert``
lines once (concurrently with the first implementation); each trial the actor writes the
function, ``run_tests`` runs it with those tests, and failing feedback gets a reflection; the
next trial sees the last implementation, its test feedback and all reflections.

``Episode.notes["trials"]`` holds one record per trial (steps, answer, outcome, score or test result).
"""

from __future__ import annotations

import asyncio
import inspect
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .actions import COT_REGEX, cot_answer
from .base import Agent, AgentContext, Episode, Knobs
from .fewshot import DEFAULT_SHOTS, few_shot_text, instruction, user_text
from .prompt import Segment
from .react import Trajectory, base_segments, check_positive, episode_notes, resolved, run_trajectory

__all__ = ["ReflexionKnobs", "Reflexion", "TRIAL_STEPS", "REFLECTION_REGEX", "TESTS_REGEX", "parse_tests",
           "transcript_tail"]

TRIAL_STEPS = MappingProxyType({"hotpotqa": 6, "webshop": 15, "math": 6, "humaneval": 1})
REFLECTION_REGEX = r"Reflection: [^\n]{1,300}"
TESTS_REGEX = r"(assert [^\n]{1,150}\n){1,6}"
_REFLECT = ("You are reviewing a failed attempt at a task. In two or three sentences, say what went wrong and "
            "write a concrete plan to avoid it next time. Start with 'Reflection:'.")
_TESTS = ("Write up to 6 Python assert lines that check the function below on typical and edge cases, "
          "one per line, each calling the function and comparing with the expected value.")
_TRANSCRIPT_CHARS = 6000  # a reflection sees the end of a long attempt (WebShop pages add up)
_PASSED = re.compile(r"^run_tests: PASSED|without error, but it has no top-level assert", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ReflexionKnobs(Knobs):
    """Reflexion's settings; None means the benchmark's default."""

    trials: int = 3  # attempts, so at most trials - 1 reflections
    max_iterations: int | None = None  # steps per trial: hotpotqa 6, webshop 15, math 6
    few_shot: int | None = None  # as ReAct (HumanEval: as CoT)
    max_tokens: int | None = None  # per actor call
    reflection_max_tokens: int = 128
    temperature: float = 0.0
    max_observation_chars: int | None = 2000

    def __post_init__(self) -> None:
        check_positive(self, "trials", "max_iterations", "max_tokens", "reflection_max_tokens",
                       "max_observation_chars")


def parse_tests(text: str, limit: int = 6) -> list[str]:
    """The ``assert`` lines of a test-generator reply that compile (at most ``limit``)."""
    tests: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("assert ") or len(tests) >= limit:
            continue
        try:
            compile(line, "<test>", "exec")
        except SyntaxError:
            continue
        tests.append(line)
    return tests


def _reflection_text(text: str) -> str:
    return re.sub(r"^\s*Reflection\s*:\s*", "", text.strip(), flags=re.IGNORECASE).strip()


def transcript_tail(attempt: list[Segment]) -> list[Segment]:
    """The last segments of an attempt's transcript within ``_TRANSCRIPT_CHARS`` (at least one), after
    a ``...`` line when earlier ones were left out: what a reflection call is shown."""
    kept: list[Segment] = []
    total = 0
    for seg in reversed(attempt):
        total += len(seg.text)
        if kept and total > _TRANSCRIPT_CHARS:
            return [Segment("llm_history", "...\n", role="user"), *reversed(kept)]
        kept.append(seg)
    return list(reversed(kept))


def _episode(answer: str, outcome: str, iterations: int, notes: dict[str, Any]) -> Episode:
    if outcome == "error":  # the runner records notes["error"] on the request
        notes["error"] = notes["trials"][-1].get("error") if notes["trials"] else "no trial ran"
    return Episode(answer=answer, outcome=outcome, iterations=iterations, notes=notes)


class Reflexion(Agent):
    """Trials with self-reflection; see the module docstring."""

    name = "reflexion"
    datasets = ("hotpotqa", "webshop", "math", "humaneval")
    knobs_type = ReflexionKnobs

    def settings(self, dataset: str) -> dict[str, Any]:
        values = resolved(self.knobs, dataset)
        if dataset == "humaneval":
            values["few_shot"] = self.knobs.few_shot if self.knobs.few_shot is not None \
                else DEFAULT_SHOTS[("cot", dataset)]
        if values["max_iterations"] is None:
            values["max_iterations"] = TRIAL_STEPS[dataset]
        return values

    async def _reflect(self, ctx: AgentContext, task_text: str, attempt: list[Segment], feedback: str, *,
                       iteration: int, parent: int | None, max_tokens: int) -> tuple[str | None, int]:
        segs = [Segment("instruction", _REFLECT, role="system"),
                Segment("user", f"{task_text}\n\nAttempt:\n", role="user"), *transcript_tail(attempt),
                Segment("tool_history", f"\nFeedback: {feedback}\n", role="user")]
        gen = await ctx.llm(segs, role="reflection", iteration=iteration, parent=parent, temperature=0.0,
                            max_tokens=max_tokens, regex=REFLECTION_REGEX)
        if not gen.ok:
            return None, gen.event_id
        return _reflection_text(gen.text) or "(no reflection)", gen.event_id

    async def run(self, ctx: AgentContext) -> Episode:
        k = self.settings(ctx.dataset)
        if ctx.dataset == "humaneval":
            return await self._run_code(ctx, k)
        reflections: list[str] = []
        trials: list[dict[str, Any]] = []
        steps_taken, parent, answer, outcome = 0, ctx.request_event_id, "", "budget"
        for trial in range(k["trials"]):
            if trial and hasattr(ctx.env, "reset"):
                reset = ctx.env.reset()
                if inspect.isawaitable(reset):
                    await reset
            base = base_segments(ctx.task, ctx.dataset, agent=self.name, shots=k["few_shot"], memory=reflections)
            traj = Trajectory(ctx.dataset, max_observation_chars=k["max_observation_chars"])
            outcome = await run_trajectory(ctx, base, traj, max_steps=k["max_iterations"],
                                           first_iteration=steps_taken, parent=parent,
                                           temperature=k["temperature"], max_tokens=k["max_tokens"])
            steps_taken += len(traj.steps)
            answer = traj.answer or ""
            record: dict[str, Any] = {"trial": trial, "outcome": outcome, "answer": answer, **episode_notes(traj)}
            trials.append(record)
            if outcome == "error":
                record["error"] = traj.steps[-1].error
                break
            score = await ctx.evaluate(answer)
            record.update(score=score.value, correct=score.correct)
            if score.correct or trial == k["trials"] - 1:
                break
            feedback = (f"The answer {answer!r} is wrong." if outcome == "finished"
                        else f"No answer was given within {k['max_iterations']} steps.")
            last = traj.steps[-1].last_event_id if traj.steps else parent
            reflection, parent = await self._reflect(ctx, user_text(ctx.task, ctx.dataset),
                                                     traj.to_segments(transcript=True), feedback,
                                                     iteration=steps_taken - 1, parent=last,
                                                     max_tokens=k["reflection_max_tokens"])
            if reflection is None:
                outcome, record["error"] = "error", "the reflection call failed"
                break
            record["reflection"] = reflection
            reflections.append(reflection)
        return _episode(answer, outcome, steps_taken, {"trials": trials, "reflections": len(reflections)})

    async def _run_code(self, ctx: AgentContext, k: dict[str, Any]) -> Episode:
        prompt = user_text(ctx.task, ctx.dataset)
        head = [Segment("instruction", instruction(ctx.dataset, "cot") + " Fix the problems the feedback shows.",
                        role="system")]
        shots = few_shot_text(ctx.dataset, k["few_shot"], style="cot")
        if shots:
            head.append(Segment("few_shot", shots, role="user"))
        head.append(Segment("user", prompt, role="user"))
        max_tokens = k["max_tokens"] or 384
        trials: list[dict[str, Any]] = []
        memory: list[Segment] = []
        reflections: list[str] = []
        tests: list[str] = []
        parent, answer, outcome = ctx.request_event_id, "", "budget"
        for trial in range(k["trials"]):
            actor = ctx.llm([*head, *memory], role="actor", iteration=trial, parent=parent,
                            temperature=k["temperature"], max_tokens=max_tokens, regex=COT_REGEX["humaneval"])
            if trial == 0:
                writer = ctx.llm([Segment("instruction", _TESTS, role="system"), Segment("user", prompt)],
                                 role="test_generator", iteration=0, parent=ctx.request_event_id, temperature=0.0,
                                 max_tokens=192, regex=TESTS_REGEX)
                gen, test_gen = await asyncio.gather(actor, writer)
                tests = parse_tests(test_gen.text) if test_gen.ok else []
            else:
                gen = await actor
            record: dict[str, Any] = {"trial": trial}
            trials.append(record)
            if not gen.ok:
                outcome, record["error"] = "error", gen.error
                break
            answer = cot_answer(gen.text, ctx.dataset)
            obs = await ctx.tool("run_tests", answer + "\n\n" + "\n".join(tests), parent=gen.event_id,
                                 iteration=trial)
            passed = obs.ok and _PASSED.search(obs.output) is not None
            outcome = "finished"
            record.update(answer=answer, tests=len(tests), passed_own_tests=passed)
            if passed or trial == k["trials"] - 1:
                break
            code = [Segment("llm_history", f"```python\n{answer}\n```", role="user")]
            reflection, parent = await self._reflect(ctx, prompt, code, obs.output,
                                                     iteration=trial, parent=obs.event_id,
                                                     max_tokens=k["reflection_max_tokens"])
            if reflection is None:
                outcome, record["error"] = "error", "the reflection call failed"
                break
            record["reflection"] = reflection
            reflections.append(reflection)
            notes = "".join(f"\n- {r}" for r in reflections)
            memory = [Segment("llm_history", f"\n\nYour last implementation:\n```python\n{answer}\n```", role="user"),
                      Segment("tool_history", f"\nIts test results:\n{obs.output}", role="user"),
                      Segment("llm_history", f"\n\nReflections on your earlier attempts:{notes}", role="user")]
        return _episode(answer, outcome, len(trials),
                        {"trials": trials, "reflections": len(reflections), "own_tests": tests})
