"""HumanEval: the loader (packaged data and hand-made files), the scorer and the run_tests tool."""

from __future__ import annotations

import asyncio
import gzip
import json
import signal
from pathlib import Path

import pytest

from agentledger.datasets.base import Benchmark
from agentledger.datasets.humaneval import (
    ENV_VAR,
    HumanEval,
    Sandbox,
    SandboxLimits,
    answer_chunks,
    load_problems,
    packaged_path,
    strip_fences,
)
from agentledger.errors import DataError, UsageError

SAMPLE = [0, 2, 10, 12, 32, 38, 53, 85, 120, 163]  # include prompts with helper functions (10, 32, 38)


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def bench() -> HumanEval:
    return HumanEval(timeout_s=5.0)


@pytest.fixture(scope="module")
def tasks(bench: HumanEval) -> dict:
    return {t.task_id: t for t in bench.tasks()}


def problem_line(task_id: str = "X/0", **over) -> str:
    record = {"task_id": task_id, "prompt": "def f(x):\n    \"\"\"Double x.\"\"\"\n", "entry_point": "f",
              "canonical_solution": "    return 2 * x\n", "test": "def check(c):\n    assert c(2) == 4\n"}
    record.update(over)
    return json.dumps(record)


# --------------------------------------------------------------------------- loader


def test_packaged_data_has_164_problems_in_order(bench: HumanEval):
    assert packaged_path() is not None and packaged_path().name == "HumanEval.jsonl.gz"
    tasks = bench.tasks()
    assert len(tasks) == 164 and bench.load.skipped_malformed == 0
    assert [t.task_id for t in tasks[:3]] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert tasks[-1].task_id == "HumanEval/163"
    first = tasks[0]
    assert first.fields["entry_point"] == "has_close_elements"
    assert first.prompt.startswith("from typing import List\n\n\ndef has_close_elements(")
    assert "def check(candidate):" in first.fields["test"]
    assert first.reference == first.prompt + first.fields["canonical_solution"]
    assert [t.task_id for t in bench.tasks(limit=2)] == ["HumanEval/0", "HumanEval/1"]
    assert bench.describe()["problems"] == 164
    assert isinstance(bench, Benchmark) and bench.name == "humaneval" and bench.tool_names == ("run_tests",)
    with pytest.raises(UsageError, match="limit"):
        bench.tasks(limit=-1)


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path):
    path = tmp_path / "he.jsonl"
    lines = [problem_line("A/0"), "{not json", "[1, 2]", problem_line("A/1", entry_point="not a name"),
             problem_line("A/0"), "", json.dumps({"task_id": "A/2", "prompt": "x"}), problem_line("A/3")]
    path.write_text("\n".join(lines) + "\n")
    load = load_problems(path)
    assert [p.task_id for p in load.problems] == ["A/0", "A/3"]
    assert load.skipped_malformed == 5 and load.lines_read == 7
    assert "line 2: invalid JSON" in load.first_error
    with pytest.raises(DataError, match=r"he\.jsonl, line 2: invalid JSON.*strict=False"):
        load_problems(path, strict=True)


@pytest.mark.parametrize("line, reason", [
    ("[1]", "expected a JSON object"),
    (problem_line(test="  "), "empty test"),
    (problem_line(entry_point="f-g"), "is not a Python name"),
    (json.dumps({"task_id": "A", "prompt": "p"}), "entry_point, canonical_solution, test"),
])
def test_strict_names_file_line_and_reason(tmp_path: Path, line: str, reason: str):
    path = tmp_path / "he.jsonl"
    path.write_text(problem_line("ok") + "\n\n" + line + "\n")
    with pytest.raises(DataError, match=rf"line 3: .*{reason}"):
        load_problems(path, strict=True)


def test_gzip_file_env_var_and_missing_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    gz = tmp_path / "mine.jsonl.gz"
    gz.write_bytes(gzip.compress((problem_line("G/0") + "\n" + problem_line("G/1") + "\n").encode()))
    assert [t.task_id for t in HumanEval(gz).tasks()] == ["G/0", "G/1"]
    monkeypatch.setenv(ENV_VAR, str(gz))
    assert load_problems().path == gz
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope.jsonl"))
    with pytest.raises(DataError, match=f"does not exist: pass --data PATH or set {ENV_VAR}"):
        load_problems()
    with pytest.raises(DataError, match="is a directory"):
        load_problems(tmp_path)
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="holds no valid problem"):
        load_problems(tmp_path / "empty.jsonl")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataError, match="cannot read HumanEval file"):
        load_problems(tmp_path / "bad.gz")


# --------------------------------------------------------------------------- scoring


def test_canonical_solutions_pass_and_wrong_ones_fail(bench: HumanEval, tasks: dict):
    sample = [tasks[f"HumanEval/{i}"] for i in SAMPLE]

    async def go():
        good = await asyncio.gather(*(bench.score(t, t.fields["canonical_solution"]) for t in sample))
        bad = await asyncio.gather(*(bench.score(t, "    return None\n") for t in sample))
        return good, bad

    good, bad = run(go())
    assert [s.correct for s in good] == [True] * len(sample)
    assert all(s.value == 1.0 and s.detail["pass"] == 1.0 and s.detail["sandbox_wall_s"] < 5 for s in good)
    assert [s.correct for s in bad] == [False] * len(sample)
    assert all(s.value == 0.0 for s in bad)


