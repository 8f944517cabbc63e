"""ReAct replayed against a scripted model on each benchmark: the calls, their order and parents, the score."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentledger.agents.actions import STEP_REGEX
from agentledger.agents.react import ReAct, ReActKnobs
from agentledger.capture.run import RunConfig, run_capture
from agentledger.datasets.base import Task
from agentledger.datasets.registry import open_benchmark
from agentledger.errors import UsageError
from agentledger.traceformat import read_trace
from tests.agents.scripted_server import ScriptedServer


@dataclass
class Replay:
    bodies: list[dict]
    llm: list[dict]
    tools: list[dict]
    request: dict


def capture(tmp_path: Path, agent: str, dataset: str, data: Path | None, responder: Callable[[dict], Any], *,
            knobs: dict | None = None, options: dict | None = None, constrained: bool = True) -> Replay:
    """Run ``agent`` on the first task of ``dataset`` against a scripted model; the trace's events."""
    out = tmp_path / f"{agent}-{dataset}.arrow"
    with ScriptedServer(responder) as srv:
        run_capture(RunConfig(agent=agent, dataset=dataset, data=data, endpoint=srv.url, limit=1, out=out,
                              knobs=knobs or {}, dataset_options=options or {}, constrained=constrained))
        bodies = list(srv.requests)
    tr = read_trace(out)
    llm = sorted(tr.events("llm_call").to_dicts(), key=lambda r: r["start_ns"])
    tools = sorted(tr.events("tool_call").to_dicts(), key=lambda r: r["start_ns"])
    (request,) = tr.events("request").to_dicts()
    return Replay(bodies, llm, tools, request)


def steps_taken(body: dict) -> int:
    """How many steps the prompt already holds (each is an assistant turn)."""
    return sum(m["role"] == "assistant" for m in body["messages"])


def scripted(outputs: Sequence[str]) -> Callable[[dict], str]:
    """A model that writes ``outputs[i]`` as step ``i`` (the last one again past the end)."""
    return lambda body: outputs[min(steps_taken(body), len(outputs) - 1)]


def assert_chain(r: Replay) -> None:
    """Each tool call descends from the LLM call before it; each LLM call from the event before it."""
    events = sorted([*r.llm, *r.tools], key=lambda e: e["start_ns"])
    previous = r.request["event_id"]
    for e in events:
        assert e["parent_event_id"] == previous, e
        previous = e["event_id"]


def first_task(dataset: str, data: Path | None, **options: Any) -> Task:
    bench = open_benchmark(dataset, data, options)
    try:
        return bench.tasks(1)[0]
    finally:
        close = getattr(bench, "close", None)
        if close is not None:
            close()


MATH_OPTIONS = {"max_workers": 1}  # one sympy worker process is enough for one task


def hq_options(tmp_path: Path) -> dict:
    return {"require_context": True, "cache_dir": str(tmp_path / "wiki")}


