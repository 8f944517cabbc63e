"""HotpotQA loader, benchmark object and offline search/lookup tools, on the shared data files."""

from __future__ import annotations

import ast
import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from agentledger.datasets.base import Benchmark, TaskEnv
from agentledger.datasets.hotpotqa import ENV_VAR, OFFICIAL_URLS, HotpotQA, load_hotpotqa, read_file
from agentledger.datasets.hotpotqa.env import LOOKUP_SYNTAX, NO_MORE, NO_PAGE, SEARCH_SYNTAX
from agentledger.errors import DataError, UsageError

SIMPLIFIED = "hotpot_dev_v1_simplified.json"
DISTRACTOR = "hotpot_dev_distractor_v1_first103.json"
HF = "hotpotqa_dev_distractor_500_hf_format.jsonl"
IRCOT = "ircot_hotpotqa_dev_subsampled_500.jsonl"
DISTRACTOR_URL = "http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_dev_distractor_v1.json"


@pytest.fixture(scope="session")
def hq_dir(shared_data: Path) -> Path:
    return shared_data / "hotpotqa"


@pytest.fixture(scope="module")
def bench(hq_dir: Path, tmp_path_factory) -> HotpotQA:
    return HotpotQA(hq_dir, cache_dir=tmp_path_factory.mktemp("hq-cache"))


@pytest.fixture(scope="module")
def distractor(hq_dir: Path) -> list[dict]:
    return json.loads((hq_dir / DISTRACTOR).read_text(encoding="utf-8"))


def run(coro):
    return asyncio.run(coro)


# --------------------------------------------------------------------------- loading each file


def test_simplified_file(hq_dir):
    data = read_file(hq_dir / SIMPLIFIED)
    assert data.fmt == "simplified" and len(data.records) == 7405 and data.malformed == 0
    assert not data.has_context
    assert Counter(r.qtype for r in data.records) == {"bridge": 5918, "comparison": 1487}
    assert sum(r.answer.lower() in ("yes", "no") for r in data.records) == 458
    tasks = HotpotQA(hq_dir / SIMPLIFIED, wiki="online").tasks()
    assert len(tasks) == 7405
    assert tasks[17].task_id == "hotpotqa-dev-17"
    assert tasks[17].prompt == "Are Giuseppe Verdi and Ambroise Thomas both Opera composers ?"
    assert tasks[17].reference == "yes"
    assert tasks[17].fields["index"] == 17 and tasks[17].fields["type"] == "comparison"
    assert tasks[17].fields["level"] is None
    assert len({t.task_id for t in tasks}) == 7405


def test_distractor_file(hq_dir, distractor):
    data = read_file(hq_dir / DISTRACTOR)
    assert data.fmt == "distractor" and len(data.records) == 103
    assert sum(len(r.paragraphs) for r in data.records) == 1022
    assert sum(len(p.sentences) for r in data.records for p in r.paragraphs) == 4279
    assert len(data.records[27].paragraphs) == 2
    assert Counter(r.qtype for r in data.records) == {"bridge": 82, "comparison": 21}
    assert {r.level for r in data.records} == {"hard"}
    first = data.records[0]
    assert first.qid == "5a8b57f25542995d1e6f1371" == distractor[0]["_id"]
    assert first.supporting_titles == ("Scott Derrickson", "Ed Wood")
    tasks = HotpotQA(hq_dir / DISTRACTOR, wiki="online").tasks()
    assert [t.task_id for t in tasks] == [e["_id"] for e in distractor]
    assert [t.fields["index"] for t in tasks] == list(range(103))
    assert tasks[0].fields["level"] == "hard"


def test_hf_file(hq_dir):
    data = read_file(hq_dir / HF)
    assert data.fmt == "hf" and len(data.records) == 500
    assert sum(len(r.paragraphs) for r in data.records) == 4976
    assert len({p.title for r in data.records for p in r.paragraphs}) == 4943
    assert Counter(r.qtype for r in data.records) == {"bridge": 431, "comparison": 69}
    assert not any(r.answer.lower() in ("yes", "no") for r in data.records)
    assert data.records[0].answer == "Chief of Protocol"
    assert data.records[0].supporting_titles == ("Kiss and Tell (1945 film)", "Shirley Temple")
    tasks = HotpotQA(hq_dir / HF, wiki="online").tasks()
    assert tasks[0].task_id == "5a8c7595554299585d9e36b6" and tasks[0].fields["index"] is None


