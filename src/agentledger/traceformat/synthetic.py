"""Seeded synthetic traces with the shape of agent runs, for tests and benchmarks.

Each request runs ``iterations`` LLM calls whose prompts grow: a fixed
instruction and few-shot prefix shared by every request, the task, then the
history of earlier thoughts and observations. Each call is followed by a tool
call. Token ids, prompt and output block hashes and prompt text follow the same structure, so
prefix overlap, text deltas and compression behave as in a real capture.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from .hashing import block_hashes
from .records import GpuSample, LlmCall, Request, ToolCall, _Event

__all__ = ["SyntheticSpec", "agent_events"]

_WORDS = (
    "search lookup finish answer thought action observation entity film director born year river city "
    "album band country president university novel author team season river mountain capital island"
).split()


@dataclass(frozen=True)
class SyntheticSpec:
    requests: int = 16
    iterations: int = 8
    instruction_tokens: int = 300
    few_shot_tokens: int = 1100
    user_tokens: int = 50
    thought_tokens: int = 40
    observation_tokens: int = 110
    block_size: int = 16
    text: bool = True
    gpu_hz: float = 10.0
    seed: int = 0


def _tokens(rng: random.Random, n: int) -> list[int]:
    return [rng.randrange(1, 49_000) for _ in range(n)]


def _text(rng: random.Random, n_tokens: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n_tokens))


def agent_events(spec: SyntheticSpec, new_id, now_ns: int = 0) -> Iterator[_Event]:
    """Yield records of ``spec.requests`` requests run one after another, plus GPU samples."""
    rng = random.Random(spec.seed)
    shared = _tokens(random.Random(1234), spec.instruction_tokens + spec.few_shot_tokens)
    shared_text = _text(random.Random(1234), spec.instruction_tokens + spec.few_shot_tokens) if spec.text else None
    t = now_ns
    next_sample = t
    for r in range(spec.requests):
        rid = new_id()
        t_req = t
        ids = shared + _tokens(rng, spec.user_tokens)
        text = (shared_text + " " + _text(rng, spec.user_tokens)) if spec.text else None
        for it in range(spec.iterations):
            eid = new_id()
            prompt = len(ids)
            cached = (spec.instruction_tokens + spec.few_shot_tokens) if r else 0
            if it:
                cached = prompt - spec.observation_tokens - 1  # the last call computed its prompt and thought but one
            cached -= cached % spec.block_size
            llm_hist = it * spec.thought_tokens
            tool_hist = it * spec.observation_tokens
            queue_ns = rng.randrange(0, 2_000_000)
            prefill_ns = 50_000 * (prompt - cached) + 2_000_000
            decode_ns = spec.thought_tokens * rng.randrange(8_000_000, 12_000_000)
            e2e = queue_ns + prefill_ns + decode_ns + 300_000
            out_text = _text(rng, spec.thought_tokens) if spec.text else None
            growth = _tokens(rng, spec.thought_tokens + spec.observation_tokens)  # the thought, then the observation
            prompt_hashes = block_hashes(ids, spec.block_size)
            computed = block_hashes(ids + growth[: spec.thought_tokens - 1], spec.block_size)  # all but the last output token
            yield LlmCall(
                event_id=eid, request_id=rid, parent_event_id=rid, start_ns=t, end_ns=t + e2e, iteration=it,
                role="actor", model="SmolLM2-135M-Instruct", temperature=0.0, top_p=1.0, max_tokens=256, n=1,
                stop=["\nObservation"], seed=spec.seed, finish_reason="stop", prompt_tokens=prompt,
                completion_tokens=spec.thought_tokens, cached_tokens=cached,
                tokens_instruction=spec.instruction_tokens, tokens_few_shot=spec.few_shot_tokens,
                tokens_user=spec.user_tokens, tokens_llm_history=llm_hist, tokens_tool_history=tool_hist,
                tokens_template=prompt - spec.instruction_tokens - spec.few_shot_tokens - spec.user_tokens - llm_hist - tool_hist,
                server_queue_ns=queue_ns, server_prefill_ns=prefill_ns, server_decode_ns=decode_ns,
                client_ttft_ns=queue_ns + prefill_ns + 200_000, client_e2e_ns=e2e,
                server_request_id=f"chatcmpl-{eid}", prompt_block_hashes=prompt_hashes,
                output_block_hashes=computed[len(prompt_hashes):],
                prompt_text=text, output_text=out_text,
            )
            t += e2e
            tool_ns = rng.randrange(1_000_000, 30_000_000)
            obs = _text(rng, spec.observation_tokens) if spec.text else None
            yield ToolCall(
                request_id=rid, parent_event_id=eid, start_ns=t, end_ns=t + tool_ns, iteration=it, tool_name="search",
                tool_backend="local_index", tool_arg_chars=24, tool_arg_tokens=6,
                tool_output_chars=spec.observation_tokens * 6, tool_output_tokens=spec.observation_tokens,
                tool_timed_out=False, tool_timeout_ns=10_000_000_000,
                tool_input_text="search[entity]" if spec.text else None, tool_output_text=obs,
            )
            t += tool_ns
            while next_sample <= t:
                yield GpuSample(start_ns=next_sample, end_ns=next_sample, gpu_index=0, gpu_source="nvml",
                                gpu_uuid="GPU-synthetic", gpu_power_w=120.0 + rng.random() * 200,
                                gpu_energy_j=next_sample / 1e9 * 200.0, gpu_util_pct=rng.random() * 100)
                next_sample += int(1e9 / spec.gpu_hz)
            ids = ids + growth
            if spec.text:
                text = text + " " + out_text + "\nObservation: " + obs
        yield Request(event_id=rid, request_id=rid, start_ns=t_req, end_ns=t, item_id=f"item-{r}",
                      outcome="correct" if rng.random() < 0.5 else "incorrect", score=float(rng.random() < 0.5),
                      final_answer="answer", iterations=spec.iterations)
