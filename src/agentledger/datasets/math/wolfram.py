"""The ``solve[query]`` tool backed by the real Wolfram|Alpha Full Results API (``--wolfram``).

One GET per call to ``https://api.wolframalpha.com/v2/query`` with ``appid``, ``input``,
``output=json`` and ``format=plaintext``, over an ``httpx.AsyncClient`` with a timeout. The
observation is the plaintext of the result pods, one line per pod ("Title: text; text"), the
input interpretation first, plots (no plaintext) skipped, cut at :data:`MAX_OUTPUT_CHARS`.

A query Wolfram|Alpha does not understand (``success: false``) is an observation, with its
"did you mean" suggestions. A rejected app id, an API error object, an HTTP error status, a
transport error or a body that is not the API's JSON raise :class:`WolframError`: a real
failure, recorded as a failed tool call. Messages never contain the app id.

The app id comes from ``$WOLFRAM_APP_ID`` (:meth:`WolframAlpha.from_env` raises ``UsageError``
saying to set it) or is passed in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

from ...errors import AgentledgerError, UsageError

__all__ = ["API_URL", "APP_ID_ENV", "MAX_OUTPUT_CHARS", "WolframError", "WolframAlpha", "format_result"]

API_URL = "https://api.wolframalpha.com/v2/query"
APP_ID_ENV = "WOLFRAM_APP_ID"
MAX_OUTPUT_CHARS = 2000
_MAX_PODS = 8


class WolframError(AgentledgerError):
    """The Wolfram|Alpha API could not be used (bad app id, HTTP or transport error, bad body)."""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def format_result(query: str, body: Mapping[str, Any]) -> str:
    """The observation for a parsed API response; raises :class:`WolframError` for API errors."""
    result = body.get("queryresult")
    if not isinstance(result, Mapping):
        raise WolframError("Wolfram|Alpha answered without a 'queryresult' object; is the API URL right?")
    error = result.get("error")
    if isinstance(error, Mapping):
        msg, code = str(error.get("msg", "unknown error")), str(error.get("code", "?"))
        if "appid" in msg.lower():
            raise WolframError(f"Wolfram|Alpha rejected the app id ({msg}): check {APP_ID_ENV}")
        raise WolframError(f"Wolfram|Alpha API error {code}: {msg}")
    if not result.get("success"):
        suggestions = [str(d.get("val")) for d in _as_list(result.get("didyoumeans"))
                       if isinstance(d, Mapping) and d.get("val")]
        text = f"Wolfram|Alpha did not understand {query[:80]!r}"
        if suggestions:
            text += "; did you mean: " + ", ".join(repr(s) for s in suggestions[:3])
        return text + ". Rephrase it as math, e.g. solve[x^2 - 5x + 6 = 0]"
    lines = []
    for pod in _as_list(result.get("pods")):
        if not isinstance(pod, Mapping):
            continue
        texts = [str(sub.get("plaintext")).strip() for sub in _as_list(pod.get("subpods"))
                 if isinstance(sub, Mapping) and str(sub.get("plaintext") or "").strip()]
        if texts:
            lines.append(f"{pod.get('title') or pod.get('id') or 'Result'}: {'; '.join(texts)}")
        if len(lines) == _MAX_PODS:
            break
    if not lines:
        return f"Wolfram|Alpha understood {query[:80]!r} but returned no text result"
    text = "\n".join(lines)
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + f" ... (cut: {len(text):,} characters in all)"
    return text


class WolframAlpha:
    """The async ``solve`` tool on Wolfram|Alpha. Owns its HTTP client unless one is passed in."""

    backend = "wolfram"

    def __init__(
        self,
        app_id: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 20.0,
        url: str = API_URL,
    ) -> None:
        if not app_id or not app_id.strip():
            raise UsageError(f"the Wolfram|Alpha backend needs an app id: set {APP_ID_ENV} "
                             "(get one at https://developer.wolframalpha.com)")
        self._app_id = app_id.strip()
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))
        self._timeout = httpx.Timeout(timeout_s)
        self._url = url

    @classmethod
    def from_env(cls, **kwargs: Any) -> WolframAlpha:
        """A client with the app id from ``$WOLFRAM_APP_ID``; ``UsageError`` if it is not set."""
        return cls(os.environ.get(APP_ID_ENV, ""), **kwargs)

    def _hide(self, text: str) -> str:
        return text.replace(self._app_id, "***")

    async def __call__(self, argument: str) -> str:
        query = " ".join(argument.split())
        if not query:
            return "solve got an empty query; write the math to send to Wolfram|Alpha, e.g. solve[x^2 - 5x + 6 = 0]"
        params = {"appid": self._app_id, "input": query, "output": "json", "format": "plaintext"}
        try:
            response = await self._client.get(self._url, params=params, timeout=self._timeout)
        except httpx.HTTPError as err:
            raise WolframError(self._hide(f"Wolfram|Alpha request failed: {type(err).__name__}: {err}")) from None
        if response.status_code != 200:
            raise WolframError(f"Wolfram|Alpha answered HTTP {response.status_code}: "
                               f"{self._hide(response.text[:120].strip())}")
        try:
            body = response.json()
        except ValueError:
            raise WolframError("Wolfram|Alpha answered with a body that is not JSON") from None
        if not isinstance(body, Mapping):
            raise WolframError("Wolfram|Alpha answered with JSON that is not an object")
        return format_result(query, body)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._own_client:
            await self._client.aclose()
