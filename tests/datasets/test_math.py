"""MATH loader and benchmark class, on the shared MATH-500 and MATH test files and small hand-made ones."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from agentledger.datasets.math import MATH, MATH500_URL, OFFICIAL_URL, SUBJECTS, load_math
from agentledger.datasets.math.loader import parse_level, parse_subject
from agentledger.errors import DataError, UsageError

# Counts from the data's PROVENANCE.md (levels, subjects) and from filtering the files here.
MATH500_LEVELS = {1: 43, 2: 90, 3: 105, 4: 128, 5: 134}
MATH500_SUBJECTS = {"Algebra": 124, "Intermediate Algebra": 97, "Prealgebra": 82, "Number Theory": 62,
                    "Precalculus": 56, "Geometry": 41, "Counting & Probability": 38}
FULL_LEVELS = {1: 437, 2: 894, 3: 1131, 4: 1214, 5: 1324}
FULL_SUBJECTS = {"Algebra": 1187, "Intermediate Algebra": 903, "Prealgebra": 871, "Precalculus": 546,
                 "Number Theory": 540, "Geometry": 479, "Counting & Probability": 474}


@pytest.fixture(scope="module")
def math_dir(shared_data: Path) -> Path:
    return shared_data / "math"


@pytest.fixture(scope="module")
def math500(math_dir: Path):
    return load_math(math_dir / "math500_test.jsonl")


@pytest.fixture(scope="module")
def full(math_dir: Path):
    return load_math(math_dir, split="full")


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def good(idx: int, answer: str = "7") -> str:
    return json.dumps({"problem": f"Problem {idx}", "level": "Level 2", "type": "Algebra",
                       "solution": f"So it is $\\boxed{{{answer}}}$.", "idx": idx})


# --------------------------------------------------------------------------- shared files


def test_math500_file_reads_all_500_with_their_ids_and_answers(math500):
    assert (math500.layout, math500.records_read, math500.skipped_malformed) == ("math500", 500, 0)
    first = math500.problems[0]
    assert first.task_id == "test/precalculus/807.json"
    assert first.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert (first.subject, first.level) == ("Precalculus", 2)
    assert len({p.task_id for p in math500.problems}) == 500
    assert Counter(p.level for p in math500.problems) == MATH500_LEVELS
    assert Counter(p.subject for p in math500.problems) == MATH500_SUBJECTS


def test_full_test_file_takes_the_answer_from_the_last_box(full):
    assert (full.layout, full.records_read, full.skipped_malformed) == ("math-test", 5000, 0)
    assert [p.task_id for p in full.problems[:3]] == ["math-test-0", "math-test-1", "math-test-2"]
    assert [p.answer for p in full.problems[:3]] == ["2", "10", "\\dfrac{9}{7}"]
    assert Counter(p.level for p in full.problems) == FULL_LEVELS
    assert Counter(p.subject for p in full.problems) == FULL_SUBJECTS


def test_every_math500_problem_is_in_the_full_test_set(math500, full):
    assert {p.problem for p in math500.problems} <= {p.problem for p in full.problems}


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"level": 5}, 134),
    ({"level": "Level 5"}, 134),
    ({"level": "1"}, 43),
    ({"subject": "Counting & Probability"}, 38),
    ({"subject": "counting_and_probability"}, 38),
    ({"subject": "intermediate-algebra"}, 97),
    ({"subject": "PRECALCULUS"}, 56),
    ({"level": 5, "subject": "counting and probability"}, 12),
    ({"level": 3, "subject": "algebra"}, 26),
])
def test_math500_filters_give_known_counts(math_dir, kwargs, expected):
    load = load_math(math_dir, **kwargs)
    assert len(load.problems) == expected
    assert load.records_read == 500


def test_full_filters_give_known_counts(math_dir):
    assert len(load_math(math_dir, split="full", level=5, subject="number_theory").problems) == 154
    assert len(load_math(math_dir, split="full", level="Level 1").problems) == 437


@pytest.mark.parametrize("bad", [0, 6, "Level six", "hard", True])
def test_unknown_level_lists_the_valid_ones(bad):
    with pytest.raises(DataError, match=r"unknown MATH level .*1, 2, 3, 4, 5"):
        parse_level(bad)


def test_unknown_subject_lists_the_seven():
    with pytest.raises(DataError) as err:
        parse_subject("Calculus")
    assert all(s in str(err.value) for s in SUBJECTS)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- finding the data


def test_no_data_names_the_env_var_and_official_downloads(monkeypatch):
    monkeypatch.delenv("AGENTLEDGER_MATH", raising=False)
    with pytest.raises(DataError) as err:
        MATH(None)
    msg = str(err.value)
    assert "AGENTLEDGER_MATH" in msg and MATH500_URL in msg and OFFICIAL_URL in msg


def test_env_var_gives_the_data_path(monkeypatch, math_dir):
    monkeypatch.setenv("AGENTLEDGER_MATH", str(math_dir))
    bench = MATH(None, level=1)
    assert len(bench.tasks()) == 43
    assert bench.describe()["path"].endswith("math500_test.jsonl")


def test_folder_without_the_split_file_says_what_it_wanted(tmp_path):
    with pytest.raises(DataError, match=r"no MATH full data in .*math_test_5000\.jsonl.*MATH\.tar"):
        load_math(tmp_path, split="full")
    with pytest.raises(DataError, match="unknown MATH split 'train'"):
        load_math(tmp_path, split="train")
    with pytest.raises(DataError, match="does not exist"):
        load_math(tmp_path / "nope.jsonl")


def test_release_folder_layout_is_read_in_subject_then_number_order(tmp_path):
    for subject, number in [("algebra", 10), ("algebra", 2), ("prealgebra", 1), ("geometry", 7)]:
        folder = tmp_path / "MATH" / "test" / subject
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{number}.json").write_text(json.dumps({
            "problem": f"{subject} {number}", "level": "Level 4", "type": subject.title(),
            "solution": f"$\\boxed{{\\frac{{{number}}}{{3}}}}$"}), encoding="utf-8")
    load = load_math(tmp_path, split="full")
    assert load.layout == "release"
    assert [p.task_id for p in load.problems] == ["test/algebra/2.json", "test/algebra/10.json",
                                                  "test/geometry/7.json", "test/prealgebra/1.json"]
    assert load.problems[1].answer == "\\frac{10}{3}"
    assert [p.subject for p in load_math(tmp_path, split="full", subject="geometry").problems] == ["Geometry"]


# --------------------------------------------------------------------------- malformed input


def malformed_file(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "test.jsonl", [
        good(0),
        "{not json",
        json.dumps({"problem": "no box", "solution": "it is 4", "idx": 2}),
        "",
        json.dumps([1, 2]),
        good(5, answer="\\frac{1}{\\sqrt{2}}"),
        json.dumps({"problem": "twice", "solution": "\\boxed{1}", "idx": 0}),
    ])


def test_malformed_lines_are_skipped_and_counted(tmp_path):
    load = load_math(malformed_file(tmp_path))
    assert [p.task_id for p in load.problems] == ["math-test-0", "math-test-5"]
    assert load.problems[1].answer == "\\frac{1}{\\sqrt{2}}"
    assert (load.records_read, load.skipped_malformed) == (2, 4)


def test_strict_fails_at_the_first_bad_line_with_file_and_line(tmp_path):
    path = malformed_file(tmp_path)
    with pytest.raises(DataError, match=rf"{path}:2: not JSON"):
        load_math(path, strict=True)
    path.write_text(good(0) + "\n" + json.dumps({"problem": "p", "solution": "s", "idx": 1}) + "\n")
    with pytest.raises(DataError, match=r"test\.jsonl:2: no 'answer' and no \\boxed"):
        load_math(path, strict=True)


def test_a_file_with_no_problem_at_all_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"holds no MATH problem \(2 malformed"):
        load_math(write_lines(tmp_path / "x.jsonl", ["[]", "{}"]))
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    with pytest.raises(DataError, match="not UTF-8"):
        load_math(binary)


# --------------------------------------------------------------------------- the benchmark class


def test_benchmark_tasks_envs_and_description(math_dir):
    bench = MATH(math_dir, level=5, subject="Geometry")
    tasks = bench.tasks()
    assert len(tasks) == 13 and len(bench.tasks(limit=4)) == 4
    assert all(t.fields["level"] == 5 and t.fields["subject"] == "Geometry" for t in tasks)
    assert tasks[0].reference and "\\boxed" not in tasks[0].prompt
    env = bench.new_env(tasks[0])
    assert set(env.tools) == set(MATH.tool_names) == {"calculate", "solve"}
    assert env.tool_backends == {"calculate": "local", "solve": "sympy"}
    assert asyncio.run(env.tools["calculate"]("6*7")) == "42"
    desc = bench.describe()
    assert (desc["name"], desc["records"], desc["tasks"], desc["level"], desc["subject"]) == (
        "math", 500, 13, 5, "Geometry")


def test_wolfram_without_app_id_is_a_usage_error(monkeypatch, math_dir):
    monkeypatch.delenv("WOLFRAM_APP_ID", raising=False)
    with pytest.raises(UsageError, match="set WOLFRAM_APP_ID"):
        MATH(math_dir, wolfram=True)