def test_hotpotqa_search_search_finish(tmp_path, shared_data):
    steps = ["Thought: I need Scott Derrickson's nationality.\nAction: Search[Scott Derrickson]",
             "Thought: He is American. Now Ed Wood.\nAction: search[Ed Wood]",
             "Thought: Both are American.\nAction: Finish[yes]"]
    r = capture(tmp_path, "react", "hotpotqa", shared_data / "hotpotqa", scripted(steps), options=hq_options(tmp_path))
    assert [e["role"] for e in r.llm] == ["actor"] * 3
    assert [e["iteration"] for e in r.llm] == [0, 1, 2]
    assert [t["tool_name"] for t in r.tools] == ["search", "search"]
    assert [t["tool_input_text"] for t in r.tools] == ["Scott Derrickson", "Ed Wood"]
    assert r.tools[0]["tool_output_text"].startswith("Scott Derrickson (born July 16, 1966) is an American")
    assert_chain(r)
    assert r.request["outcome"] == "correct" and r.request["score"] == 1.0
    assert r.request["final_answer"] == "yes" and r.request["iterations"] == 3
    last = r.bodies[-1]
    assert last["stop"] == ["\nObservation"]
    assert last["structured_outputs"] == {"regex": STEP_REGEX["hotpotqa"]}
    roles = [m["role"] for m in last["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "Question: Were Scott Derrickson and Ed Wood of the same nationality?" in last["messages"][1]["content"]
    assert last["messages"][1]["content"].count("Question:") == 7  # six examples and the task
    assert last["messages"][2]["content"] == steps[0]
    assert last["messages"][3]["content"].startswith("Observation: Scott Derrickson (born July 16, 1966)")
    assert last["messages"][5]["content"].startswith("Observation: Edward Davis Wood Jr.")


def test_malformed_output_is_an_observation_and_costs_a_step(tmp_path, shared_data):
    steps = ["I will search Scott Derrickson now.",
             "Thought: Use the right syntax.\nAction: Fly[Scott Derrickson]",
             "Thought: Use the right syntax.\nAction: Search[Scott Derrickson]",
             "Thought: Done.\nAction: Finish[no]"]
    r = capture(tmp_path, "react", "hotpotqa", shared_data / "hotpotqa", scripted(steps),
                options=hq_options(tmp_path), constrained=False)
    assert "structured_outputs" not in r.bodies[0]
    assert len(r.llm) == 4 and len(r.tools) == 1 and r.tools[0]["tool_input_text"] == "Scott Derrickson"
    assert_chain(r)  # the second call descends from the first: no tool ran in between
    second, third = r.bodies[1]["messages"], r.bodies[2]["messages"]
    assert second[-2] == {"role": "assistant", "content": steps[0]}
    assert second[-1]["content"].startswith("Observation: Invalid action: no 'Action:' line was found.")
    assert "unknown action 'Fly'" in third[-1]["content"]
    assert r.request["iterations"] == 4 and r.request["outcome"] == "incorrect" and r.request["score"] == 0.0


def test_budget_ends_the_task_without_an_answer(tmp_path, shared_data):
    r = capture(tmp_path, "react", "hotpotqa", shared_data / "hotpotqa",
                scripted(["Thought: Look again.\nAction: Lookup[American]"]),
                knobs={"max_iterations": 3, "few_shot": 1}, options=hq_options(tmp_path))
    assert len(r.llm) == 3 and len(r.tools) == 3
    assert r.tools[0]["tool_output_text"].startswith("No page is open")
    assert r.request["outcome"] == "max_iterations" and r.request["iterations"] == 3
    assert r.request["final_answer"] == ""
    assert r.bodies[0]["messages"][1]["content"].count("Question:") == 2  # one example and the task


def test_webshop_search_click_options_buy(tmp_path, shared_data):
    task = first_task("webshop", shared_data / "webshop")
    goal = task.fields["goal"]
    options = list(goal["goal_options"].values())
    steps = [f"Thought: Search the product.\nAction: search[{goal['name'][:60]}]",
             f"Thought: It is listed.\nAction: click[{goal['asin']}]",
             *[f"Thought: Choose {o}.\nAction: click[{o}]" for o in options],
             "Thought: Buy it.\nAction: click[Buy Now]"]
    r = capture(tmp_path, "react", "webshop", shared_data / "webshop", scripted(steps))
    assert [t["tool_name"] for t in r.tools] == ["search"] + ["click"] * (2 + len(options))
    assert goal["asin"] in r.tools[0]["tool_output_text"]
    assert r.tools[-1]["tool_output_text"].startswith("Thank you for shopping with us!")
    assert len(r.llm) == len(steps) and all(e["role"] == "actor" for e in r.llm)
    assert_chain(r)
    assert r.request["final_answer"] == goal["asin"] and r.request["iterations"] == len(steps)
    assert r.request["score"] == 1.0 and r.request["outcome"] == "correct"
    assert r.bodies[0]["messages"][1]["content"].endswith(task.fields["observation"])


def test_math_calculate_then_finish(tmp_path, shared_data):
    task = first_task("math", shared_data / "math")
    steps = ["Thought: Compute a value first.\nAction: Calculate[2^10 - 24]",
             f"Thought: I have the answer.\nAction: Finish[\\boxed{{{task.reference}}}]"]
    r = capture(tmp_path, "react", "math", shared_data / "math", scripted(steps), options=MATH_OPTIONS)
    assert [(t["tool_name"], t["tool_output_text"]) for t in r.tools] == [("calculate", "1000")]
    assert [e["iteration"] for e in r.llm] == [0, 1]
    assert_chain(r)
    assert r.request["outcome"] == "correct" and r.request["final_answer"] == f"\\boxed{{{task.reference}}}"
    assert r.bodies[0]["structured_outputs"] == {"regex": STEP_REGEX["math"]}


def test_humaneval_test_then_finish(tmp_path):
    task = first_task("humaneval", None)
    code = task.prompt + task.fields["canonical_solution"]
    entry = task.fields["entry_point"]
    steps = [f"Thought: Try it.\nAction: Test\n```python\n{code}\nassert {entry}([1.0, 2.0], 1.5) == True\n```",
             f"Thought: It passes.\nAction: Finish\n```python\n{code}\n```"]
    r = capture(tmp_path, "react", "humaneval", None, scripted(steps))
    assert len(r.tools) == 1 and r.tools[0]["tool_name"] == "run_tests"
    assert r.tools[0]["tool_output_text"] == "run_tests: PASSED: all 1 asserts passed."
    assert_chain(r)
    assert r.request["outcome"] == "correct" and r.request["score"] == 1.0 and r.request["iterations"] == 2
    assert r.request["final_answer"] == code.strip("\n")


def test_settings_and_knob_checks():
    assert ReAct().settings("webshop") == {"max_iterations": 15, "few_shot": 2, "max_tokens": 128,
                                           "temperature": 0.0, "max_observation_chars": 2000}
    assert ReAct(ReActKnobs(few_shot=3)).settings("hotpotqa")["few_shot"] == 3
    with pytest.raises(UsageError, match="max_iterations must be a whole number of at least 1"):
        ReActKnobs(max_iterations=0)


def test_a_failed_llm_call_ends_the_task_with_an_error(tmp_path, shared_data):
    def model(body: dict) -> str:
        if steps_taken(body) == 1:
            raise RuntimeError("engine gone")
        return "Thought: Look.\nAction: Search[Ed Wood]"

    r = capture(tmp_path, "react", "hotpotqa", shared_data / "hotpotqa", model, options=hq_options(tmp_path))
    assert [e["ok"] for e in r.llm] == [True, False] and len(r.tools) == 1
    assert r.request["outcome"] == "error" and r.request["ok"] is False and r.request["error"]
    assert r.request["iterations"] == 2 and r.request["final_answer"] == ""
