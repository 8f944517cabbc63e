"""Reflexion replayed against a scripted model: trials, reflections kept as memory, env feedback, own tests."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from agentledger.agents.base import AgentContext
from agentledger.agents.prompt import Segment
from agentledger.agents.reflexion import (
    REFLECTION_REGEX,
    TESTS_REGEX,
    Reflexion,
    ReflexionKnobs,
    parse_tests,
    transcript_tail,
)
from agentledger.datasets.registry import open_benchmark
from tests.agents.test_react import MATH_OPTIONS, assert_chain, capture, first_task, hq_options, steps_taken

MEMORY = "Reflections on your earlier attempts:"


def kind(body: dict) -> str:
    system = body["messages"][0]["content"]
    if system.startswith("You are reviewing a failed attempt"):
        return "reflection"
    if system.startswith("Write up to 6 Python assert lines"):
        return "tests"
    return "actor"


def trial(body: dict) -> int:
    """Reflections in the prompt = the trial being run (0-based)."""
    user = body["messages"][1]["content"]
    return user.split(MEMORY, 1)[1].count("\n- ") if MEMORY in user else 0


def test_hotpotqa_wrong_answer_reflect_then_right(tmp_path, shared_data):
    trials = [["Thought: Look him up.\nAction: Search[Scott Derrickson]", "Thought: Guess.\nAction: Finish[no]"],
              ["Thought: Both are American, as I should have checked.\nAction: Finish[yes]"]]

    def model(body: dict) -> str:
        if kind(body) == "reflection":
            return "Reflection: I answered before checking Ed Wood; search both people first."
        return trials[trial(body)][steps_taken(body)]

    r = capture(tmp_path, "reflexion", "hotpotqa", shared_data / "hotpotqa", model, options=hq_options(tmp_path))
    assert [(e["role"], e["iteration"]) for e in r.llm] == [("actor", 0), ("actor", 1), ("reflection", 1),
                                                            ("actor", 2)]
    assert len(r.tools) == 1
    assert_chain(r)
    assert r.request["final_answer"] == "yes" and r.request["outcome"] == "correct" and r.request["iterations"] == 3
    reflect, retry = r.bodies[2], r.bodies[3]
    assert reflect["temperature"] == 0 and reflect["structured_outputs"] == {"regex": REFLECTION_REGEX}
    transcript = reflect["messages"][1]["content"]
    assert "Action: Search[Scott Derrickson]\nObservation: Scott Derrickson (born July 16, 1966)" in transcript
    assert transcript.rstrip().endswith("Feedback: The answer 'no' is wrong.")
    assert retry["messages"][1]["content"].endswith(
        f"{MEMORY}\n- I answered before checking Ed Wood; search both people first.")
    assert [m["role"] for m in retry["messages"]] == ["system", "user"]  # a fresh trajectory


def test_webshop_resets_the_session_between_trials(tmp_path, shared_data):
    goal = first_task("webshop", shared_data / "webshop").fields["goal"]
    right = [f"Thought: Search it.\nAction: search[{goal['name'][:60]}]",
             f"Thought: Open it.\nAction: click[{goal['asin']}]",
             *[f"Thought: Choose.\nAction: click[{o}]" for o in goal["goal_options"].values()],
             "Thought: Buy.\nAction: click[Buy Now]"]

    def model(body: dict) -> str:
        if kind(body) == "reflection":
            return "Reflection: I bought a cable; search for the requested product and choose its options."
        step = steps_taken(body)
        if trial(body) == 1:
            return right[step]
        if step == 1:  # the first product listed, whatever it is
            asin = re.search(r"\b(B0[0-9A-Z]{8})\b", body["messages"][-1]["content"]).group(1)
            return f"Thought: Take the first.\nAction: click[{asin}]"
        return ["Thought: Search.\nAction: search[usb cable]", "", "Thought: Buy.\nAction: click[Buy Now]"][step]

    r = capture(tmp_path, "reflexion", "webshop", shared_data / "webshop", model, knobs={"trials": 2})
    roles = [e["role"] for e in r.llm]
    assert roles == ["actor"] * 3 + ["reflection"] + ["actor"] * len(right)
    assert [t["tool_name"] for t in r.tools][:4] == ["search", "click", "click", "search"]
    assert r.tools[2]["tool_output_text"].startswith("Thank you for shopping with us!")
    assert r.tools[3]["tool_output_text"].startswith("Instruction:")  # not "The episode is over"
    assert_chain(r)
    assert r.request["final_answer"] == goal["asin"] and r.request["score"] == 1.0
    assert r.request["iterations"] == 3 + len(right)


def test_math_budget_trial_gets_a_reflection(tmp_path, shared_data):
    task = first_task("math", shared_data / "math")

    def model(body: dict) -> str:
        if kind(body) == "reflection":
            return "Reflection: I spent my only step on arithmetic; answer directly."
        if trial(body) == 0:
            return "Thought: Compute.\nAction: Calculate[1+1]"
        return f"Thought: Answer.\nAction: Finish[{task.reference}]"

    r = capture(tmp_path, "reflexion", "math", shared_data / "math", model,
                knobs={"trials": 3, "max_iterations": 1, "few_shot": 0}, options=MATH_OPTIONS)
    assert [e["role"] for e in r.llm] == ["actor", "reflection", "actor"]
    assert "Feedback: No answer was given within 1 steps." in r.bodies[1]["messages"][1]["content"]
    assert r.request["outcome"] == "correct" and r.request["iterations"] == 2


def test_humaneval_own_tests_reflection_and_fix(tmp_path):
    task = first_task("humaneval", None)
    entry = task.fields["entry_point"]
    good = task.prompt + task.fields["canonical_solution"]
    bad = f"def {entry}(numbers, threshold):\n    return False\n"

    def model(body: dict) -> str:
        if kind(body) == "tests":
            return f"assert {entry}([1.0, 1.1], 0.5) == True\nassert {entry}([1.0, 5.0], 0.5) == False\n"
        if kind(body) == "reflection":
            return "Reflection: I always returned False; compare every pair against the threshold."
        return f"```python\n{bad if trial(body) == 0 else good}```"

    r = capture(tmp_path, "reflexion", "humaneval", None, model)
    rid = r.request["event_id"]
    by_role = {}
    for e in r.llm:
        by_role.setdefault(e["role"], []).append(e)
    assert len(by_role["actor"]) == 2 and len(by_role["test_generator"]) == 1 and len(by_role["reflection"]) == 1
    first, second = by_role["actor"]
    writer, reflection = by_role["test_generator"][0], by_role["reflection"][0]
    assert first["parent_event_id"] == rid and writer["parent_event_id"] == rid
    assert first["start_ns"] < writer["end_ns"] and writer["start_ns"] < first["end_ns"]  # issued together
    run1, run2 = r.tools
    assert run1["tool_name"] == run2["tool_name"] == "run_tests"
    assert run1["parent_event_id"] == first["event_id"] and run2["parent_event_id"] == second["event_id"]
    assert run1["tool_output_text"].startswith("run_tests: FAILED: 1 of 2 top-level asserts passed")
    assert run2["tool_output_text"] == "run_tests: PASSED: all 2 asserts passed."
    assert reflection["parent_event_id"] == run1["event_id"] and second["parent_event_id"] == reflection["event_id"]
    assert [e["iteration"] for e in (first, writer, reflection, second)] == [0, 0, 0, 1]
    tests_body = next(b for b in r.bodies if kind(b) == "tests")
    assert tests_body["structured_outputs"] == {"regex": TESTS_REGEX}
    retry = next(b for b in r.bodies if kind(b) == "actor" and trial(b) == 1)["messages"][1]["content"]
    assert f"Your last implementation:\n```python\n{bad.rstrip()}\n```" in retry
    assert "Its test results:\nrun_tests: FAILED" in retry
    assert r.request["outcome"] == "correct" and r.request["score"] == 1.0 and r.request["iterations"] == 2


def test_parse_tests_keeps_valid_asserts_only():
    text = "assert f(1) == 2\nprint('x')\nassert f(2 ==\n  assert f(3) == 4  \n" + "assert f(0) == 0\n" * 9
    assert parse_tests(text) == ["assert f(1) == 2", "assert f(3) == 4"] + ["assert f(0) == 0"] * 4


def test_a_long_attempt_is_shown_by_its_end():
    short = [Segment("llm_history", "a" * 10, "user"), Segment("tool_history", "b" * 10, "user")]
    assert transcript_tail(short) == short
    long = [Segment("llm_history", "x" * 4000, "user"), Segment("tool_history", "y" * 3000, "user"),
            Segment("llm_history", "z" * 2000, "user")]
    assert [s.text[:3] for s in transcript_tail(long)] == ["...", "yyy", "zzz"]
    huge = [Segment("tool_history", "w" * 9000, "user")]
    assert transcript_tail(huge) == huge


@dataclass
class _Gen:
    text: str
    event_id: int
    ok: bool = True
    finish_reason: str | None = "stop"
    error: str | None = None

    @property
    def texts(self) -> list[str]:
        return [self.text]


@dataclass
class _Obs:
    ok: bool
    output: str
    event_id: int


def test_trial_notes_when_every_trial_fails(tmp_path, shared_data):
    """In process, with a model that never answers right: each trial is recorded with its score."""
    bench = open_benchmark("hotpotqa", shared_data / "hotpotqa", hq_options(tmp_path))
    task = bench.tasks(1)[0]
    env = bench.new_env(task)
    ids = iter(range(100, 1000))
    calls: list[tuple[str, int | None, int | None]] = []

    async def llm(segments: list[Segment], *, role: str, iteration=None, parent=None, **kw) -> _Gen:
        calls.append((role, iteration, parent))
        text = "Reflection: try harder." if role == "reflection" else "Thought: t\nAction: Finish[no]"
        return _Gen(text, next(ids))

    async def tool(name: str, argument: str, *, parent, iteration=None) -> _Obs:
        return _Obs(True, await env.tools[name](argument), next(ids))

    ctx = AgentContext(task, env, "hotpotqa", llm, tool, lambda a: bench.score(task, a, env), request_event_id=1)
    episode = asyncio.run(Reflexion(ReflexionKnobs(trials=3)).run(ctx))
    assert episode.outcome == "finished" and episode.answer == "no" and episode.iterations == 3
    assert [t["score"] for t in episode.notes["trials"]] == [0.0, 0.0, 0.0]
    assert [t.get("reflection") for t in episode.notes["trials"]] == ["try harder.", "try harder.", None]
    assert episode.notes["reflections"] == 2
    assert [c[0] for c in calls] == ["actor", "reflection", "actor", "reflection", "actor"]
    assert calls[0][2] == 1 and calls[2][2] == 101  # the second trial descends from the first reflection