def test_ircot_file(hq_dir):
    data = read_file(hq_dir / IRCOT)
    assert data.fmt == "ircot" and len(data.records) == 500
    assert sum(len(r.paragraphs) for r in data.records) == 4931
    assert len({p.title for r in data.records for p in r.paragraphs}) == 4858
    assert sum(r.answer.lower() in ("yes", "no") for r in data.records) == 80
    first = data.records[0]
    assert first.qid == "5a8c7595554299585d9e36b6" and first.answer == "Chief of Protocol"
    temple = next(p for p in first.paragraphs if p.title == "Shirley Temple")
    # the joined paragraph is cut back into its two distractor sentences
    assert len(temple.sentences) == 2
    assert temple.sentences[1].startswith("As an adult, she was named United States ambassador")


def test_folder_combines_questions_and_context(bench, hq_dir):
    load = bench.load
    assert [f.path.name for f in load.files] == [DISTRACTOR, SIMPLIFIED, HF, IRCOT]
    assert [f.path.name for f in load.context_files] == [DISTRACTOR, HF, IRCOT]
    assert len({p.title for p in load.paragraphs()}) == 6636
    tasks = bench.tasks()
    assert len(tasks) == 7405 and bench.tasks(limit=3) == tasks[:3]
    assert {q.source for q in load.questions} == {SIMPLIFIED}
    # questions with context got their official _id, level and supporting titles from the other files
    with_context = [t for t in tasks if t.fields["has_context"]]
    assert len(with_context) == 681
    assert sum(not t.task_id.startswith("hotpotqa-dev-") for t in tasks) == 681
    assert all(t.fields["has_context"] for t in tasks[:535])  # dev index 0-534 is fully covered
    assert tasks[0].task_id == "5a8b57f25542995d1e6f1371" and tasks[0].fields["level"] == "hard"
    assert tasks[600].task_id == "hotpotqa-dev-600" and not tasks[600].fields["has_context"]
    assert len({t.task_id for t in tasks}) == 7405
    # every IRCoT question is one of the dev questions, with the same answer
    by_question = {t.prompt: t for t in tasks}
    for record in read_file(hq_dir / IRCOT).records:
        assert by_question[record.question].reference == record.answer
        assert by_question[record.question].task_id == record.qid
    info = bench.describe()
    assert info["context_titles"] == 6636 and info["index"]["pages"] == 6636
    assert info["tasks_with_context"] == 681 and info["malformed_skipped"] == 0
    assert info["tool_backend"] == "local_index" == bench.tool_backend
    assert isinstance(bench, Benchmark) and bench.name == "hotpotqa" and bench.tool_names == ("search", "lookup")


def test_filters(hq_dir, bench, tmp_path):
    cache = bench.cache_dir
    assert len(HotpotQA(hq_dir, cache_dir=cache, question_type="comparison").tasks()) == 1487
    assert len(HotpotQA(hq_dir, cache_dir=cache, require_context=True).tasks()) == 681
    hard = HotpotQA(hq_dir, cache_dir=cache, level="hard").tasks()
    # levels are known only where a distractor or HF record has the question: 103 + 500 - 91 shared
    assert len(hard) == 512 and {t.fields["level"] for t in hard} == {"hard"}
    bridge = HotpotQA(hq_dir / DISTRACTOR, cache_dir=cache, question_type="bridge").tasks(limit=5)
    assert len(bridge) == 5 and all(t.fields["type"] == "bridge" for t in bridge)
    with pytest.raises(DataError, match="valid values: bridge, comparison"):
        HotpotQA(hq_dir, cache_dir=cache, question_type="multi-hop")
    with pytest.raises(DataError, match="valid values: easy, medium, hard"):
        HotpotQA(hq_dir, cache_dir=cache, level="expert")
    with pytest.raises(DataError, match="valid splits: dev, train"):
        HotpotQA(hq_dir, cache_dir=cache, split="validation")
    with pytest.raises(UsageError, match="valid values: local, online"):
        HotpotQA(hq_dir, cache_dir=cache, wiki="bing")


def test_fullwiki_name_and_json_formats(hq_dir, distractor, tmp_path):
    path = tmp_path / "hotpot_dev_fullwiki_v1.json"
    path.write_text(json.dumps(distractor[:3]), encoding="utf-8")
    data = read_file(path)
    assert data.fmt == "fullwiki" and [r.qid for r in data.records] == [e["_id"] for e in distractor[:3]]
    bench = HotpotQA(path, cache_dir=tmp_path / "cache")
    assert bench.index.info.pages == len({t for e in distractor[:3] for t, _ in e["context"]})


