"""LATS replayed against a scripted model: tree search events (fan-out, parents, iterations), env
state per branch, rewards and the final score; plus the tree, parsing and knob units."""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentledger.agents.actions import STEP_REGEX, Action
from agentledger.agents.lats import LATS, LATSKnobs
from agentledger.agents.lats_env import state_key
from agentledger.agents.lats_prompts import VALUE_REGEX, own_test_reward, parse_value, reflection_text
from agentledger.agents.lats_tree import Node, backpropagate, best_terminal, select_leaf, uct
from agentledger.agents.react import Step
from agentledger.capture.run import RunConfig, run_capture
from agentledger.datasets.base import Task
from agentledger.datasets.registry import open_benchmark
from agentledger.errors import UsageError
from agentledger.traceformat import read_trace
from tests.agents.scripted_server import ScriptedServer

# ---------------------------------------------------------------------------- replay plumbing


@dataclass
class Replay:
    bodies: list[dict]
    llm: list[dict]
    tools: list[dict]
    request: dict

    def role(self, role: str) -> list[dict]:
        return [e for e in self.llm if e["role"] == role]

    def by_id(self, event_id: int) -> dict:
        return next(e for e in [*self.llm, *self.tools] if e["event_id"] == event_id)


def capture(tmp_path: Path, dataset: str, data: Path | None, responder: Callable[[dict], Any], *,
            knobs: dict | None = None, options: dict | None = None, constrained: bool = True) -> Replay:
    out = tmp_path / f"lats-{dataset}.arrow"
    with ScriptedServer(responder) as srv:
        run_capture(RunConfig(agent="lats", dataset=dataset, data=data, endpoint=srv.url, limit=1, out=out,
                              knobs=knobs or {}, dataset_options=options or {}, constrained=constrained))
        bodies = list(srv.requests)
    tr = read_trace(out)
    llm = sorted(tr.events("llm_call").to_dicts(), key=lambda r: r["start_ns"])
    tools = sorted(tr.events("tool_call").to_dicts(), key=lambda r: r["start_ns"])
    (request,) = tr.events("request").to_dicts()
    return Replay(bodies, llm, tools, request)


def kind(body: dict) -> str:
    """Which LATS call a request is, from its system text."""
    system = body["messages"][0]["content"]
    for prefix, name in (("You judge", "value"), ("You review", "reflection"), ("Write up to", "tests")):
        if system.startswith(prefix):
            return name
    return "actor"


def path_of(body: dict) -> tuple[str, ...]:
    """The actions already taken on the branch an actor call expands."""
    return tuple(m["content"].split("Action: ", 1)[1] for m in body["messages"] if m["role"] == "assistant")


def last_action(body: dict) -> str:
    """The action of the node an evaluator call scores (the last one in its transcript)."""
    return re.findall(r"^Action: (.*)$", body["messages"][-1]["content"], re.MULTILINE)[-1]


def step(action: str, thought: str = "Next step.") -> str:
    return f"Thought: {thought}\nAction: {action}"


def first_task(dataset: str, data: Path | None, **options: Any) -> Task:
    bench = open_benchmark(dataset, data, options)
    try:
        return bench.tasks(1)[0]
    finally:
        if hasattr(bench, "close"):
            bench.close()


@pytest.fixture(scope="module")
def hq_options(tmp_path_factory) -> dict:
    return {"require_context": True, "cache_dir": str(tmp_path_factory.mktemp("wiki"))}


REFLECTION = "Reflection: I answered before checking Ed Wood's nationality; search both people first."

# ---------------------------------------------------------------------------- replays


