"""The online Wikipedia backend, on MediaWiki answers served from fixture files (no network)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from agentledger.datasets.hotpotqa import HotpotQA, OnlineWiki, OnlineWikiError
from agentledger.datasets.hotpotqa.env import NO_MORE, HotpotQAEnv
from agentledger.datasets.hotpotqa.online import API_URL, USER_AGENT, page_from_extract

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hotpotqa" / "online"


class Recorded:
    """A MockTransport handler answering requests whose query parameters match a fixture exactly."""

    def __init__(self) -> None:
        self.answers = []
        for path in sorted(FIXTURES.glob("*.json")):
            fixture = json.loads(path.read_text(encoding="utf-8"))
            self.answers.append((fixture["request"], fixture["response"]))
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = dict(request.url.params)
        for wanted, response in self.answers:
            if params == wanted:
                return httpx.Response(200, json=response)
        return httpx.Response(404, json={"unexpected request": params})


def make(tmp_path: Path, handler=None, **kw) -> tuple[OnlineWiki, Recorded]:
    recorded = handler or Recorded()
    wiki = OnlineWiki(cache_dir=tmp_path, transport=httpx.MockTransport(recorded), retry_wait_s=0, **kw)
    return wiki, recorded


def run(coro):
    return asyncio.run(coro)


def test_search_opens_page_with_first_five_sentences(tmp_path):
    wiki, recorded = make(tmp_path)

    async def main():
        env = HotpotQAEnv(wiki)
        obs = await env.search("Scott Derrickson")
        lookups = [await env.lookup("Doctor Strange") for _ in range(4)]
        await wiki.aclose()
        return env, obs, lookups

    env, obs, lookups = run(main())
    # ReAct's cut: lines of more than two words, headings dropped, split at ". "
    assert obs == ("Scott Derrickson (born July 16, 1966) is an American filmmaker. He is best known for his work in the "
                   "horror genre, directing films such as The Exorcism of Emily Rose (2005), Sinister (2012) and The Black "
                   "Phone (2021). He is also known for the superhero film Doctor Strange (2016), based on the Marvel Comics "
                   "character. Derrickson grew up in Denver, Colorado. He graduated from Biola University with a B.A.")
    assert env.page.title == "Scott Derrickson" and not any("==" in s for s in env.page.sentences)
    assert lookups == [
        "(Result 1 / 3) He is also known for the superhero film Doctor Strange (2016), based on the Marvel Comics character.",
        "(Result 2 / 3) In June 2014, Marvel Studios announced that Derrickson would direct Doctor Strange, starring "
        "Benedict Cumberbatch.",
        "(Result 3 / 3) Derrickson was set to return for the sequel Doctor Strange in the Multiverse of Madness, but "
        "stepped down in January 2020, citing creative differences.",
        NO_MORE,
    ]
    request = recorded.requests[0]
    assert str(request.url).startswith(API_URL + "?")
    assert request.headers["User-Agent"] == USER_AGENT
    assert len(recorded.requests) == 1


def test_not_found_lists_similar_titles(tmp_path):
    wiki, recorded = make(tmp_path)
    obs = run(HotpotQAEnv(wiki).search("Scott Derickson"))
    assert obs == ("Could not find Scott Derickson. Similar: ['Scott Derrickson', 'Sinister (film)', 'The Black Phone', "
                   "'Deliver Us from Evil (2014 film)', 'C. Robert Cargill'].")
    assert [dict(r.url.params).get("list") for r in recorded.requests] == [None, "search"]


def test_case_and_redirects(tmp_path):
    wiki, recorded = make(tmp_path)

    async def main():
        upper, lower = HotpotQAEnv(wiki), HotpotQAEnv(wiki)
        return await upper.search("ED WOOD"), upper.page, await lower.search("ed wood"), lower.page

    upper_obs, upper_page, lower_obs, lower_page = run(main())
    # "ED WOOD" is no title; the search finds "Ed Wood", which matches case-insensitively and is opened
    assert upper_page.title == "Ed Wood" == lower_page.title  # "ed wood" is a redirect the API follows
    assert upper_obs == lower_obs
    assert upper_obs.startswith("Edward Davis Wood Jr. (October 10, 1924 – December 10, 1978) was an American "
                                "filmmaker, actor and pulp novelist. In the 1950s, Wood directed")
    assert [dict(r.url.params).get("titles") or dict(r.url.params)["srsearch"] for r in recorded.requests] == [
        "ED WOOD", "ED WOOD", "Ed Wood", "ed wood"]


def test_disambiguation_and_invalid_titles_are_not_found(tmp_path):
    wiki, _ = make(tmp_path)
    env = HotpotQAEnv(wiki)
    assert run(env.search("Mercury")) == ("Could not find Mercury. Similar: ['Mercury (planet)', 'Mercury (element)', "
                                          "'Mercury', 'Freddie Mercury', 'Mercury (mythology)'].")
    assert run(env.search("<x>")) == "Could not find <x>. Similar: []."
    assert env.page is None


def test_disk_cache_answers_repeats_and_later_runs(tmp_path):
    wiki, recorded = make(tmp_path)
    first = run(HotpotQAEnv(wiki).search("Scott Derickson"))
    assert len(recorded.requests) == 2 and wiki.requests_sent == 2
    assert run(HotpotQAEnv(wiki).search("Scott Derickson")) == first and len(recorded.requests) == 2
    cached = list((tmp_path / "online").rglob("*.json"))
    assert len(cached) == 2 and not list((tmp_path / "online").rglob("*.tmp"))

    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no network", request=request)

    later = OnlineWiki(cache_dir=tmp_path, transport=httpx.MockTransport(offline), retry_wait_s=0)
    assert run(HotpotQAEnv(later).search("Scott Derickson")) == first and later.requests_sent == 0
    uncached = OnlineWiki(cache_dir=tmp_path, transport=httpx.MockTransport(offline), retry_wait_s=0, use_cache=False)
    with pytest.raises(OnlineWikiError, match="unreachable: ConnectError: no network"):
        run(HotpotQAEnv(uncached).search("Scott Derickson"))
    assert uncached.requests_sent == 3  # two retries


def test_transient_errors_are_retried(tmp_path):
    recorded = Recorded()
    statuses = [503, 429]

    def flaky(request: httpx.Request) -> httpx.Response:
        if statuses:
            return httpx.Response(statuses.pop(0), headers={"Retry-After": "0"}, text="busy")
        return recorded(request)

    wiki, _ = make(tmp_path, flaky)
    assert run(HotpotQAEnv(wiki).search("Scott Derrickson")).startswith("Scott Derrickson (born July 16, 1966)")
    assert wiki.requests_sent == 3


def test_hard_failures_raise(tmp_path):
    def api_error(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error": {"code": "ratelimited", "info": "You've exceeded your rate limit."}})

    wiki, _ = make(tmp_path / "a", api_error)
    with pytest.raises(OnlineWikiError, match="API error ratelimited: You've exceeded"):
        run(wiki.fetch("Scott Derrickson"))
    wiki, _ = make(tmp_path / "b", lambda request: httpx.Response(403, text="Forbidden"))
    with pytest.raises(OnlineWikiError, match="HTTP 403"):
        run(wiki.fetch("Scott Derrickson"))
    wiki, _ = make(tmp_path / "c", lambda request: httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(OnlineWikiError, match="other than JSON"):
        run(wiki.fetch("Scott Derrickson"))
    assert not (tmp_path / "a" / "online").exists()  # failures are not cached


def test_page_from_extract_follows_react():
    page = page_from_extract("T", "Intro one. Intro two has words!\n\n== Heading ==\nToo short\nLast line ends here")
    assert page.sentences == ("Intro one.", "Intro two has words!", "Last line ends here.")


def test_benchmark_with_online_wiki(tmp_path, shared_data):
    bench = HotpotQA(shared_data / "hotpotqa" / "hotpot_dev_v1_simplified.json", wiki="online", cache_dir=tmp_path,
                     transport=httpx.MockTransport(Recorded()))

    async def main():
        env = bench.new_env(bench.tasks(1)[0])
        obs = await env.tools["search"]("Scott Derrickson")
        await bench.aclose()
        return obs

    assert run(main()).startswith("Scott Derrickson (born July 16, 1966) is an American filmmaker.")
    assert bench.tool_backend == "live_api" and bench.describe()["wiki"] == "online" and "index" not in bench.describe()
