"""Chain of thought replayed against a scripted model: one actor call, no tools, the answer it states."""

from __future__ import annotations

from agentledger.agents.actions import COT_REGEX
from agentledger.agents.cot import CoT, CoTKnobs, _complete
from tests.agents.test_react import MATH_OPTIONS, capture, first_task, hq_options


def _one_call(r, request_id: int) -> dict:
    (call,) = r.llm
    assert r.tools == []
    assert call["role"] == "actor" and call["iteration"] == 0 and call["parent_event_id"] == request_id
    return call


def test_hotpotqa_thought_then_answer(tmp_path, shared_data):
    reply = "Thought: Scott Derrickson and Ed Wood were both American.\nAnswer: yes"
    r = capture(tmp_path, "cot", "hotpotqa", shared_data / "hotpotqa", lambda body: reply, options=hq_options(tmp_path))
    _one_call(r, r.request["event_id"])
    assert r.request["final_answer"] == "yes" and r.request["outcome"] == "correct" and r.request["iterations"] == 1
    (body,) = r.bodies
    assert body["structured_outputs"] == {"regex": COT_REGEX["hotpotqa"]} and not body.get("stop")
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][1]["content"].count("\nAnswer: ") == 6  # the six examples
    assert body["messages"][1]["content"].endswith(
        "Question: Were Scott Derrickson and Ed Wood of the same nationality?")


def test_math_boxed_answer_and_few_shot_knob(tmp_path, shared_data):
    task = first_task("math", shared_data / "math")
    reply = f"Solution: Work it out.\nAnswer: \\boxed{{{task.reference}}}"
    r = capture(tmp_path, "cot", "math", shared_data / "math", lambda body: reply, knobs={"few_shot": 1},
                options=MATH_OPTIONS)
    _one_call(r, r.request["event_id"])
    assert r.request["final_answer"] == task.reference and r.request["outcome"] == "correct"
    assert r.bodies[0]["messages"][1]["content"].count("Question:") == 2
    assert r.bodies[0]["max_tokens"] == 256


def test_humaneval_generates_the_function(tmp_path):
    task = first_task("humaneval", None)
    code = task.prompt + task.fields["canonical_solution"]
    r = capture(tmp_path, "cot", "humaneval", None, lambda body: f"```python\n{code}```")
    _one_call(r, r.request["event_id"])
    assert r.request["outcome"] == "correct" and r.request["score"] == 1.0
    assert r.bodies[0]["messages"][1]["content"].endswith(f"```python\n{task.prompt.rstrip()}\n```")


def test_a_failed_call_ends_the_task_with_an_error(tmp_path, shared_data):
    def broken(body):
        raise RuntimeError("model down")

    r = capture(tmp_path, "cot", "hotpotqa", shared_data / "hotpotqa", broken, options=hq_options(tmp_path))
    assert r.request["outcome"] == "error" and r.request["ok"] is False and r.request["final_answer"] == ""
    assert len(r.llm) == 1 and r.llm[0]["ok"] is False


def test_settings_and_cut_replies():
    assert CoT().settings("math") == {"few_shot": 4, "max_tokens": 256, "temperature": 0.0}
    assert CoT(CoTKnobs(few_shot=0, max_tokens=64)).settings("humaneval")["max_tokens"] == 64
    assert _complete("```python\ndef f():\n    pass\n```", "humaneval", "def f():\n    pass")
    assert not _complete("```python\ndef f():\n    pa", "humaneval", "def f():\n    pa")
    assert not _complete("Solution: a long way", "math", "Solution: a long way")
    assert _complete("Thought: t\nAnswer: Paris", "hotpotqa", "Paris")