# --------------------------------------------------------------------------- tools


def test_search_opens_supporting_pages(bench, distractor):
    """Known answers: every supporting page of the first 103 questions opens on its first sentence."""

    async def main():
        env = bench.new_env(bench.tasks(1)[0])
        checked = 0
        for entry in distractor:
            paragraphs = dict((title, sentences) for title, sentences in entry["context"])
            for title, _ in entry["supporting_facts"]:
                obs = await env.search(title)
                assert obs.startswith(paragraphs[title][0].strip()), (title, obs)
                assert env.page.title == title
                checked += 1
        return checked

    assert run(main()) >= 206
    obs = run(bench.new_env(bench.tasks(1)[0]).tools["search"]("  scott   DERRICKSON "))
    assert obs.startswith("Scott Derrickson (born July 16, 1966) is an American director, screenwriter and producer.")
    assert obs.endswith('"Doctor Strange."')


def test_search_shows_five_sentences(bench, hq_dir):
    sentences = [s for r in read_file(hq_dir / DISTRACTOR).records for p in r.paragraphs
                 if p.title == "New York Society of Model Engineers" for s in p.sentences]
    assert len(sentences) == 22
    obs = run(bench.new_env(bench.tasks(1)[0]).search("New York Society of Model Engineers"))
    assert obs == " ".join(s.strip() for s in sentences[:5])


def test_search_similar_titles(bench):
    env = bench.new_env(bench.tasks(1)[0])
    obs = run(env.search("Derrickson director"))
    assert obs.startswith("Could not find Derrickson director. Similar: [")
    similar = ast.literal_eval(obs[len("Could not find Derrickson director. Similar: "):-1])  # a list, as in ReAct
    assert len(similar) == 5 and similar[0] == "Scott Derrickson"
    titles = bench.index.titles()
    assert all(t in titles for t in similar)
    assert env.page is None  # a failed search opens nothing
    nothing = run(env.search("qqxyzzy"))
    assert nothing == "Could not find qqxyzzy. Similar: []."


def test_lookup_sequence(bench, distractor):
    sentences = dict((t, s) for t, s in distractor[0]["context"])["Conrad Brooks"]
    hits = [s.strip() for s in sentences if "film" in s.lower()]
    assert len(hits) == 3

    async def main():
        env = bench.new_env(bench.tasks(1)[0])
        out = [await env.lookup("film")]
        await env.search("Conrad Brooks")
        out += [await env.lookup("film") for _ in range(4)]
        out.append(await env.lookup("American"))  # a new keyword starts again
        out.append(await env.lookup("film"))
        await env.search("Qqxyzzy not a page")  # a failed search keeps page and position
        out.append(await env.lookup("film"))
        await env.search("Conrad Brooks")  # a search that opens a page resets
        out.append(await env.lookup("film"))
        return out

    out = run(main())
    assert out[0] == NO_PAGE
    assert out[1:5] == [f"(Result 1 / 3) {hits[0]}", f"(Result 2 / 3) {hits[1]}", f"(Result 3 / 3) {hits[2]}", NO_MORE]
    assert out[5] == f"(Result 1 / 1) {sentences[0].strip()}"
    assert out[6] == f"(Result 1 / 3) {hits[0]}"
    assert out[7] == f"(Result 2 / 3) {hits[1]}"
    assert out[8] == f"(Result 1 / 3) {hits[0]}"


@pytest.mark.parametrize("arg", ["", "   ", "[]", '""', "Scott\nDerrickson"])
def test_unparsable_arguments_get_syntax_observations(bench, arg):
    env = bench.new_env(bench.tasks(1)[0])
    assert run(env.search(arg)) == SEARCH_SYNTAX
    run(env.search("Ed Wood"))
    assert run(env.lookup(arg)) == LOOKUP_SYNTAX
    assert run(env.search('"Ed Wood"')).startswith("Edward Davis Wood Jr.")  # quotes are not part of the name


def test_envs_are_independent_and_concurrent(bench):
    titles = ["Scott Derrickson", "Ed Wood", "Shirley Temple", "Janet Waldo", "Meet Corliss Archer"] * 8

    async def main():
        envs = [bench.new_env(t) for t in bench.tasks(len(titles))]
        assert all(isinstance(e, TaskEnv) for e in envs)
        await asyncio.gather(*(e.search(title) for e, title in zip(envs, titles, strict=True)))
        return [e.page.title for e in envs]

    assert run(main()) == titles


