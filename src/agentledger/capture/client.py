"""The instrumented LLM client: every chat completion becomes one ``llm_call`` event.

Prompts are given as tagged segments; each segment's tokens are counted with the
served model's tokenizer off the event loop, and the chat-template residual makes
the categories sum exactly to the server's prompt tokens. Streaming gives the
client-side first- and last-token times; vLLM's per-request metrics (queue,
prefill, decode), cached tokens and prompt token ids (for block hashes) are read
from the final chunks where the server sends them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from ..traceformat import LlmCall, TraceWriter, block_hashes

__all__ = ["Segment", "CATEGORIES", "Completion", "LLMClient", "build_messages"]

CATEGORIES = ("instruction", "few_shot", "user", "llm_history", "tool_history")
TokenCounter = Callable[[list[str]], list[int]]


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a prompt: its category, its text, and the chat role of the message it belongs to."""

    category: str
    text: str
    role: str = "user"

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown segment category {self.category!r}; use one of {', '.join(CATEGORIES)}")


def build_messages(segments: Sequence[Segment]) -> list[dict[str, str]]:
    """Chat messages: consecutive segments of the same role form one message."""
    messages: list[dict[str, str]] = []
    for seg in segments:
        if messages and messages[-1]["role"] == seg.role:
            messages[-1]["content"] += seg.text
        else:
            messages.append({"role": seg.role, "content": seg.text})
    return messages


@dataclass(slots=True)
class Completion:
    ok: bool
    text: str
    finish_reason: str | None
    event_id: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    error: str | None = None


def _ms_to_ns(v: float | None) -> int | None:
    return None if v is None else int(round(v * 1e6))


class LLMClient:
    """One per capture; safe to share between concurrent tasks (no per-task state)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        writer: TraceWriter,
        *,
        count_tokens: TokenCounter | None = None,
        block_size: int = 16,
        vllm_extras: bool = True,
        timeout_s: float = 600.0,
        record_text: bool = True,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/v1/chat/completions"
        self.model = model
        self._w = writer
        self._count = count_tokens
        self._block = block_size
        self._vllm = vllm_extras
        self._text = record_text
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0),
                                               limits=httpx.Limits(max_connections=None, max_keepalive_connections=256))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def chat(
        self,
        segments: Sequence[Segment],
        *,
        request_id: int | None,
        parent_event_id: int | None,
        role: str = "actor",
        iteration: int | None = None,
        temperature: float = 0.0,
        top_p: float | None = None,
        max_tokens: int = 256,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> Completion:
        messages = build_messages(segments)
        body: dict = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                      "stream": True, "stream_options": {"include_usage": True}}
        for key, val in (("top_p", top_p), ("stop", stop), ("seed", seed)):
            if val is not None:
                body[key] = val
        if self._vllm:
            body["return_token_ids"] = True
        counts_task = None
        if self._count is not None:  # tokenize the segments off the loop while the server works
            counts_task = asyncio.ensure_future(asyncio.to_thread(self._count, [s.text for s in segments]))
        eid = self._w.new_id()
        rec = LlmCall(event_id=eid, request_id=request_id, parent_event_id=parent_event_id, iteration=iteration,
                      role=role, model=self.model, temperature=temperature, top_p=top_p, max_tokens=max_tokens, n=1,
                      stop=stop, seed=seed)
        text_parts: list[str] = []
        t_first = None
        t0 = time.monotonic_ns()
        try:
            async with self._http.stream("POST", self._url, json=body) as resp:
                if resp.status_code != 200:
                    detail = (await resp.aread()).decode(errors="replace")[:300]
                    raise RuntimeError(f"HTTP {resp.status_code}: {detail}")
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    self._absorb(chunk, rec, text_parts)
                    if t_first is None and text_parts:
                        t_first = time.monotonic_ns()
            rec.ok = True
        except (httpx.HTTPError, RuntimeError, json.JSONDecodeError, asyncio.TimeoutError) as exc:
            rec.ok, rec.error, rec.finish_reason = False, f"{type(exc).__name__}: {exc}", "error"
        except asyncio.CancelledError:
            rec.ok, rec.error, rec.finish_reason = False, "cancelled", "error"
            self._finish(rec, t0, t_first, text_parts, messages, None)
            raise
        counts = None
        if counts_task is not None:
            try:
                counts = await counts_task
            except Exception:  # counting is best effort; the call itself is recorded either way
                counts = None
        self._finish(rec, t0, t_first, text_parts, messages, counts, segments)
        return Completion(rec.ok, "".join(text_parts), rec.finish_reason, eid, rec.prompt_tokens,
                          rec.completion_tokens, rec.cached_tokens, rec.error)

    def _absorb(self, chunk: dict, rec: LlmCall, text_parts: list[str]) -> None:
        if rec.server_request_id is None and chunk.get("id"):
            rec.server_request_id = chunk["id"]
        ids = chunk.get("prompt_token_ids")
        if ids and rec.prompt_block_hashes is None:
            rec.prompt_block_hashes = block_hashes(ids, self._block)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text_parts.append(delta["content"])
            if choice.get("finish_reason"):
                rec.finish_reason = choice["finish_reason"]
        usage = chunk.get("usage")
        if usage:
            rec.prompt_tokens = usage.get("prompt_tokens")
            rec.completion_tokens = usage.get("completion_tokens")
            details = usage.get("prompt_tokens_details") or {}
            rec.cached_tokens = details.get("cached_tokens")
        metrics = chunk.get("metrics")
        if metrics:
            rec.server_queue_ns = _ms_to_ns(metrics.get("queue_time_ms"))
            rec.server_prefill_ns = _ms_to_ns(metrics.get("time_to_first_token_ms"))
            rec.server_decode_ns = _ms_to_ns(metrics.get("generation_time_ms"))

    def _finish(self, rec, t0, t_first, text_parts, messages, counts, segments=()) -> None:
        t_end = time.monotonic_ns()
        w = self._w
        rec.start_ns, rec.end_ns = w.to_run_clock(t0), w.to_run_clock(t_end)
        rec.client_e2e_ns = t_end - t0
        rec.client_ttft_ns = None if t_first is None else t_first - t0
        if counts is not None and rec.prompt_tokens is not None:
            per_cat = dict.fromkeys(CATEGORIES, 0)
            for seg, n in zip(segments, counts):
                per_cat[seg.category] += n
            rec.tokens_instruction = per_cat["instruction"]
            rec.tokens_few_shot = per_cat["few_shot"]
            rec.tokens_user = per_cat["user"]
            rec.tokens_llm_history = per_cat["llm_history"]
            rec.tokens_tool_history = per_cat["tool_history"]
            rec.tokens_template = rec.prompt_tokens - sum(per_cat.values())
        if self._text:
            rec.prompt_text = json.dumps(messages, ensure_ascii=False)
            rec.output_text = "".join(text_parts)
        w.write(rec)
