"""The offline Wikipedia index: one build over all shared files, the on-disk cache, atomic builds, threads."""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agentledger.datasets.hotpotqa import HotpotQA, build_index, load_hotpotqa, normalize_title
from agentledger.datasets.hotpotqa.formats import Paragraph
from agentledger.errors import DataError

DISTRACTOR = "hotpot_dev_distractor_v1_first103.json"


@pytest.fixture(scope="module")
def hq_dir(shared_data: Path) -> Path:
    return shared_data / "hotpotqa"


def test_build_then_cache_hit(hq_dir, tmp_path):
    calls: list[tuple[int, int]] = []
    start = time.perf_counter()
    first = HotpotQA(hq_dir, cache_dir=tmp_path, progress=lambda done, total: calls.append((done, total)))
    build_wall_s = time.perf_counter() - start
    info = first.index.info
    assert info.cache_hit is False and info.pages == 6636 and info.paragraphs_read == 1022 + 4976 + 4931
    assert calls[-1] == (10929, 10929) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert 0 < info.build_s <= build_wall_s
    assert sorted(p.name for p in tmp_path.iterdir()) == [info.path.name]  # no temporary file left behind

    second = HotpotQA(hq_dir, cache_dir=tmp_path, progress=lambda done, total: calls.append((-1, -1)))
    again = second.index.info
    assert again.cache_hit is True and again.path == info.path and again.key == info.key
    assert again.build_s == pytest.approx(info.build_s, abs=1e-5)  # the build time recorded at build
    assert again.open_s < info.open_s and again.open_s < 0.5
    assert calls[-1] != (-1, -1)  # a cache hit does not report build progress
    assert second.index.page("Scott Derrickson").sentences[1] == " He lives in Los Angeles, California."


def test_changed_input_rebuilds(hq_dir, tmp_path):
    data = json.loads((hq_dir / DISTRACTOR).read_text(encoding="utf-8"))
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / DISTRACTOR
    path.write_text(json.dumps(data[:4]), encoding="utf-8")
    cache = tmp_path / "cache"
    before = HotpotQA(path, cache_dir=cache).index.info
    assert HotpotQA(path, cache_dir=cache).index.info.cache_hit is True
    data[0]["context"][1][1][1] = " He lives in Denver, Colorado."  # Scott Derrickson's second sentence
    path.write_text(json.dumps(data[:4]), encoding="utf-8")
    bench = HotpotQA(path, cache_dir=cache)
    after = bench.index.info
    assert after.cache_hit is False and after.key != before.key and after.path != before.path
    assert bench.index.page("Scott Derrickson").sentences[1] == " He lives in Denver, Colorado."
    # the same content under another name and folder is the same index
    moved = tmp_path / "elsewhere.json"
    shutil.copy(path, moved)
    assert HotpotQA(moved, cache_dir=cache).index.info.path == after.path


def test_crashed_build_leaves_nothing(tmp_path):
    paragraphs = [Paragraph(f"Title {i}", (f"Sentence about {i}.",)) for i in range(5000)]

    def crash(done: int, total: int) -> None:
        raise KeyboardInterrupt("killed mid-build")

    with pytest.raises(KeyboardInterrupt):
        build_index(iter(paragraphs), ["input-a"], cache_dir=tmp_path, progress=crash, total=5000)
    assert list(tmp_path.iterdir()) == []
    index = build_index(iter(paragraphs), ["input-a"], cache_dir=tmp_path)
    assert index.info.cache_hit is False and index.info.pages == 5000
    assert index.page("title 4321").title == "Title 4321"


def test_damaged_cache_file_is_rebuilt(tmp_path):
    paragraphs = [Paragraph("Alpha", ("Alpha is a letter.",))]
    index = build_index(paragraphs, ["x"], cache_dir=tmp_path)
    path = index.info.path
    index.close()
    path.write_bytes(b"not an sqlite file at all" * 100)
    rebuilt = build_index(paragraphs, ["x"], cache_dir=tmp_path)
    assert rebuilt.info.cache_hit is False and rebuilt.page("alpha").sentences == ("Alpha is a letter.",)


def test_no_paragraphs_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no context paragraphs"):
        build_index([], ["empty"], cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_duplicate_titles_keep_the_first_copy(tmp_path):
    paragraphs = [Paragraph("Ed Wood", ("First copy.",)), Paragraph("Ed Wood", ("Second copy.",)),
                  Paragraph("ed wood", ("Other case.",))]
    index = build_index(paragraphs, ["dups"], cache_dir=tmp_path)
    assert index.info.pages == 2 and index.info.paragraphs_read == 3
    assert index.page("Ed Wood").sentences == ("First copy.",)
    assert index.page("ed wood").sentences == ("Other case.",)  # an exact title wins over a normalized one
    assert index.page("ED  WOOD").sentences == ("First copy.",)
    assert normalize_title("  Ed_Wood\u00a0(film) ") == "ed wood (film)"


def test_queries_from_many_threads(hq_dir, tmp_path):
    load = load_hotpotqa(hq_dir)
    index = build_index(load.paragraphs(), [f.sha256 for f in load.context_files], cache_dir=tmp_path)
    titles = sorted({p.title for p in load.paragraphs()})[:400]
    expected = [index.page(t).sentences for t in titles]
    expected_similar = [index.similar(t) for t in titles[:50]]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda t: index.page(t).sentences, titles))
        similar = list(pool.map(index.similar, titles[:50]))
    assert got == expected
    assert similar == expected_similar and all(1 <= len(s) <= 5 for s in similar)
    index.close()
    assert index.page(titles[0]).sentences == expected[0]  # reopens its connection after close