def test_score_is_exact_match(bench):
    task = bench.tasks(1)[0]
    score = run(bench.score(task, "Yes"))
    assert score.correct is True and score.value == 1.0 and score.detail["f1"] == 1.0
    assert run(bench.score(task, "no")).value == 0.0


# --------------------------------------------------------------------------- bad input


def test_missing_data_names_file_and_url(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(DataError) as err:
        HotpotQA(None)
    message = str(err.value)
    assert "hotpot_dev_distractor_v1.json" in message and DISTRACTOR_URL in message and ENV_VAR in message
    assert OFFICIAL_URLS["hotpot_dev_distractor_v1.json"] == DISTRACTOR_URL
    with pytest.raises(DataError, match="does not exist.*hotpot_dev_distractor_v1.json"):
        HotpotQA(tmp_path / "nope.json")
    with pytest.raises(DataError, match="holds no HotpotQA file.*curtis.ml.cmu.edu"):
        HotpotQA(tmp_path)


def test_env_var_is_used(monkeypatch, hq_dir):
    monkeypatch.setenv(ENV_VAR, str(hq_dir / SIMPLIFIED))
    assert len(load_hotpotqa().questions) == 7405


def test_local_wiki_needs_context(hq_dir, tmp_path):
    with pytest.raises(DataError) as err:
        HotpotQA(hq_dir / SIMPLIFIED, cache_dir=tmp_path)
    assert "no context paragraphs" in str(err.value) and DISTRACTOR_URL in str(err.value)
    assert "online" in str(err.value)


def test_malformed_jsonl_lines(hq_dir, tmp_path):
    lines = (hq_dir / HF).read_text(encoding="utf-8").splitlines()[:5]
    bad = tmp_path / "broken.jsonl"
    bad.write_text("\n".join([lines[0], lines[1], '{"id": "x", "question": "cut off', lines[2],
                              '{"id": "y", "question": "q", "answer": "a", "context": {"title": ["t"]}}',
                              lines[3], lines[4]]) + "\n", encoding="utf-8")
    data = read_file(bad)
    assert len(data.records) == 5 and data.malformed == 2 and data.first_malformed == 3 and data.unit == "line"
    bench = HotpotQA(bad, cache_dir=tmp_path / "cache")
    assert bench.describe()["malformed_skipped"] == 2
    assert "broken.jsonl: 2 (first at line 3)" in bench.load.summary()
    with pytest.raises(DataError, match=r"broken\.jsonl:3: .*invalid JSON"):
        read_file(bad, strict=True)
    shape = tmp_path / "shape.jsonl"
    shape.write_text("\n".join([lines[0], '{"id": "y", "question": "q", "answer": "a", "context": {"title": ["t"]}}'])
                     + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"shape\.jsonl:2: .*'context' is not"):
        HotpotQA(shape, strict=True, cache_dir=tmp_path / "cache")


def test_damaged_or_foreign_files(tmp_path, hq_dir):
    damaged = tmp_path / "hotpot_dev_distractor_v1.json"
    damaged.write_text('[{"_id": "a", "question": "q",\n "answer": ', encoding="utf-8")
    with pytest.raises(DataError, match=r"hotpot_dev_distractor_v1\.json:2: invalid JSON"):
        read_file(damaged)
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"question": "q1", "answer": "a1", "type": "bridge"}, {"question": 7, "answer": "a2"},
                                  {"question": "q3", "answer": "a3", "type": "comparison"}]), encoding="utf-8")
    data = read_file(listed)
    assert [r.question for r in data.records] == ["q1", "q3"] and data.malformed == 1
    assert (data.first_malformed, data.unit) == (2, "element")
    with pytest.raises(DataError, match=r"list\.json, element 2: malformed element: field 'question' is int"):
        read_file(listed, strict=True)
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "notes.json").write_text('{"what": "not a question"}', encoding="utf-8")
    (folder / SIMPLIFIED).write_bytes((hq_dir / SIMPLIFIED).read_bytes())
    load = load_hotpotqa(folder)
    assert load.ignored == ("notes.json",) and len(load.questions) == 7405
    with pytest.raises(DataError, match="is not a HotpotQA file"):
        read_file(folder / "notes.json")