def test_answer_forms_full_function_body_and_fences(bench: HumanEval, tasks: dict):
    t0, t10 = tasks["HumanEval/0"], tasks["HumanEval/10"]
    body = t0.fields["canonical_solution"]
    full_without_imports = "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n" + body
    fenced = f"Here is my solution:\n```python\n{full_without_imports}```\nand a usage example:\n```\nprint(1)\n```"
    unindented_body = "\n".join(line[4:] for line in body.splitlines())
    # make_palindrome uses the prompt's helper is_palindrome: the answer need not repeat it
    palindrome = ("def make_palindrome(string: str) -> str:\n    for i in range(len(string) + 1):\n"
                  "        if is_palindrome(string[i:]):\n            return string + string[:i][::-1]\n")
    wrong = full_without_imports.replace("distance < threshold", "distance > threshold")

    async def go():
        return [await bench.score(t0, a) for a in (full_without_imports, fenced, unindented_body, wrong, "???")] + \
               [await bench.score(t10, palindrome)]

    scores = run(go())
    assert [s.correct for s in scores] == [True, True, True, False, False, True]
    assert scores[3].detail["failed_asserts"] == 1.0 and scores[4].detail["errored"] == 1.0


def test_answer_chunks_choose_body_or_function():
    prompt = "def f(x):\n    \"\"\"Double.\"\"\"\n"
    whole = answer_chunks(prompt, "f", "def check(c): pass", "def f(x):\n    return 2 * x\n")
    assert [c.name for c in whole] == ["prompt.py", "answer.py", "test.py"]
    assert whole[2].source.endswith("\n\ncheck(f)\n")
    body = answer_chunks(prompt, "f", "def check(c): pass", "return 2 * x")
    assert [c.name for c in body] == ["answer.py", "test.py"]
    assert body[0].source == prompt + "    return 2 * x\n"


def test_strip_fences():
    assert strip_fences("```python\na = 1\n```") == "a = 1\n"
    assert strip_fences("```py\ndef g(): pass\n```\ntext\n```\ndef f(): pass\n```", "f") == "def f(): pass\n"
    assert strip_fences("```\na = 1\n```\n```\nb = 2\n```") == "a = 1\n\nb = 2\n"
    assert strip_fences("```python\ndef f(): pass") == "def f(): pass"  # cut off, never closed
    assert strip_fences("x = 1") == "x = 1"


def test_timeout_score_is_a_fail(tasks: dict):
    quick = HumanEval(timeout_s=1.0)
    score = run(quick.score(tasks["HumanEval/0"], "    while True:\n        pass\n"))
    assert not score.correct and score.detail["timed_out"] == 1.0
    assert 1.0 <= score.detail["sandbox_wall_s"] < 3.0


def test_the_cpu_limit_striking_first_is_a_timeout_too():
    # the CPU limit equals the wall limit, so a busy loop may be stopped by either; both are a timeout
    res = Sandbox(SandboxLimits(timeout_s=1.0))._result(b"", 0, b"", -signal.SIGXCPU, False, 1.0)
    assert res.status == "timeout" and "CPU time limit of 1 s" in res.error
    crashed = Sandbox(SandboxLimits(timeout_s=1.0))._result(b"", 0, b"", -signal.SIGKILL, False, 0.2)
    assert crashed.status == "crashed" and "SIGKILL" in crashed.error


# --------------------------------------------------------------------------- run_tests tool


def test_run_tests_pass_fail_error_and_syntax(bench: HumanEval, tasks: dict):
    tool = bench.new_env(tasks["HumanEval/0"]).tools["run_tests"]
    good = "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n" + \
           tasks["HumanEval/0"].fields["canonical_solution"]

    async def go():
        return [await tool(arg) for arg in (
            good + "assert has_close_elements([1.0, 1.05], 0.1)\nassert not has_close_elements([1.0, 2.0], 0.5)\n",
            good + "print('checking')\nassert has_close_elements([1.0, 1.05], 0.1) == True\n"
                   "assert has_close_elements([1.0, 2.0], 0.5) == True\nassert has_close_elements([], 1.0) is None\n",
            good + "assert has_close_elements([1.0], 1.0) == False\nx = 1 / 0\nassert False\n",
            "def f(:\n  pass",
            "   ",
            "```python\n" + good + "```",
        )]

    passed, failed, error, syntax, empty, no_asserts = run(go())
    assert passed == "run_tests: PASSED: all 2 asserts passed."
    assert failed.startswith("run_tests: FAILED: 1 of 3 top-level asserts passed, 2 failed.\n")
    assert "- line 12: assert has_close_elements([1.0, 2.0], 0.5) == True -> got False, expected True" in failed
    assert "- line 13: assert has_close_elements([], 1.0) is None -> assertion is false" in failed
    assert failed.endswith("output:\nchecking")
    assert error.startswith("run_tests: ERROR: the code raised an exception (1 top-level asserts ran before it, all passed).\nerror:\n")
    assert 'File "solution.py", line 11, in <module>' in error and "ZeroDivisionError: division by zero" in error
    assert syntax.startswith("run_tests: ERROR") and "SyntaxError" in syntax and "line 1" in syntax
    assert empty.startswith("run_tests needs code in the brackets: run_tests[<Python code")
    assert "no top-level assert statements" in no_asserts


def test_run_tests_output_is_truncated():
    env_tool = HumanEval(timeout_s=5.0).new_env(
        HumanEval(timeout_s=5.0).tasks(limit=1)[0]).tools["run_tests"]
    obs = run(env_tool("print('ab' * 50_000)\nassert True\n"))
    assert obs.startswith("run_tests: PASSED: all 1 asserts passed.\noutput (first 2000 characters of 100001 bytes):")
    assert obs.endswith("ab" * 1000)


def test_sandbox_limits_are_checked():
    with pytest.raises(UsageError, match="timeout_s must be > 0"):
        SandboxLimits(timeout_s=0)
    with pytest.raises(UsageError, match="memory_mb=10 is too small"):
        SandboxLimits(memory_mb=10)
    with pytest.raises(UsageError, match="guards must be"):
        Sandbox(SandboxLimits(guards="none"))