def test_hotpotqa_search_tree_fan_out_rollout_reflection_and_success(tmp_path, shared_data, hq_options):
    actor = {
        (): [step("Search[Scott Derrickson]"), step("Search[Ed Wood]"), "I think the answer is yes."],
        ("Search[Scott Derrickson]",): [step("Search[Ed Wood]"), step("Finish[no]"), step("Lookup[director]")],
        ("Search[Ed Wood]",): [step("Search[Scott Derrickson]"), step("Finish[yes]"), step("Finish[yes]")],
    }
    values = {"Search[Scott Derrickson]": "8", "Search[Ed Wood]": "6", "Lookup[director]": "3"}

    def model(body: dict) -> str | list[str]:
        return {"actor": lambda: actor[path_of(body)], "value": lambda: values[last_action(body)],
                "reflection": lambda: REFLECTION}[kind(body)]()

    r = capture(tmp_path, "hotpotqa", shared_data / "hotpotqa", model, knobs={"children": 3, "few_shot": 1},
                options=hq_options)
    actors = r.role("actor")
    assert [(a["n"], a["temperature"], a["iteration"]) for a in actors] == [(3, 1.0, 0), (3, 1.0, 0), (3, 1.0, 1)]
    assert all(b["structured_outputs"] == {"regex": STEP_REGEX["hotpotqa"]} for b in r.bodies if kind(b) == "actor")
    # expansion of the root: one call, three children; the malformed one has no tool call and no value call
    fan = [t for t in r.tools if t["parent_event_id"] == actors[0]["event_id"]]
    assert sorted(t["tool_input_text"] for t in fan) == ["Ed Wood", "Scott Derrickson"]
    assert actors[0]["parent_event_id"] == r.request["event_id"]
    # the rollout expands the best child (Scott Derrickson, value 8): its call descends from that search
    sd = next(t for t in fan if t["tool_input_text"] == "Scott Derrickson")
    assert actors[1]["parent_event_id"] == sd["event_id"]
    # its lookup reads Scott Derrickson's page although a sibling's search opened Ed Wood's: the
    # branch's search is replayed first, with the rollout call as parent
    second = [t for t in r.tools if t["parent_event_id"] == actors[1]["event_id"]]
    assert [(t["tool_name"], t["tool_input_text"]) for t in second] == [
        ("search", "Ed Wood"), ("search", "Scott Derrickson"), ("lookup", "director")]
    assert second[2]["tool_output_text"].startswith("(Result 1 / 1) Scott Derrickson (born July 16, 1966)")
    # values: one evaluator call per well-formed open child, parent its tool call, temperature 0
    evaluators = r.role("evaluator")
    assert len(evaluators) == 2 + 2 + 1
    assert all(e["temperature"] == 0.0 and e["n"] == 1 for e in evaluators)
    assert {e["parent_event_id"] for e in evaluators} <= {t["event_id"] for t in r.tools}
    assert all(b["structured_outputs"] == {"regex": VALUE_REGEX} for b in r.bodies if kind(b) == "value")
    # the wrong Finish[no] in the rollout is a failed terminal: one reflection, parent the call that wrote it
    (reflection,) = r.role("reflection")
    assert reflection["parent_event_id"] == actors[1]["event_id"] and reflection["iteration"] == 0
    reflection_body = next(b for b in r.bodies if kind(b) == "reflection")
    assert "Feedback: The answer 'no' is wrong." in reflection_body["messages"][-1]["content"]
    # iteration 1 selects Ed Wood (unvisited, value 0.6) by UCT; its prompt carries the reflection
    ed = next(t for t in fan if t["tool_input_text"] == "Ed Wood")
    assert actors[2]["parent_event_id"] == ed["event_id"]
    last_actor = [b for b in r.bodies if kind(b) == "actor"][-1]
    assert "Reflections on your earlier attempts:\n- I answered before checking" in last_actor["messages"][1]["content"]
    # Finish[yes] is correct: the search stops after two iterations; the duplicate child was dropped
    assert [t["iteration"] for t in r.tools if t["parent_event_id"] == actors[2]["event_id"]] == [1]
    assert r.request["outcome"] == "correct" and r.request["score"] == 1.0
    assert r.request["final_answer"] == "yes" and r.request["iterations"] == 2


def test_math_separate_requests_one_call_per_child(tmp_path, shared_data):
    task = first_task("math", shared_data / "math", max_workers=1)
    texts = iter([step("Calculate[2^10 - 24]"), step(f"Finish[\\boxed{{{task.reference}}}]")])
    lock = threading.Lock()

    def model(body: dict) -> str:
        if kind(body) == "value":
            return "7"
        with lock:
            return next(texts)

    r = capture(tmp_path, "math", shared_data / "math", model,
                knobs={"children": 2, "separate_requests": True}, options={"max_workers": 1})
    actors = r.role("actor")
    assert [(a["n"], a["iteration"], a["parent_event_id"]) for a in actors] == [(1, 0, r.request["event_id"])] * 2
    (calc,) = r.tools
    assert (calc["tool_name"], calc["tool_output_text"]) == ("calculate", "1000")
    assert "Calculate[2^10 - 24]" in r.by_id(calc["parent_event_id"])["output_text"]
    (value,) = r.role("evaluator")
    assert value["parent_event_id"] == calc["event_id"]
    assert r.request["outcome"] == "correct" and r.request["iterations"] == 1
    assert r.request["final_answer"] == f"\\boxed{{{task.reference}}}"


