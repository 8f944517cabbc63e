"""The prompts of LATS besides the actor's step: value (evaluator), reflection, own tests (HumanEval).

* Value: the evaluator reads the task and a partial trajectory and answers with one number
  from 1 to 10 (constrained by :data:`VALUE_REGEX`); :func:`parse_value` reads it, and a
  node's value is the mean of its samples divided by 10.
* Reflection: on a failed terminal trajectory (a wrong answer, a poor purchase, the depth
  limit), a few sentences on what went wrong and what to do instead (constrained by
  Reflexion's ``REFLECTION_REGEX``); later expansions carry the reflections in their prompt.
* HumanEval: the test generator writes ``assert`` lines once per task; a finished program's
  reward is the fraction of them that pass (:func:`own_test_reward`), as in the paper's
  programming setup, where the hidden tests are used only for the final score.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from ..datasets.base import Task
from .fewshot import user_text
from .prompt import Segment
from .react import Trajectory

__all__ = ["VALUE_REGEX", "value_segments", "parse_value", "reflection_segments", "reflection_text",
           "tests_segments", "own_test_reward"]

VALUE_REGEX = r"(10|[1-9])"
_GOALS = MappingProxyType({
    "hotpotqa": "answering a question with Wikipedia searches",
    "webshop": "buying the product an instruction asks for in a web shop",
    "math": "solving a math problem with a calculator and an algebra solver",
    "humaneval": "writing a Python function that meets its docstring",
})
_VALUE = ("You judge an unfinished attempt at {goal}. Rate how likely the attempt is to end in a correct "
          "result, from 1 (wrong or stuck) to 10 (certainly correct). Reply with the number only.")
_VALUE_ASK = "\nHow likely is this attempt to succeed? Score from 1 to 10:"
_REFLECT = ("You review a failed attempt at {goal}. In two or three sentences, say what went wrong and give a "
            "concrete plan for a better attempt. Start with 'Reflection:'.")
_TESTS = ("Write up to {count} Python assert lines that check the function below on typical inputs and edge "
          "cases. Each line calls the function and compares the result with the value the docstring implies.")
_NUMBER = re.compile(r"(?<!\d)(10|[1-9])(?!\d)")
_PASSED_ALL = re.compile(r"^run_tests: PASSED|without error, but it has no top-level assert", re.MULTILINE)
_SOME = re.compile(r"^run_tests: FAILED: (\d+) of (\d+) top-level asserts passed", re.MULTILINE)


def _goal(dataset: str) -> str:
    return _GOALS.get(dataset, "solving a task")


def value_segments(task: Task, dataset: str, trajectory: Trajectory) -> list[Segment]:
    """The evaluator's prompt for the state after ``trajectory``."""
    return [Segment("instruction", _VALUE.format(goal=_goal(dataset)), role="system"),
            Segment("user", user_text(task, dataset) + "\n\nAttempt so far:\n", role="user"),
            *trajectory.to_segments(transcript=True),
            Segment("instruction", _VALUE_ASK, role="user")]


def parse_value(text: str) -> int | None:
    """The first whole number from 1 to 10 in an evaluator's reply, or None."""
    found = _NUMBER.search(text)
    return int(found.group(1)) if found is not None else None


def reflection_segments(task: Task, dataset: str, trajectory: Trajectory, feedback: str) -> list[Segment]:
    """The reflection prompt for a failed trajectory and what the env (or the tests) said of it."""
    return [Segment("instruction", _REFLECT.format(goal=_goal(dataset)), role="system"),
            Segment("user", user_text(task, dataset) + "\n\nAttempt:\n", role="user"),
            *trajectory.to_segments(transcript=True),
            Segment("tool_history", f"Feedback: {feedback}\n", role="user")]


def reflection_text(text: str) -> str:
    """A reflection without its ``Reflection:`` label, on one line."""
    body = re.sub(r"^\s*Reflection\s*:\s*", "", text.strip(), flags=re.IGNORECASE)
    return " ".join(body.split())


def tests_segments(task: Task, dataset: str, count: int) -> list[Segment]:
    """The test generator's prompt (HumanEval)."""
    return [Segment("instruction", _TESTS.format(count=count), role="system"),
            Segment("user", user_text(task, dataset), role="user")]


def own_test_reward(observation: str) -> float:
    """The fraction of the generated asserts that passed, from a ``run_tests`` observation."""
    if _PASSED_ALL.search(observation):
        return 1.0
    some = _SOME.search(observation)
    if some is not None and int(some.group(2)) > 0:
        return int(some.group(1)) / int(some.group(2))
    return 0.0
