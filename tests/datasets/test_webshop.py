"""WebShop data: the official 1000-product catalog, its cleaning, goal synthesis, data-path errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentledger.datasets.base import Task
from agentledger.datasets.webshop import ENV_VAR, WebShop, fixed_goals, load_catalog
from agentledger.datasets.webshop.catalog import parse_options, parse_pricing
from agentledger.datasets.webshop.goals import NO_PRICE_BOUND, PRICE_RANGE
from agentledger.errors import DataError, UsageError

CATALOG_SHA256 = "30a4765c3a327af72d9a9a95a6b2486d516f0fa1d3ecd83681901ce82a21b269"


@pytest.fixture(scope="module")
def data(shared_data: Path) -> Path:
    return shared_data / "webshop"


@pytest.fixture(scope="module")
def bench(data: Path) -> WebShop:
    return WebShop(data)


def test_catalog_counts_match_the_release(bench: WebShop) -> None:
    c = bench.catalog
    assert len(c.products) == 1000 and c.skipped_records == 0
    assert sum(1 for p in c.products if p.options) == 423  # 477 have options, 54 only null lists
    assert sum(1 for p in c.products if len(p.pricing) == 2) == 93
    assert sum(1 for p in c.products if p.price_tag == "$100.0") == 89  # empty pricing
    assert sum(1 for p in c.products if p.instruction_text) == 415
    assert {p.category for p in c.products} == {"beauty", "electronics", "garden", "fashion", "grocery"}
    assert sum(1 for p in c.products if p.category == "beauty") == 238
    assert c.catalog_file.sha256 == CATALOG_SHA256 and c.catalog_file.size_bytes == 4_467_013


def test_product_cleaning_of_known_records(bench: WebShop) -> None:
    table = bench.catalog.product("b06y3vldfb")  # any case
    assert table.name.startswith("Vhomes Lights Reclaimed Wood Console Table")
    assert table.pricing == (877.8,) and table.price_tag == "$877.8"
    assert table.options == {} and table.attributes == ("console table", "solid wood")
    assert table.query == "console tables" and table.rating == "N.A."
    assert table.bullet_points[1] == "Material:SOLID WOOD "
    pillow = bench.catalog.product("B0743JKHBV")
    assert list(pillow.options) == ["size"] and pillow.options["size"][:2] == ('16" x 16"', "18 x 18-inch")
    assert bench.catalog.prices["B0743JKHBV"] == 14.95
    ranged = [p for p in bench.catalog.products if len(p.pricing) == 2]
    for p in ranged:  # a range is charged a draw inside it
        assert min(p.pricing) <= bench.catalog.prices[p.asin] <= max(p.pricing)
        assert p.price_tag == f"${p.pricing[0]} to ${p.pricing[1]}"


def test_parse_pricing_and_options() -> None:
    assert parse_pricing("$17.99$23.99", "A") == ((17.99, 23.99), "$17.99 to $23.99")
    assert parse_pricing("$1,299.00", "A") == ((1299.0,), "$1299.0")
    assert parse_pricing("", "A") == ((100.0,), "$100.0")
    with pytest.raises(DataError, match="cannot read a price"):
        parse_pricing("$abc", "A")
    raw = {"Color": [{"value": " Black/White "}, {"value": "Navy"}], "Size": None}
    assert parse_options(raw, "A") == {"color": ("black | white", "navy")}
    with pytest.raises(DataError, match="option 'Size' must be a list"):
        parse_options({"Size": [{"name": "x"}]}, "A")


def test_goals_are_synthesised_and_fixed(bench: WebShop, data: Path) -> None:
    goals = bench.goals
    assert len(goals) == 6910
    assert [g.goal_id for g in goals[:3]] == ["fixed_0", "fixed_1", "fixed_2"]
    first = bench.goal("fixed_0")
    assert first.asin == "B0743JKHBV" and first.price_upper == 50.0
    assert first.goal_options == {"size": '28" x 28"'}
    assert first.attributes == ("double sided", "machine washable", "printing technology")
    assert first.instruction_text == ('Find me double sided, machine washable decorative pillows with printing '
                                      'technology with size: 28" x 28", and price lower than 50.00 dollars')
    again = fixed_goals(load_catalog(data / "items_shuffle_1000.json", data / "items_ins_v2_1000.json"))
    assert [g.as_dict() for g in again] == [g.as_dict() for g in goals]


def test_goal_rules_hold_for_every_goal(bench: WebShop) -> None:
    per_product: dict[str, int] = {}
    for g in bench.goals:
        per_product[g.asin] = per_product.get(g.asin, 0) + 1
        price = bench.catalog.prices[g.asin]
        above = [p for p in PRICE_RANGE if p > price][:4]
        if len(above) >= 2:
            assert g.price_upper in above[1:] and g.instruction_text.endswith(
                f", and price lower than {g.price_upper:.2f} dollars")
        else:
            assert g.price_upper == NO_PRICE_BOUND and "price lower than" not in g.instruction_text
    assert sum(1 for g in bench.goals if g.price_upper == NO_PRICE_BOUND) == 15
    for asin, count in per_product.items():  # one goal per option combination
        expected = 1
        for values in bench.catalog.by_asin[asin].options.values():
            expected *= len(values)
        assert count == expected
    assert len(per_product) == 415


def test_num_products_limits_catalog_and_goals(data: Path) -> None:
    small = WebShop(data, num_products=100)
    assert len(small.catalog.products) == 100 and small.index.size == 100
    assert {g.asin for g in small.goals} <= set(small.catalog.by_asin)
    assert 0 < len(small.goals) < 6910
    assert small.describe()["catalog"]["num_products"] == 100


def test_tasks_and_describe(bench: WebShop) -> None:
    tasks = bench.tasks(limit=3)
    assert [t.task_id for t in tasks] == ["fixed_0", "fixed_1", "fixed_2"]
    assert tasks[0].prompt == bench.goal("fixed_0").instruction_text
    assert tasks[0].fields["observation"] == f"WebShop [SEP] Instruction: [SEP] {tasks[0].prompt} [SEP] Search"
    assert len(bench.tasks()) == 6910
    meta = bench.describe()
    assert meta["catalog"]["name"] == "items_shuffle_1000.json" and meta["catalog"]["products"] == 1000
    assert meta["catalog"]["sha256"] == CATALOG_SHA256
    assert meta["goals"] == {"kind": "synthetic", "count": 6910, "ids": "fixed_0..fixed_6909", "seed": 233,
                             "source": "items_ins_v2_1000.json"}
    assert meta["search"]["documents"] == 1000 and 0 < meta["search"]["index_build_s"] < 2
    json.dumps(meta)  # trace metadata must be JSON


def test_unknown_goal_id_is_a_one_line_data_error(bench: WebShop) -> None:
    with pytest.raises(DataError, match=r"unknown WebShop goal id 'fixed_7000'; ids run from fixed_0 to fixed_6909") \
            as err:
        bench.goal("fixed_7000")
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="unknown WebShop goal id 'q1'"):
        bench.new_env(Task("q1", "buy something"))


def test_missing_data_names_the_needed_files(tmp_path: Path, data: Path, monkeypatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(DataError, match=f"set {ENV_VAR} to a folder holding items_shuffle_1000.json"):
        WebShop()
    with pytest.raises(DataError, match="does not exist"):
        WebShop(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"has no WebShop catalog: put items_shuffle_1000.json and "
                                        r"items_ins_v2_1000.json there \(download: https://github.com/princeton-nlp"):
        WebShop(tmp_path)
    (tmp_path / "items_shuffle_1000.json").write_bytes((data / "items_shuffle_1000.json").read_bytes())
    with pytest.raises(DataError, match="not its attributes file items_ins_v2_1000.json"):
        WebShop(tmp_path)
    (tmp_path / "items_shuffle.json").write_text("[]")
    with pytest.raises(DataError, match="several catalogs"):
        WebShop(tmp_path)
    monkeypatch.setenv(ENV_VAR, str(data))  # the env var is the fallback for --data
    assert len(WebShop().catalog.products) == 1000


def test_malformed_files_and_options(tmp_path: Path) -> None:
    (tmp_path / "items_shuffle_2.json").write_text(json.dumps({"asin": "B000000001"}))
    (tmp_path / "items_ins_v2_2.json").write_text("{}")
    with pytest.raises(DataError, match="is a JSON dict, not a list of products"):
        WebShop(tmp_path)
    (tmp_path / "items_shuffle_2.json").write_text(json.dumps([{"asin": "B000000001", "name": "x"}]))
    with pytest.raises(DataError, match="catalog record 0 lacks category, query, product_category"):
        WebShop(tmp_path)
    (tmp_path / "items_shuffle_2.json").write_text("[{")
    with pytest.raises(DataError, match="is not valid JSON"):
        WebShop(tmp_path)
    with pytest.raises(UsageError, match="unknown WebShop observation mode 'html'"):
        WebShop(tmp_path, observation_mode="html")


def test_human_goals_from_items_human_ins(tmp_path: Path, data: Path) -> None:
    products = json.loads((data / "items_shuffle_1000.json").read_bytes())[:20]
    attrs = json.loads((data / "items_ins_v2_1000.json").read_bytes())
    (tmp_path / "items_shuffle_20.json").write_text(json.dumps(products))
    (tmp_path / "items_ins_v2_20.json").write_text(json.dumps({p["asin"]: attrs[p["asin"]] for p in products}))
    a, b = products[0]["asin"], products[1]["asin"]
    human = {
        a: [{"asin": a, "instruction": "i want a reclaimed wood console table.", "attributes": [],
             "instruction_attributes": ["solid wood"], "instruction_options": []},
            {"asin": a, "instruction": "skipped: no attributes", "instruction_attributes": [],
             "instruction_options": []}],
        b: [{"asin": b, "instruction": "i need a blue one", "instruction_attributes": ["x"],
             "instruction_options": ["blue"]}],
    }
    (tmp_path / "items_human_ins.json").write_text(json.dumps(human))
    auto = WebShop(tmp_path)  # WebShop's default: human goals when the file is there
    assert auto.goal_kind == "human" and len(auto.goals) == 2
    console = next(g for g in auto.goals if g.asin == a)
    assert console.instruction_text.startswith("i want a reclaimed wood console table, and price lower than")
    assert console.goal_options == () and console.weight == 1.0
    assert auto.describe()["goals"]["source"] == "items_human_ins.json"
    synthetic = WebShop(tmp_path, goals="synthetic")
    assert synthetic.goal_kind == "synthetic" and all(g.asin in {p["asin"] for p in products}
                                                      for g in synthetic.goals)
    (tmp_path / "items_human_ins.json").unlink()
    with pytest.raises(DataError, match="human goals need items_human_ins.json"):
        WebShop(tmp_path, goals="human")