def test_webshop_branches_replay_their_state_and_the_purchase_is_kept(tmp_path, shared_data):
    task = first_task("webshop", shared_data / "webshop")
    goal = task.fields["goal"]
    right = [f"search[{goal['name'][:60]}]", f"click[{goal['asin']}]",
             *[f"click[{o}]" for o in goal["goal_options"].values()], "click[Buy Now]"]
    wrong = ["search[plain white socks]", *["click[Back to Search]"] * (len(right) - 2), "click[< Prev]"]
    depth = len(right)

    def model(body: dict) -> str | list[str]:
        if kind(body) == "value":
            return "9" if last_action(body) in right else "2"
        d = len(path_of(body))
        pair = [step(wrong[d]), step(right[d])]
        return pair if d < depth - 1 else pair[::-1]  # the last level buys first, then a sibling acts

    r = capture(tmp_path, "webshop", shared_data / "webshop", model, knobs={"children": 2})
    actors = r.role("actor")
    assert len(actors) == depth and all(a["iteration"] == 0 for a in actors)
    # each level: the wrong child acts first, then the right one needs a reset and a replay of its
    # branch (d actions); the last level buys first, then the sibling replays (depth - 1) and acts,
    # and at the end the bought branch is replayed (depth actions, the purchase last)
    expected = sum(2 + d for d in range(depth - 1)) + 1 + (depth - 1) + 1 + depth
    assert len(r.tools) == expected
    for d, a in enumerate(actors[:-1]):
        mine = [t for t in r.tools if t["parent_event_id"] == a["event_id"]]
        assert [f"{t['tool_name']}[{t['tool_input_text']}]" for t in mine] == [wrong[d], *right[:d + 1]]
    assert r.tools[-1]["tool_input_text"] == "Buy Now"
    assert r.tools[-1]["tool_output_text"].startswith("Thank you for shopping with us!")
    assert r.request["final_answer"] == goal["asin"]
    assert r.request["outcome"] == "correct" and r.request["score"] == 1.0 and r.request["iterations"] == 1


def test_humaneval_rewards_come_from_own_generated_tests(tmp_path):
    task = first_task("humaneval", None)
    entry = task.fields["entry_point"]
    good = task.prompt + task.fields["canonical_solution"]
    bad = task.prompt + "    return False\n"
    tests = f"assert {entry}([1.0, 2.0], 1.5) == True\nassert {entry}([1.0, 2.0], 0.5) == False\n"
    code = "Thought: {t}\nAction: {a}\n```python\n{c}\n```"
    actor = {
        0: [code.format(t="Done.", a="Finish", c=bad.strip("\n")),
            code.format(t="Try it.", a="Test", c=good.strip("\n") + f"\nassert {entry}([1.0], 0.1) == False")],
        1: [code.format(t="It works.", a="Finish", c=good.strip("\n"))] * 2,
    }

    def model(body: dict) -> str | list[str]:
        return {"tests": lambda: tests, "value": lambda: "8", "reflection": lambda: REFLECTION,
                "actor": lambda: actor[sum(m["role"] == "assistant" for m in body["messages"])]}[kind(body)]()

    r = capture(tmp_path, "humaneval", None, model, knobs={"children": 2})
    (gen,) = r.role("test_generator")
    assert gen["parent_event_id"] == r.request["event_id"] and gen["iteration"] == 0
    own = [t for t in r.tools if t["tool_input_text"].endswith(tests.strip())]
    assert len(own) == 2 and len(r.tools) == 3
    failed, passed = sorted(t["tool_output_text"] for t in own)
    assert failed.startswith("run_tests: FAILED: 1 of 2 top-level asserts passed, 1 failed.")
    assert passed == "run_tests: PASSED: all 2 asserts passed."
    assert len(r.role("reflection")) == 1 and len(r.role("evaluator")) == 1
    assert r.request["outcome"] == "correct" and r.request["score"] == 1.0
    assert r.request["final_answer"] == good.strip("\n") and r.request["iterations"] == 1


def test_budget_and_exhausted_tree_end_without_an_answer(tmp_path, shared_data, hq_options):
    def model(body: dict) -> str | list[str]:
        if kind(body) == "value":
            return "5"
        if kind(body) == "reflection":
            return REFLECTION
        d = len(path_of(body))
        return [step(f"Search[Scott Derrickson {d}]"), step(f"Search[Ed Wood {d}]")]

    r = capture(tmp_path, "hotpotqa", shared_data / "hotpotqa", model,
                knobs={"children": 2, "max_depth": 2, "iterations": 5, "few_shot": 1}, options=hq_options)
    # iteration 0: root -> 2 children, rollout -> 2 children at the depth limit (terminal, reward 0);
    # iteration 1: the other child -> 2 terminal children; then every branch is terminal: the search stops
    assert [a["iteration"] for a in r.role("actor")] == [0, 0, 1]
    assert len(r.role("evaluator")) == 2 and len(r.tools) == 6
    assert len(r.role("reflection")) == 3  # the default cap of reflections per task
    assert r.request["outcome"] == "max_iterations" and r.request["final_answer"] == ""
    assert r.request["iterations"] == 2


