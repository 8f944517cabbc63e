"""The WebShop shop over real HTTP: pages, navigation, purchases, concurrent sessions, clean shutdown."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from agentledger.datasets.base import Score
from agentledger.datasets.webshop import WebShop, WebShopEnv
from agentledger.datasets.webshop.env import clean_argument
from agentledger.errors import DataError, UsageError


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def bench(shared_data: Path):
    shop = WebShop(shared_data / "webshop")
    yield shop
    shop.close()


async def buy(bench: WebShop, goal_id: str, *, query: str | None = None, asin: str | None = None,
              options: dict[str, str] | None = None) -> tuple[WebShopEnv, list[str]]:
    """Search, open a product, pick options, buy: the observations seen on the way."""
    goal = bench.goal(goal_id)
    env = bench.new_env(bench.task(goal_id))
    seen = [await env.search(query or goal.name)]
    seen.append(await env.click(asin or goal.asin))
    for value in (dict(goal.goal_options) if options is None else options).values():
        seen.append(await env.click(value))
    seen.append(await env.click("Buy Now"))
    return env, seen


def test_server_answers_real_http(bench: WebShop) -> None:
    base = bench.url
    assert base.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=base, trust_env=False) as client:
        assert client.get("/healthz").text == "ok"
        page = client.get("/a1b2c3d4_fixed_0")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert bench.goal("fixed_0").instruction_text.replace('"', "&quot;") in page.text
        moved = client.post("/a1b2c3d4_fixed_0", data={"search_query": "Throw Pillow"})
        assert moved.status_code == 303
        assert moved.headers["location"] == "/search_results/a1b2c3d4_fixed_0?keywords=throw+pillow&page=1"
        results = client.get(moved.headers["location"])
        assert "Page 1 (Total results: 29)" in results.text and results.text.count('class="product-link"') == 10
        assert client.get("/a1b2c3d4_fixed_999999").status_code == 404
        assert "unknown goal 'fixed_999999'" in client.get("/a1b2c3d4_fixed_999999").text
        assert client.get("/search_results/neverseen_fixed_0?keywords=x").status_code == 404
        assert client.get("/search_results/a1b2c3d4_fixed_0?keywords=x&page=0").status_code == 400
        assert client.get("/item_page/a1b2c3d4_fixed_0/B000000000").status_code == 404
        assert client.get("/item_page/a1b2c3d4_fixed_0/B0743JKHBV?options=[1]").status_code == 400
        assert client.get("/session/a1b2c3d4_fixed_0").json() == {
            "session_id": "a1b2c3d4_fixed_0", "goal_id": "fixed_0", "purchase": None}


def test_search_returns_the_goal_product_on_page_one(bench: WebShop) -> None:
    async def main() -> str:
        env = bench.new_env(bench.task("fixed_1"))
        first = await env.reset()
        assert first == bench.task("fixed_1").fields["observation"]
        obs = await env.search(bench.goal("fixed_1").name)
        await env.aclose()
        return obs

    obs = run(main())
    instruction = bench.goal("fixed_1").instruction_text
    assert obs.startswith(f"Instruction: [SEP] {instruction} [SEP] Back to Search [SEP] Page 1 (Total results: ")
    assert " [SEP] Next > [SEP] " in obs and "B09QCP4579 [SEP] LWLW High Waist Yoga Shorts" in obs
    assert obs.count("[SEP] $") == 10  # ten products a page, each with its price


def test_scripted_purchase_of_the_goal_scores_one(bench: WebShop) -> None:
    async def main():
        env, seen = await buy(bench, "fixed_1")
        score = await bench.score(bench.task("fixed_1"), "", env)
        after = await env.click("Back to Search")
        await env.aclose()
        return env, seen, score, after

    env, seen, score, after = run(main())
    assert "[SEP] < Prev [SEP] color [SEP] black [SEP] blue [SEP] gray [SEP] purple [SEP] wine [SEP] size [SEP] small" in seen[1]
    assert seen[1].endswith("[SEP] Price: $13.99 [SEP] Rating: N.A. [SEP] Description [SEP] "
                            "Features [SEP] Reviews [SEP] Buy Now")
    assert seen[-1].startswith("Thank you for shopping with us! [SEP] Purchased [SEP] asin [SEP] B09QCP4579")
    assert seen[-1].endswith("Your score (min 0.0, max 1.0) [SEP] 1.0")
    assert score.value == 1.0 and score.correct
    assert score.detail["r_type"] == 1.0 and score.detail["r_att"] == 1.0 and score.detail["r_option"] == 1.0
    assert score.detail["r_price"] == 1.0 and score.detail["purchased"] == 1.0
    assert env.done and env.purchase["options"] == {"color": "black", "size": "3x-large"}
    assert after.startswith("The episode is over: you bought B09QCP4579 and scored 1.0")


def test_wrong_item_scores_less_with_its_components(bench: WebShop) -> None:
    async def main():
        env, seen = await buy(bench, "fixed_0", query="reclaimed wood console table", asin="B06Y3VLDFB", options={})
        other, _ = await buy(bench, "fixed_0", query="throw pillow covers", asin="B09HKZS7LV", options={})
        scores = [await bench.score(bench.task("fixed_0"), "", e) for e in (env, other)]
        with pytest.raises(UsageError, match="env of goal fixed_0 given to score task fixed_1"):
            await bench.score(bench.task("fixed_1"), "", env)
        unbought = bench.new_env(bench.task("fixed_0"))
        assert await bench.score(bench.task("fixed_0"), "B06Y3VLDFB", unbought) == Score(0.0, False, {"purchased": 0.0})
        assert (await bench.score(bench.task("fixed_0"), "", None)).value == 0.0
        await unbought.aclose()
        await env.aclose()
        await other.aclose()
        return scores

    table, pillow = run(main())
    assert table.value == 0.0 and not table.correct
    assert (table.detail["r_type"], table.detail["title_score"], table.detail["r_price"]) == (0.0, 0.0, 0.0)
    assert pillow.value == pytest.approx(0.2) and pillow.detail["r_type"] == 1.0
    assert pillow.detail["r_att"] == 0.0 and pillow.detail["r_option"] == 0.0 and pillow.detail["r_price"] == 1.0


def test_navigation_pages(bench: WebShop) -> None:
    async def main() -> list[str]:
        env = bench.new_env(bench.task("fixed_0"))
        seen = [await env.search("pillow")]
        seen.append(await env.click("next >"))
        seen.append(await env.click("< Prev"))
        seen.append(await env.click("B0743JKHBV"))
        seen.append(await env.click("Description"))
        seen.append(await env.click("< prev"))
        seen.append(await env.click("features"))
        seen.append(await env.click("Back to Search"))
        await env.aclose()
        return seen

    results, page2, page1, item, desc, item_again, features, search = run(main())
    assert "[SEP] Back to Search [SEP] Page 1 (Total results: 20) [SEP] Next > [SEP] B09DYFZM1X [SEP]" in results
    assert "[SEP] Back to Search [SEP] Page 2 (Total results: 20) [SEP] < Prev [SEP] B" in page2
    assert "Next >" not in page2 and page2.count("[SEP] $") == 10
    assert page1 == results
    assert "[SEP] Back to Search [SEP] < Prev [SEP] size [SEP] 16\" x 16\" [SEP] 18 x 18-inch" in item
    assert desc.split(" [SEP] ")[-1].startswith("Makeover and refresh your rooms with just a single touch!")
    assert "[SEP] Back to Search [SEP] < Prev [SEP] Makeover" in desc
    assert item_again == item
    assert "[SEP] < Prev [SEP] " in features and "Buy Now" not in features
    assert search == bench.task("fixed_0").fields["observation"]


def test_bad_actions_give_observations(bench: WebShop) -> None:
    async def main() -> list[str]:
        env = bench.new_env(bench.task("fixed_0"))
        out = [await env.click("Buy Now"), await env.search("   "), await env.click("search")]
        await env.search("pillow")
        out += [await env.click("B000NOTHERE"), await env.search("more pillows"), await env.click("")]
        await env.aclose()
        return out

    nothing, empty_search, search_button, missing, no_box, empty_click = run(main())
    assert nothing == "Invalid action: 'Buy Now' is not clickable; nothing on this page is. Use search[keywords] here."
    assert empty_search == "Invalid action: search needs keywords, e.g. search[blue running shoes]."
    assert search_button.startswith("Invalid action: 'search' is not clickable")
    assert missing.startswith("Invalid action: 'B000NOTHERE' is not on this page. Clickable here: "
                              "click[back to search], click[next >], click[b09dyfzm1x], click[b09hkzs7lv]")
    assert no_box.startswith("Invalid action: there is no search box on this page; click[Back to Search] first.")
    assert empty_click.startswith("Invalid action: click needs an element")


def test_lenient_mode_and_text_rich(shared_data: Path) -> None:
    async def main() -> list[str]:
        async with WebShop(shared_data / "webshop", observation_mode="text_rich", strict=False) as shop:
            env = shop.new_env(shop.task("fixed_0"))
            out = [await env.search("[pillow]"), await env.click("'B0743JKHBV'."), await env.click('28" x 28"'),
                   await env.search("console table")]
            await env.aclose()
        return out

    results, item, chosen, searched_again = run(main())
    assert "[button] Back to Search [button_]\nPage 1 (Total results: 20)\n[button] Next > [button_]" in results
    assert "\n\n[button] B0743JKHBV [button_]" in results
    assert '  [button] 28" x 28" [button_]' in item
    assert chosen.startswith('You have clicked 28" x 28".\n')
    assert '  [clicked button] 28" x 28" [clicked button_]' in chosen
    assert "Page 1 (Total results: " in searched_again and "console" in searched_again.lower()  # search from an item page went back first
    assert clean_argument(' ["Buy Now"] ') == "Buy Now" and clean_argument("x..") == "x.."


def test_concurrent_sessions_do_not_cross_talk(bench: WebShop) -> None:
    ids = [f"fixed_{i}" for i in range(40)]
    chosen: list[str] = []
    for goal_id in ids:  # 16 goals of 16 different products
        if bench.goal(goal_id).asin not in {bench.goal(c).asin for c in chosen}:
            chosen.append(goal_id)
    chosen = chosen[:16]
    assert len(chosen) == 16

    async def one(goal_id: str):
        env, seen = await buy(bench, goal_id)
        score = await bench.score(bench.task(goal_id), "", env)
        await env.aclose()
        return env, seen, score

    async def main():
        # two more sessions of one goal at the same time: one buys the wrong thing
        twin = buy(bench, chosen[0], query="console table", asin="B06Y3VLDFB", options={})
        return await asyncio.gather(*(one(g) for g in chosen), twin)

    start = time.perf_counter()
    *done, (twin_env, _) = run(main())
    took = time.perf_counter() - start
    for goal_id, (env, seen, score) in zip(chosen, done, strict=True):
        instruction = bench.goal(goal_id).instruction_text
        assert seen[0].startswith(f"Instruction: [SEP] {instruction} [SEP]")
        assert all(instruction in obs for obs in seen[1:-1])
        assert score.value == 1.0, (goal_id, score)
        assert env.purchase["asin"] == bench.goal(goal_id).asin
    assert twin_env.reward == 0.0 and done[0][0].reward == 1.0
    assert len({env.session_id for env, _, _ in done} | {twin_env.session_id}) == 17
    assert took < 20


def test_server_stops_cleanly(shared_data: Path) -> None:
    before = {t.ident for t in threading.enumerate()}
    shop = WebShop(shared_data / "webshop")

    async def main() -> tuple[int, str]:
        async with shop:
            port = int(shop.url.rsplit(":", 1)[1])
            env = shop.new_env(shop.task("fixed_2"))
            obs = await env.search("shorts")
            await env.aclose()
        return port, obs

    port, obs = run(main())
    assert "Total results" in obs
    assert not any(t.name == f"webshop-server-{port}" for t in threading.enumerate())
    assert {t.ident for t in threading.enumerate()} <= before
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # and the port is free
    with pytest.raises(DataError, match="the shop server is not running"):
        _ = shop._server.url
    assert run(shop.start()).startswith("http://127.0.0.1:")  # and it can start again
    shop.close()
