"""The instrumented LLM client: every chat completion becomes one ``llm_call`` event.

Prompts are given as tagged segments; each segment's tokens are counted with the
served model's tokenizer off the event loop, and the chat-template residual makes
the categories sum exactly to the server's prompt tokens. Streaming gives the
client-side first- and last-token times; vLLM's per-request metrics (queue,
prefill, decode), cached tokens, and the prompt's and first choice's token ids
(for the prompt and output block hashes, SPEC.md section 6) are read from the
chunks where the server sends them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from ..agents.prompt import CATEGORIES, Segment, build_messages
from ..traceformat import LlmCall, TraceWriter, block_hashes

__all__ = ["Segment", "CATEGORIES", "Completion", "LLMClient", "build_messages"]

TokenCounter = Callable[[list[str]], list[int]]


@dataclass(slots=True)
class Completion:
    ok: bool
    text: str  # the first choice
    finish_reason: str | None
    event_id: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    error: str | None = None
    texts: list[str] = field(default_factory=list)  # every choice, in index order (n > 1)


@dataclass(slots=True)
class _Tokens:
    """Token ids a streamed response carried: the prompt's and the first choice's."""

    prompt: list[int] | None = None
    output: list[int] = field(default_factory=list)


def _ms_to_ns(v: float | None) -> int | None:
    return None if v is None else int(round(v * 1e6))


def _set_hashes(rec: LlmCall, prompt_ids: list[int], output_ids: list[int] | None, block_size: int) -> None:
    """Fill ``rec``'s prompt and output block hashes (SPEC.md section 6) from token ids.

    The engine computes (and so can cache) every prompt and completion token but the last
    completion token, so the output blocks are the full blocks of ``prompt + output[:-1]``
    beyond the prompt's. ``output_ids`` None (unknown) leaves the output hashes null, and so
    does a count that differs from the server's ``completion_tokens`` (or no count)."""
    n_prompt = len(prompt_ids) // block_size
    if output_ids is None or len(output_ids) != rec.completion_tokens:
        rec.prompt_block_hashes = block_hashes(prompt_ids, block_size)
        return
    packed = block_hashes(list(prompt_ids) + list(output_ids[:-1]), block_size)  # one chain over both
    rec.prompt_block_hashes, rec.output_block_hashes = packed[: 8 * n_prompt], packed[8 * n_prompt :]


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
        self._tokenize_url = base_url.rstrip("/") + "/tokenize"
        self._tokenize: bool | None = None  # does the server have /tokenize? (None: not tried yet)
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
        n: int = 1,
        regex: str | None = None,
        json_schema: dict | None = None,
        on_text: Callable[[str], None] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> Completion:
        """One chat completion (``n`` choices), recorded as one ``llm_call`` event.

        ``regex`` / ``json_schema`` constrain the output with the server's structured outputs
        (vLLM's ``structured_outputs`` request field; ``response_format`` for other servers).
        ``on_text`` gets each text delta of the first choice as it arrives; ``on_start`` the
        call's event id before the request is sent.
        """
        messages = build_messages(segments)
        body: dict = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                      "stream": True, "stream_options": {"include_usage": True}}
        for key, val in (("top_p", top_p), ("stop", stop), ("seed", seed)):
            if val is not None:
                body[key] = val
        if n != 1:
            body["n"] = n
        if regex is not None:
            body["structured_outputs"] = {"regex": regex}
        elif json_schema is not None:
            if self._vllm:
                body["structured_outputs"] = {"json": json_schema}
            else:
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": "action", "schema": json_schema}}
        if self._vllm:
            body["return_token_ids"] = True
        counts_task = None
        if self._count is not None:  # tokenize the segments off the loop while the server works
            counts_task = asyncio.ensure_future(asyncio.to_thread(self._count, [s.text for s in segments]))
        eid = self._w.new_id()
        if on_start is not None:
            on_start(eid)
        rec = LlmCall(event_id=eid, request_id=request_id, parent_event_id=parent_event_id, iteration=iteration,
                      role=role, model=self.model, temperature=temperature, top_p=top_p, max_tokens=max_tokens, n=n,
                      stop=stop, seed=seed)
        text_parts: list[list[str]] = [[] for _ in range(max(1, n))]
        toks = _Tokens()
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
                    if self._absorb(chunk, rec, text_parts, on_text, toks) and t_first is None:
                        t_first = time.monotonic_ns()
            rec.ok = True
        except (httpx.HTTPError, RuntimeError, json.JSONDecodeError, asyncio.TimeoutError) as exc:
            rec.ok, rec.error, rec.finish_reason = False, f"{type(exc).__name__}: {exc}", "error"
        except asyncio.CancelledError:
            rec.ok, rec.error, rec.finish_reason = False, "cancelled", "error"
            if toks.prompt is not None:
                _set_hashes(rec, toks.prompt, None, self._block)
            self._finish(rec, t0, time.monotonic_ns(), t_first, text_parts, messages, None)
            raise
        t_end = time.monotonic_ns()  # the call's end: what follows (token ids, counts) is bookkeeping
        output_ids = toks.output if rec.ok else None  # a failed call's computed tokens are unknown
        if toks.prompt is not None:
            _set_hashes(rec, toks.prompt, output_ids, self._block)
        elif rec.ok and self._tokenize is not False:
            await self._hashes_from_tokenize(rec, messages, output_ids)
        counts = None
        if counts_task is not None:
            try:
                counts = await counts_task
            except Exception:  # counting is best effort; the call itself is recorded either way
                counts = None
        texts = self._finish(rec, t0, t_end, t_first, text_parts, messages, counts, segments)
        return Completion(rec.ok, texts[0], rec.finish_reason, eid, rec.prompt_tokens,
                          rec.completion_tokens, rec.cached_tokens, rec.error, texts)

    async def _hashes_from_tokenize(self, rec: LlmCall, messages: list[dict[str, str]],
                                    output_ids: list[int] | None) -> None:
        """Block hashes from the server's ``/tokenize`` (chat messages in, token ids out) when the
        response did not carry the prompt's token ids. Kept only when the count matches the usage."""
        try:
            resp = await self._http.post(self._tokenize_url, json={"model": self.model, "messages": messages})
        except httpx.HTTPError:
            return
        if resp.status_code in (404, 405):
            self._tokenize = False  # not a vLLM-style server: do not ask again
            return
        try:
            ids = resp.json().get("tokens") if resp.status_code == 200 else None
        except ValueError:
            ids = None
        if ids and (rec.prompt_tokens is None or len(ids) == rec.prompt_tokens):
            self._tokenize = True
            _set_hashes(rec, ids, output_ids or None, self._block)

    def _absorb(self, chunk: dict, rec: LlmCall, text_parts: list[list[str]],
                on_text: Callable[[str], None] | None = None, toks: _Tokens | None = None) -> bool:
        """Fold one stream chunk into ``rec`` (token ids into ``toks``); True when it carried output text."""
        if rec.server_request_id is None and chunk.get("id"):
            rec.server_request_id = chunk["id"]
        ids = chunk.get("prompt_token_ids")
        if ids and toks is not None and toks.prompt is None:
            toks.prompt = list(ids)
        got_text = False
        for choice in chunk.get("choices") or ():
            if toks is not None and choice.get("token_ids") and not choice.get("index"):
                toks.output.extend(choice["token_ids"])  # vLLM's return_token_ids: this chunk's new tokens
            delta = choice.get("delta") or {}
            if delta.get("content"):
                i = choice.get("index") or 0
                while len(text_parts) <= i:
                    text_parts.append([])
                text_parts[i].append(delta["content"])
                got_text = True
                if i == 0 and on_text is not None:
                    on_text(delta["content"])
            if choice.get("finish_reason") and (rec.finish_reason is None or not choice.get("index")):
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
        return got_text

    def _finish(self, rec, t0, t_end, t_first, text_parts, messages, counts, segments=()) -> list[str]:
        w = self._w
        rec.start_ns, rec.end_ns = w.to_run_clock(t0), w.to_run_clock(t_end)
        rec.client_e2e_ns = t_end - t0
        rec.client_ttft_ns = None if t_first is None else t_first - t0
        if counts is not None and rec.prompt_tokens is not None:
            per_cat = dict.fromkeys(CATEGORIES, 0)
            for seg, n in zip(segments, counts, strict=True):
                per_cat[seg.category] += n
            rec.tokens_instruction = per_cat["instruction"]
            rec.tokens_few_shot = per_cat["few_shot"]
            rec.tokens_user = per_cat["user"]
            rec.tokens_llm_history = per_cat["llm_history"]
            rec.tokens_tool_history = per_cat["tool_history"]
            rec.tokens_template = rec.prompt_tokens - sum(per_cat.values())
        texts = ["".join(parts) for parts in text_parts]
        if self._text:
            rec.prompt_text = json.dumps(messages, ensure_ascii=False)
            rec.output_text = texts[0] if len(texts) == 1 else json.dumps(texts, ensure_ascii=False)
        w.write(rec)
        return texts