def test_free_mode_garbage_never_raises_and_a_failed_actor_call_is_an_error(tmp_path, shared_data, hq_options):
    calls = itertools.count()

    def model(body: dict) -> str | list[str]:
        if kind(body) == "actor" and next(calls) == 1:
            raise RuntimeError("engine gone")
        return ["no idea", "Action: Fly[away]"] if kind(body) == "actor" else "maybe"

    r = capture(tmp_path, "hotpotqa", shared_data / "hotpotqa", model, knobs={"children": 2, "few_shot": 1},
                options=hq_options, constrained=False)
    assert all("structured_outputs" not in b for b in r.bodies)
    assert [e["ok"] for e in r.role("actor")] == [True, False] and not r.tools and not r.role("evaluator")
    second = [b for b in r.bodies if kind(b) == "actor"][1]["messages"]
    assert second[-1]["content"].startswith("Observation: Invalid action")
    assert r.request["outcome"] == "error" and r.request["ok"] is False and r.request["error"]


# ---------------------------------------------------------------------------- units


def _node(parent: Node, value: float, visits: int = 0, terminal: bool = False) -> Node:
    child = parent.add(Step("t", Action("search", "x"), "obs", llm_event_id=1, tool_event_id=2))
    child.value, child.visits, child.terminal = value, visits, terminal
    return child


def test_uct_selection_backpropagation_and_exhaustion():
    root = Node(visits=3)
    a, b = _node(root, 0.2, visits=2), _node(root, 0.6, visits=0)
    assert uct(b, 1.0) == pytest.approx(0.6 + math.sqrt(math.log(4)))
    assert uct(a, 1.0) == pytest.approx(0.2 + math.sqrt(math.log(4) / 3))
    assert select_leaf(root, 1.0) is b  # unvisited and better valued
    assert select_leaf(root, 0.0) is b
    backpropagate(b, 0.0)
    assert (b.visits, b.value, root.visits, root.value) == (1, 0.0, 4, 0.0)
    a.value = 0.9
    assert select_leaf(root, 0.0) is a
    for node in (a, b):
        _node(node, 1.0, terminal=True)
    assert select_leaf(root, 1.0) is None and root.exhausted and a.exhausted and b.exhausted


def test_best_terminal_prefers_success_then_reward():
    root = Node()
    low, high = _node(root, 0.0, terminal=True), _node(root, 0.0, terminal=True)
    for node, reward in ((low, 0.25), (high, 0.75)):
        node.step.answer, node.reward = f"answer {reward}", reward
    assert best_terminal(root) is high
    assert best_terminal(Node()) is None


def test_state_keys_keep_only_what_the_next_action_depends_on():
    def s(name: str, arg: str, obs: str = "ok") -> Step:
        return Step("", Action(name, arg), obs, llm_event_id=1, tool_event_id=2)

    hq = [s("search", "A"), s("lookup", "born"), s("search", "B", "Could not find B. Similar: []."),
          s("search", "C"), s("lookup", "x"), s("lookup", "x", "Invalid action: lookup needs a keyword")]
    assert state_key(hq, "hotpotqa") == (("search", "C"), ("lookup", "x"))
    assert state_key([s("lookup", "x", "No page is open to look up in")], "hotpotqa") == ()
    shop = [s("search", "socks"), s("click", "nope", "Invalid action: 'nope' is not on this page."), s("click", "B01")]
    assert state_key(shop, "webshop") == (("search", "socks"), ("click", "B01"))
    assert state_key([s("calculate", "1+1")], "math") == ()


def test_value_reflection_and_test_reward_parsing():
    assert [parse_value(t) for t in ("7", "10", "Score: 3/10", "0", "none", "12")] == [7, 10, 3, None, None, None]
    assert reflection_text("Reflection:  Search first.\nThen lookup.") == "Search first. Then lookup."
    assert own_test_reward("run_tests: PASSED: all 3 asserts passed.") == 1.0
    assert own_test_reward("run_tests: FAILED: 1 of 4 top-level asserts passed, 3 failed.\n- line 3") == 0.25
    assert own_test_reward("run_tests: ERROR: the code raised an exception.") == 0.0


def test_settings_by_benchmark_and_knob_checks():
    assert LATS().settings("webshop")["max_depth"] == 15 and LATS().settings("humaneval")["max_depth"] == 8
    k = LATS(LATSKnobs(children=3)).settings("hotpotqa")
    assert (k["max_depth"], k["rollout_children"], k["few_shot"], k["iterations"]) == (7, 3, 6, 20)
    assert json.dumps(k)  # recorded in the trace metadata
    with pytest.raises(UsageError, match="children must be a whole number of at least 1"):
        LATSKnobs(children=0)
    with pytest.raises(UsageError, match="reflections must be a whole number of at least 0"):
        LATSKnobs(reflections=-1)
    with pytest.raises(UsageError, match="exploration must be a number of at least 0"):
        LATSKnobs(exploration=-0.5)
