"""The Wolfram|Alpha ``solve`` backend, on recorded Full Results API responses served by httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from agentledger.datasets.math import MATH, WolframAlpha, WolframError
from agentledger.datasets.math.wolfram import API_URL, format_result
from agentledger.errors import UsageError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "math"
APP_ID = "TEST-APPID-1234"
RECORDED = {  # query the agent wrote -> recorded response
    "x^2 - 5x + 6 = 0": "wolfram_quadratic.json",
    "integrate x^2 from 0 to 1": "wolfram_integral.json",
    "sovle the quadratik xx^^2 thingy": "wolfram_not_understood.json",
}


def recorded(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class Api:
    """A stand-in for api.wolframalpha.com that checks each request and answers from the fixtures."""

    def __init__(self, app_id: str = APP_ID, status: int = 200, body: bytes | None = None,
                 raise_exc: Exception | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.app_id, self.status, self.body, self.raise_exc = app_id, status, body, raise_exc

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.raise_exc is not None:
            raise self.raise_exc
        if self.body is not None:
            return httpx.Response(self.status, content=self.body)
        params = request.url.params
        assert str(request.url.copy_with(query=None)) == API_URL
        assert (params["output"], params["format"]) == ("json", "plaintext")
        if params["appid"] != self.app_id:
            return httpx.Response(200, json=recorded("wolfram_invalid_appid.json"))
        return httpx.Response(200, json=recorded(RECORDED[params["input"]]))


def ask(query: str, api: Api, app_id: str = APP_ID) -> str:
    async def go() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
            return await WolframAlpha(app_id, client=client)(query)

    return asyncio.run(go())


def test_solution_pods_become_the_observation():
    api = Api()
    out = ask("  x^2 -  5x + 6 = 0 ", api)
    assert api.requests[0].url.params["input"] == "x^2 - 5x + 6 = 0"
    assert out.splitlines() == [
        "Input: x^2 - 5 x + 6 = 0",
        "Alternate forms: (x - 3) (x - 2) = 0; x^2 = 5 x - 6",
        "Solutions: x = 2; x = 3",
        "Sum of roots: 5",
    ]  # the two plots have no plaintext and are left out


def test_definite_integral_result():
    out = ask("integrate x^2 from 0 to 1", Api())
    assert out.startswith("Definite integral: integral_0^1 x^2 dx = 1/3")


def test_a_query_it_does_not_understand_is_an_observation_with_suggestions():
    out = ask("sovle the quadratik xx^^2 thingy", Api())
    assert out.startswith("Wolfram|Alpha did not understand")
    assert "did you mean: 'solve the quadratic', 'quadratic'" in out


def test_rejected_app_id_raises_without_leaking_it():
    with pytest.raises(WolframError, match="rejected the app id \\(Invalid appid\\): check WOLFRAM_APP_ID") as err:
        ask("x^2 - 5x + 6 = 0", Api(), app_id="WRONG-ID-9")
    assert "WRONG-ID-9" not in str(err.value)


@pytest.mark.parametrize(("api", "message"), [
    (Api(status=503, body=b"Service Unavailable"), "HTTP 503: Service Unavailable"),
    (Api(body=b"<html>not json</html>"), "not JSON"),
    (Api(body=b"[1, 2]"), "not an object"),
    (Api(body=b'{"something": 1}'), "without a 'queryresult'"),
    (Api(body=b'{"queryresult": {"success": false, "error": {"code": "2", "msg": "Appid missing"}}}'),
     "rejected the app id"),
    (Api(body=b'{"queryresult": {"success": false, "error": {"code": "1000", "msg": "Internal"}}}'),
     "API error 1000: Internal"),
    (Api(raise_exc=httpx.ReadTimeout(f"timed out reading {API_URL}?appid={APP_ID}")), "ReadTimeout"),
])
def test_api_failures_raise_wolfram_errors(api, message):
    with pytest.raises(WolframError, match=message) as err:
        ask("x^2 - 5x + 6 = 0", api)
    assert APP_ID not in str(err.value)


def test_empty_query_is_answered_without_a_request():
    api = Api()
    assert "empty query" in ask("   ", api)
    assert api.requests == []


def test_single_didyoumean_object_and_empty_success():
    body = {"queryresult": {"success": False, "error": False, "didyoumeans": {"val": "2+2", "score": "0.9"}}}
    assert "did you mean: '2+2'" in format_result("2++2", body)
    assert "no text result" in format_result("plot x", {"queryresult": {"success": True, "pods": [
        {"title": "Plot", "subpods": [{"plaintext": ""}]}]}})


def test_blank_app_id_is_a_usage_error():
    with pytest.raises(UsageError, match="set WOLFRAM_APP_ID"):
        WolframAlpha("  ")


def test_math_benchmark_routes_solve_to_wolfram(monkeypatch, shared_data):
    monkeypatch.setenv("WOLFRAM_APP_ID", APP_ID)
    api = Api()

    async def go() -> tuple[str, str]:
        client = httpx.AsyncClient(transport=httpx.MockTransport(api))
        bench = MATH(shared_data / "math", wolfram=True, http_client=client)
        env = bench.new_env(bench.tasks(1)[0])
        try:
            return env.tool_backends["solve"], await env.tools["solve"]("x^2 - 5x + 6 = 0")
        finally:
            await bench.aclose()
            await client.aclose()

    backend, out = asyncio.run(go())
    assert backend == "wolfram" and "Solutions: x = 2; x = 3" in out
    assert api.requests[0].url.params["appid"] == APP_ID
