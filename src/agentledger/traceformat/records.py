"""Python records for each event kind: the convenient way to write events.

Field names are the trace's column names (see ``schema.FIELDS``); a test checks
that every record matches the schema. ``run_id`` and ``kind`` are filled in by
the writer. ``LlmCall.prompt_text`` is stored prefix-delta encoded (see SPEC.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import ClassVar

__all__ = ["Request", "LlmCall", "ToolCall", "GpuSample", "EngineSample", "RECORD_TYPES"]


@dataclass(slots=True)
class _Event:
    KIND: ClassVar[str] = ""
    event_id: int | None = None
    request_id: int | None = None
    parent_event_id: int | None = None
    start_ns: int = 0
    end_ns: int = 0


@dataclass(slots=True)
class Request(_Event):
    """One agent task. Its ``request_id`` is its own ``event_id``."""

    KIND: ClassVar[str] = "request"
    ok: bool = True
    error: str | None = None
    item_id: str = ""
    outcome: str | None = None
    score: float | None = None
    final_answer: str | None = None
    iterations: int | None = None


@dataclass(slots=True)
class LlmCall(_Event):
    KIND: ClassVar[str] = "llm_call"
    iteration: int | None = None
    ok: bool = True
    error: str | None = None
    role: str = "actor"
    model: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    n: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    tokens_instruction: int | None = None
    tokens_few_shot: int | None = None
    tokens_user: int | None = None
    tokens_llm_history: int | None = None
    tokens_tool_history: int | None = None
    tokens_template: int | None = None
    server_queue_ns: int | None = None
    server_prefill_ns: int | None = None
    server_decode_ns: int | None = None
    client_ttft_ns: int | None = None
    client_e2e_ns: int | None = None
    server_request_id: str | None = None
    prompt_block_hashes: bytes | list[int] | None = None  # bytes: little-endian uint64s
    output_block_hashes: bytes | list[int] | None = None  # as prompt_block_hashes (format 1.1)
    prompt_text: str | None = None  # full text; the writer stores it as a delta
    output_text: str | None = None


@dataclass(slots=True)
class ToolCall(_Event):
    KIND: ClassVar[str] = "tool_call"
    iteration: int | None = None
    ok: bool = True
    error: str | None = None
    tool_name: str = ""
    tool_backend: str | None = None
    tool_arg_chars: int | None = None
    tool_arg_tokens: int | None = None
    tool_output_chars: int | None = None
    tool_output_tokens: int | None = None
    tool_timed_out: bool | None = None
    tool_timeout_ns: int | None = None
    tool_input_text: str | None = None
    tool_output_text: str | None = None


@dataclass(slots=True)
class GpuSample(_Event):
    KIND: ClassVar[str] = "gpu_sample"
    gpu_index: int = 0
    gpu_uuid: str | None = None
    gpu_source: str = "nvml"
    gpu_power_w: float | None = None
    gpu_power_avg_w: float | None = None
    gpu_energy_j: float | None = None
    gpu_util_pct: float | None = None
    gpu_sm_active_frac: float | None = None
    gpu_mem_used_bytes: int | None = None
    gpu_sm_clock_mhz: int | None = None
    gpu_temp_c: float | None = None


@dataclass(slots=True)
class EngineSample(_Event):
    KIND: ClassVar[str] = "engine_sample"
    engine_kv_cache_usage_frac: float | None = None
    engine_running: int | None = None
    engine_waiting: int | None = None
    engine_prefix_queries_total: int | None = None
    engine_prefix_hits_total: int | None = None
    engine_preemptions_total: int | None = None
    engine_prompt_tokens_total: int | None = None
    engine_generation_tokens_total: int | None = None


RECORD_TYPES: dict[str, type[_Event]] = {
    cls.KIND: cls for cls in (Request, LlmCall, ToolCall, GpuSample, EngineSample)
}



def getter(cls: type[_Event], names: tuple[str, ...]) -> attrgetter:
    """A C-speed getter returning the named attributes as a tuple."""
    return attrgetter(*names)
