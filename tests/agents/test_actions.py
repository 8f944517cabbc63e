"""Action syntax: parsing (lenient, case-insensitive), failure messages, regexes against our own examples."""

from __future__ import annotations

import re

import pytest

from agentledger.agents.actions import (
    COT_REGEX,
    STEP_REGEX,
    Action,
    ParseFailure,
    cot_answer,
    episode_done,
    parse_action,
    parse_step,
    purchased,
    split_thought,
)
from agentledger.agents.fewshot import DEFAULT_SHOTS, few_shot_text, few_shots, instruction, user_text
from agentledger.agents.react import Step, Trajectory, clip_step
from agentledger.datasets.base import Task
from agentledger.errors import UsageError


@pytest.mark.parametrize(("text", "dataset", "expected"), [
    ("Thought: find him\nAction: Search[Barack Obama]", "hotpotqa", Action("search", "Barack Obama")),
    ("Thought: x\nAction: LOOKUP[born ]", "hotpotqa", Action("lookup", "born")),
    ("Thought 3: done\nAction 3: finish[Chief of Protocol]", "hotpotqa", Action("finish", "Chief of Protocol")),
    ("Action: Search [Paris]\nObservation: made up", "hotpotqa", Action("search", "Paris")),
    ("I should Search[Ed Wood] next.", "hotpotqa", Action("search", "Ed Wood")),
    ("**Thought:** t\n**Action:** Finish[yes]", "hotpotqa", Action("finish", "yes")),
    ("Thought: buy\nAction: click[Buy Now]", "webshop", Action("click", "Buy Now")),
    ("Thought: s\nAction: Search[red shoes size 9]", "webshop", Action("search", "red shoes size 9")),
    ("Thought: interval\nAction: Finish[(-\\infty, 3]]", "math", Action("finish", "(-\\infty, 3]")),
    ("Thought: t\nAction: calculator[2*(3+4)]", "math", Action("calculate", "2*(3+4)")),
    ("Thought: t\nAction: Solve[x^2 = 4]", "math", Action("solve", "x^2 = 4")),
    ("Thought: t\nAction: Finish[\\boxed{\\frac{1}{2}}]", "math", Action("finish", "\\boxed{\\frac{1}{2}}")),
])
def test_parse_action(text, dataset, expected):
    assert parse_action(text, dataset) == expected


def test_parse_code_actions():
    test = "Thought: try\nAction: Test\n```python\ndef f(x):\n    return [x]\n\nassert f(1) == [1]\n```"
    assert parse_action(test, "humaneval") == Action("run_tests", "def f(x):\n    return [x]\n\nassert f(1) == [1]")
    bracket = "Thought: ok\nAction: Finish[def f(x):\n    return [x]]"
    assert parse_action(bracket, "humaneval") == Action("finish", "def f(x):\n    return [x]")
    bare = "Here you go:\n```python\ndef f(x):\n    return x\n```\nDone."
    assert parse_action(bare, "humaneval") == Action("finish", "def f(x):\n    return x")
    cut = "Thought: t\nAction: run_tests\n```python\ndef f(x):\n    return x"  # cut off at max_tokens
    assert parse_action(cut, "humaneval") == Action("run_tests", "def f(x):\n    return x")


@pytest.mark.parametrize(("text", "dataset", "message"), [
    ("I am not sure what to do.", "hotpotqa", "no 'Action:' line was found"),
    ("Thought: t\nAction: Fly[away]", "hotpotqa", "unknown action 'Fly' (actions: finish, lookup, search)"),
    ("Thought: t\nAction: Search", "hotpotqa", "'Search' needs its argument in square brackets"),
    ("Thought: t\nAction: Search Barack Obama", "hotpotqa", "'Search Barack Obama' is not of the form Name[argument]"),
    ("Thought: t\nAction: Search[  ]", "hotpotqa", "'Search[]' has an empty argument"),
    ("Thought: t\nAction: Finish[B0EX4MPL01]", "webshop", "unknown action 'Finish' (actions: click, search)"),
    ("Thought: t\nAction: Test\n", "humaneval", "'run_tests' needs Python code after it"),
    ("Thought: t\nAction: Deploy\n```python\nx = 1\n```", "humaneval", "unknown action 'Deploy'"),
])
def test_parse_failures_say_what_is_wrong_and_the_syntax(text, dataset, message):
    got = parse_action(text, dataset)
    assert isinstance(got, ParseFailure)
    assert got.message.startswith(f"Invalid action: {message}")
    assert "Action:" in got.message and "Thought:" in got.message  # the syntax to use
    assert "\n" not in got.message


def test_unknown_dataset_is_a_programming_error():
    with pytest.raises(ValueError, match="no action syntax for dataset 'chess'"):
        parse_action("Action: Move[e4]", "chess")


