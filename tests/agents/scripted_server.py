"""A scripted OpenAI-compatible chat server for replay tests: real HTTP, given completions.

``ScriptedServer(responder)`` serves ``/v1/chat/completions`` (streaming SSE or plain JSON),
``/v1/models`` and ``/version`` on loopback. ``responder(body)`` receives the request body
and returns the completion text, or a list of ``n`` texts. Streams send one delta per word
(``delay_s`` apart, so tests can observe overlap), then a usage chunk. ``requests`` keeps
every body received, in arrival order.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from agentledger.datasets.webshop.server import ShopServer

__all__ = ["ScriptedServer", "Responder", "last_user_text"]

Responder = Callable[[dict], "str | list[str]"]
MODEL = "scripted-model"


def last_user_text(body: dict) -> str:
    """All message contents joined: what a responder usually matches on."""
    return "\n".join(m.get("content") or "" for m in body.get("messages", []))


def _tokens(text: str) -> int:
    return max(1, len(re.findall(r"\S+", text)))


class ScriptedServer:
    def __init__(self, responder: Responder, *, delay_s: float = 0.0) -> None:
        self.responder = responder
        self.delay_s = delay_s
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = ShopServer(Starlette(routes=[
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models),
            Route("/version", self._version),
        ]))

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> ScriptedServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    async def _models(self, request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "root": MODEL}]})

    async def _version(self, request: Request) -> JSONResponse:
        return JSONResponse({"version": "scripted"})

    async def _chat(self, request: Request) -> Any:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
        out = self.responder(body)
        n = int(body.get("n") or 1)
        texts = [out] * n if isinstance(out, str) else list(out)
        if len(texts) != n:
            raise ValueError(f"responder gave {len(texts)} texts for n={n}")
        prompt_tokens = _tokens(last_user_text(body))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": sum(_tokens(t) for t in texts),
                 "total_tokens": prompt_tokens + sum(_tokens(t) for t in texts)}
        if not body.get("stream"):
            return JSONResponse({"id": "chatcmpl-scripted", "object": "chat.completion", "model": MODEL, "usage": usage,
                                 "choices": [{"index": i, "message": {"role": "assistant", "content": t},
                                              "finish_reason": "stop"} for i, t in enumerate(texts)]})

        async def stream():
            for i, text in enumerate(texts):
                for piece in re.findall(r"\S+\s*|\s+", text):
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                    chunk = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": MODEL,
                             "choices": [{"index": i, "delta": {"content": piece}, "finish_reason": None}]}
                    yield f"data: {json.dumps(chunk)}\n\n"
                done = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": MODEL,
                        "choices": [{"index": i, "delta": {}, "finish_reason": "stop"}]}
                yield f"data: {json.dumps(done)}\n\n"
            final = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": MODEL, "choices": [],
                     "usage": usage}
            yield f"data: {json.dumps(final)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")
