"""WebShop reward (goal.py get_reward), its fuzzy matching, and the FTS5 BM25 search index."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agentledger.datasets.webshop import SearchIndex, WebShop, get_reward
from agentledger.datasets.webshop.matching import normalize_color, process, title_nouns, token_set_ratio
from agentledger.datasets.webshop.search_index import fts_query


@pytest.fixture(scope="module")
def bench(shared_data: Path) -> WebShop:
    return WebShop(shared_data / "webshop")


def test_normalize_color_as_webshop() -> None:  # WebShop's own test cases
    cases = [("", ""), ("black forest", "black"), ("violet lavender", "lavender"),
             ("steelivy fuchsia", "fuchsia"), ("123alabaster", "alabaster"), ("webshop", "webshop")]
    assert [normalize_color(text) for text, _ in cases] == [want for _, want in cases]


def test_token_set_ratio_values() -> None:
    assert process("  Hand-Wash/Only ÉTÉ ") == "hand wash only t"
    assert token_set_ratio("fuzzy was a bear", "fuzzy fuzzy was a bear") == 100  # one set inside the other
    assert token_set_ratio("Machine Washable", "machine washable") == 100
    # common "wash"; ratio("wash hand", "wash machine") = 200 * (5 + LCS("hand", "machine") = 2) / 21
    assert token_set_ratio("machine wash", "hand wash") == 67
    assert token_set_ratio("hand", "machine") == 36  # no common token: 200 * 2 / 11
    assert token_set_ratio("", "x") == 0 and token_set_ratio("!!", "x") == 0
    assert token_set_ratio("long lasting", "long-lasting fragrance") == 100


def test_title_nouns_drop_function_words() -> None:
    assert title_nouns("The Best Console Table for Living Room, 3-Pack") == \
        ["console", "table", "living", "room", "pack"]


def test_own_product_with_goal_options_scores_one(bench: WebShop) -> None:
    goal = bench.goal("fixed_1")
    product = bench.catalog.product(goal.asin)
    reward = get_reward(product, goal, bench.catalog.prices[goal.asin], dict(goal.goal_options))
    assert reward.value == 1.0 and reward.r_type == 1.0 and reward.query_match and reward.category_match
    assert (reward.n_att_matched, reward.n_att, reward.n_opt_matched, reward.n_opt) == (4, 4, 2, 2)
    assert reward.as_detail()["w_att"] == pytest.approx(4 / 7) and reward.as_detail()["w_option"] == pytest.approx(2 / 7)


def test_wrong_option_and_price_cost_their_share(bench: WebShop) -> None:
    goal = bench.goal("fixed_0")  # pillow cover, size 28" x 28", 3 attributes, under $50
    product = bench.catalog.product(goal.asin)
    price = bench.catalog.prices[goal.asin]
    wrong_size = get_reward(product, goal, price, {"size": '40" x 40"'})
    assert wrong_size.value == pytest.approx(4 / 5) and wrong_size.r_option == 0.0
    # size is matched exactly, but WebShop also accepts an option written in the title ('16" x 16"')
    assert get_reward(product, goal, price, {"size": '16" x 16"'}).value == 1.0
    too_dear = get_reward(product, goal, 60.0, dict(goal.goal_options))
    assert too_dear.value == pytest.approx(4 / 5) and too_dear.r_price is False
    no_options = get_reward(product, goal, price, {})
    assert no_options.value == pytest.approx(4 / 5) and no_options.n_opt_matched == 0


def test_other_products_score_by_type(bench: WebShop) -> None:
    goal = bench.goal("fixed_0")
    # another pillow cover: same query and category, 4 of the 21 title nouns shared -> r_type 1, no attributes
    other = get_reward(bench.catalog.product("B09HKZS7LV"), goal, bench.catalog.prices["B09HKZS7LV"], {})
    assert other.value == pytest.approx(0.2) and other.r_type == 1.0 and other.query_match
    assert other.title_score == pytest.approx(4 / 21) and other.r_att == 0.0 and other.r_price
    # a console table: nothing shared -> r_type 0 and reward 0
    table = get_reward(bench.catalog.product("B06Y3VLDFB"), goal, bench.catalog.prices["B06Y3VLDFB"], {})
    assert table.value == 0.0 and table.r_type == 0.0 and table.title_score == 0.0
    assert not table.query_match and not table.category_match and not table.r_price


def test_index_builds_fast_and_finds_goal_products(bench: WebShop) -> None:
    start = time.perf_counter()
    index = SearchIndex(bench.catalog.products)
    took = time.perf_counter() - start
    assert index.size == 1000 and index.build_s <= took < 2.0
    firsts = {}
    for g in bench.goals:
        firsts.setdefault(g.asin, g)
    found = sum(g.asin in index.search(g.name)[:10] for g in firsts.values())
    assert found == len(firsts) == 415  # every goal product is on page 1 when searched by name
    assert index.search(bench.catalog.product("B06Y3VLDFB").name)[0] == "B06Y3VLDFB"
    index.close()


def test_search_query_syntax_is_neutralised(bench: WebShop) -> None:
    assert fts_query('red "OR" shoes* NEAR(a) red') == '"red" OR "or" OR "shoes" OR "near" OR "a"'
    assert bench.index.search('"*^(') == [] and bench.index.search("") == []
    hits = bench.index.search("pillow AND NOT cover")
    assert len(hits) == 50 and len(set(hits)) == 50  # top 50, as WebShop's SEARCH_RETURN_N
    assert bench.index.search("zzzzqqq") == []