def test_thought_and_step_clipping():
    text = "Thought 2: Ed Wood is American.\nAction 2: Finish[yes]\nObservation 2: invented\nThought 3: more"
    assert split_thought(text) == "Ed Wood is American."
    assert parse_step(text, "hotpotqa") == ("Ed Wood is American.", Action("finish", "yes"))
    assert clip_step(text, "hotpotqa") == "Thought 2: Ed Wood is American.\nAction 2: Finish[yes]"
    code = "Thought: t\nAction: Finish\n```python\nx = 1\n```\nThought: again"
    assert clip_step(code, "humaneval") == "Thought: t\nAction: Finish\n```python\nx = 1\n```"
    assert split_thought("no labels at all") == "no labels at all"
    assert clip_step("x" * 500, "hotpotqa") == "x" * 400 + " ..."


def _example_steps(example: str) -> list[str]:
    """The Thought+Action steps of a few-shot example (observations and the task removed)."""
    return [m.group(0) for m in re.finditer(r"Thought: .*?\nAction: .*?(?=\nObservation|\Z)", example, re.DOTALL)]


@pytest.mark.parametrize("dataset", ["hotpotqa", "webshop", "math", "humaneval"])
def test_every_example_step_matches_the_step_regex_and_parses(dataset):
    examples = few_shots(dataset, DEFAULT_SHOTS[("react", dataset)])
    steps = [s for ex in examples for s in _example_steps(ex)]
    assert len(steps) >= 2 * len(examples)
    for step in steps:
        assert re.fullmatch(STEP_REGEX[dataset], step), step
        assert isinstance(parse_action(step, dataset), Action), step
    finals = [parse_action(_example_steps(ex)[-1], dataset) for ex in examples]
    if dataset == "webshop":
        assert all(a == Action("click", "Buy Now") for a in finals)
    else:
        assert all(isinstance(a, Action) and a.is_finish for a in finals)


@pytest.mark.parametrize("dataset", ["hotpotqa", "math", "humaneval"])
def test_cot_examples_match_the_cot_regex_and_give_their_answer(dataset):
    for example in few_shots(dataset, DEFAULT_SHOTS[("cot", dataset)], style="cot"):
        reply = example.split("\n", 1)[1] if dataset != "humaneval" else example.split("```\n", 1)[1]
        assert re.fullmatch(COT_REGEX[dataset], reply), reply
        assert cot_answer(reply, dataset)
    assert cot_answer("Thought: t\nAnswer: Danube", "hotpotqa") == "Danube"
    assert cot_answer("I think it is the Danube.", "hotpotqa") == ""
    assert cot_answer("Solution: s\nAnswer: \\boxed{\\frac{1}{2}}", "math") == "\\frac{1}{2}"
    assert cot_answer("so x is\nAnswer: 7", "math") == "7"
    assert cot_answer("```python\ndef f():\n    return 1\n```", "humaneval") == "def f():\n    return 1"


def test_render_round_trips():
    for dataset, action in [("hotpotqa", Action("search", "Ed Wood")), ("webshop", Action("click", "Buy Now")),
                            ("math", Action("finish", "(0, 1]")), ("humaneval", Action("run_tests", "x = 1"))]:
        assert parse_action(f"Thought: t\nAction: {action.render(dataset)}", dataset) == action


def test_env_end_and_purchase():
    class Shop:
        done = True
        purchase = {"asin": "B0EX4MPL01", "reward": 1.0}

    assert episode_done(Shop()) and purchased(Shop()) == "B0EX4MPL01"
    assert not episode_done(object()) and purchased(object()) == ""


def test_fewshot_api():
    assert len(few_shots("hotpotqa", 6)) == 6 and few_shots("math", 0) == []
    assert few_shot_text("math", 0) == ""
    assert few_shot_text("math", 2).count("Question:") == 2
    with pytest.raises(UsageError, match="few-shot count must be 0 to 2 for react on webshop, not 5"):
        few_shots("webshop", 5)
    with pytest.raises(UsageError, match="no cot examples for webshop"):
        few_shots("webshop", 1, style="cot")
    with pytest.raises(UsageError, match="cot has no prompt for webshop"):
        instruction("webshop", "cot")
    assert "reflections" in instruction("hotpotqa", "reflexion") and "reflections" not in instruction("hotpotqa", "react")
    task = Task("t", "def f():\n", fields={"observation": "WebShop [SEP] page"})
    assert user_text(task, "humaneval") == "```python\ndef f():\n```"
    assert user_text(task, "webshop") == "WebShop [SEP] page"
    assert user_text(Task("q", " Who? "), "hotpotqa") == "Question: Who?"


def test_trajectory_segments_and_text():
    traj = Trajectory("hotpotqa", max_observation_chars=10)
    traj.steps += [Step("t", Action("search", "X"), "0123456789abc", 1, 2, "Thought: t\nAction: Search[X]"),
                   Step("", None, "", 3, error="boom"),
                   Step("d", Action("finish", "no"), "", 4, None, "Thought: d\nAction: Finish[no]", answer="no")]
    segs = traj.to_segments()
    assert [(s.category, s.role) for s in segs] == [("llm_history", "assistant"), ("tool_history", "user"),
                                                    ("llm_history", "assistant")]
    assert segs[1].text == "Observation: 0123456789 ..."
    assert traj.to_text() == ("Thought: t\nAction: Search[X]\nObservation: 0123456789 ...\n"
                              "Thought: d\nAction: Finish[no]\n")
    assert traj.finished and traj.answer == "no" and traj.steps[0].last_event_id == 2
