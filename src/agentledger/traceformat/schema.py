"""The trace schema: every column, which event kinds use it, its unit and its meaning.

This table is the single source of truth. The Arrow schema, the Python records,
the validator and the column tables of SPEC.md are all derived from ``FIELDS``;
a test checks that SPEC.md lists every field with this description.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "KINDS",
    "Field",
    "FIELDS",
    "COMMON",
    "TEXT_COLUMNS",
    "arrow_schema",
    "kind_columns",
    "field_by_name",
]

FORMAT_NAME = "agentledger-trace"
FORMAT_MAJOR = 1
FORMAT_MINOR = 1
FORMAT_VERSION = f"{FORMAT_MAJOR}.{FORMAT_MINOR}"

KINDS: tuple[str, ...] = ("request", "llm_call", "tool_call", "gpu_sample", "engine_sample")
"""Event kinds of format 1.x, in the order their batches appear in a compacted file."""

COMMON = "*"  # marker: the column belongs to every kind

_I16, _I32, _I64 = pa.int16(), pa.int32(), pa.int64()
_F64, _STR, _BOOL = pa.float64(), pa.string(), pa.bool_()


@dataclass(frozen=True, slots=True)
class Field:
    """One column of the trace table."""

    name: str
    type: pa.DataType
    kinds: tuple[str, ...]
    description: str
    required: bool = False  # non-null for every event of its kinds
    text: bool = False  # an optional text payload: may be dropped without breaking analyses

    def applies_to(self, kind: str) -> bool:
        return self.kinds == (COMMON,) or kind in self.kinds


def _f(name, typ, kinds, desc, *, required=False, text=False) -> Field:
    if isinstance(kinds, str):
        kinds = (kinds,)
    return Field(name, typ, tuple(kinds), desc, required, text)


_LLM, _TOOL, _REQ = "llm_call", "tool_call", "request"
_GPU, _ENG = "gpu_sample", "engine_sample"
_CALLS = (_REQ, _LLM, _TOOL)

FIELDS: tuple[Field, ...] = (
    # -- every event ---------------------------------------------------------
    _f("run_id", _STR, COMMON, "Run identifier; equal to the `run_id` in the file metadata.", required=True),
    _f("event_id", _I64, COMMON, "Event identifier, unique within the run.", required=True),
    _f("kind", _STR, COMMON, "Event kind: request, llm_call, tool_call, gpu_sample or engine_sample.", required=True),
    _f("request_id", _I64, COMMON, "`event_id` of the request (agent task) this event belongs to; null for samples."),
    _f("parent_event_id", _I64, COMMON, "`event_id` of the causing event (a tool call's LLM call, a call's request); null at the root."),
    _f("start_ns", _I64, COMMON, "Start, ns on the run clock (monotonic, 0 = the clock origin in the metadata).", required=True),
    _f("end_ns", _I64, COMMON, "End, ns on the run clock; equal to `start_ns` for samples.", required=True),
    # -- calls and requests --------------------------------------------------
    _f("iteration", _I32, (_LLM, _TOOL), "Agent loop index of the call within its request (0-based)."),
    _f("ok", _BOOL, _CALLS, "True if the request or call completed without error.", required=True),
    _f("error", _STR, _CALLS, "Error message when `ok` is false."),
    # -- request ---------------------------------------------------------------
    _f("item_id", _STR, _REQ, "Dataset item identifier of the task.", required=True),
    _f("outcome", _STR, _REQ, "How the task ended: correct, incorrect, error, timeout, max_iterations or unscored."),
    _f("score", _F64, _REQ, "Task score from the benchmark's scorer (0-1; exact match, F1, reward or pass)."),
    _f("final_answer", _STR, _REQ, "The agent's final answer."),
    _f("iterations", _I32, _REQ, "Agent iterations the task used."),
    # -- llm_call ------------------------------------------------------------------
    _f("role", _STR, _LLM, "Role of the call in the agent: actor, planner, reflection, evaluator, joiner, test_generator.", required=True),
    _f("model", _STR, _LLM, "Model name sent to the server.", required=True),
    _f("temperature", _F64, _LLM, "Sampling temperature."),
    _f("top_p", _F64, _LLM, "Nucleus sampling threshold."),
    _f("max_tokens", _I32, _LLM, "Maximum completion tokens requested."),
    _f("n", _I32, _LLM, "Completions requested per call."),
    _f("stop", pa.list_(_STR), _LLM, "Stop strings."),
    _f("seed", _I64, _LLM, "Sampling seed."),
    _f("finish_reason", _STR, _LLM, "Why generation ended: stop, length, error, ... (as reported by the server)."),
    _f("prompt_tokens", _I32, _LLM, "Prompt tokens as counted by the server."),
    _f("completion_tokens", _I32, _LLM, "Completion (output) tokens as counted by the server."),
    _f("cached_tokens", _I32, _LLM, "Prompt tokens served from the engine's prefix cache."),
    _f("tokens_instruction", _I32, _LLM, "Prompt tokens of instruction segments."),
    _f("tokens_few_shot", _I32, _LLM, "Prompt tokens of few-shot example segments."),
    _f("tokens_user", _I32, _LLM, "Prompt tokens of the user's task segments."),
    _f("tokens_llm_history", _I32, _LLM, "Prompt tokens of earlier LLM outputs fed back (thoughts, actions, plans, reflections)."),
    _f("tokens_tool_history", _I32, _LLM, "Prompt tokens of earlier tool outputs fed back (observations)."),
    _f("tokens_template", _I32, _LLM, "Chat-template residual: `prompt_tokens` minus the five categories above, so categories sum exactly to `prompt_tokens`; may be negative when tokens merge across segment boundaries."),
    _f("server_queue_ns", _I64, _LLM, "Time the request waited in the server's queue (server-side)."),
    _f("server_prefill_ns", _I64, _LLM, "Server time from scheduling to the first token (prefill, server-side)."),
    _f("server_decode_ns", _I64, _LLM, "Server time from the first to the last token (decode, server-side)."),
    _f("client_ttft_ns", _I64, _LLM, "Client-measured time from submit to the first token."),
    _f("client_e2e_ns", _I64, _LLM, "Client-measured time from submit to the last token (= end_ns - start_ns when ok)."),
    _f("server_request_id", _STR, _LLM, "Request id the server assigned, to join with server logs."),
    _f("prompt_block_hashes", pa.list_(pa.uint64()), _LLM, "Chained hashes of the prompt's full token blocks (`block_size_tokens` in metadata): hash[i] = H(hash[i-1], tokens of block i)."),
    _f("output_block_hashes", pa.list_(pa.uint64()), _LLM, "Chained hashes continuing `prompt_block_hashes` over the first choice's completion: the full blocks of prompt plus completion tokens the engine computed (all but the last completion token) beyond the prompt's full blocks (format 1.1; null where unknown)."),
    # -- tool_call -------------------------------------------------------------------
    _f("tool_name", _STR, _TOOL, "Tool name (search, lookup, click, calculate, run_tests, ...).", required=True),
    _f("tool_backend", _STR, _TOOL, "Where the tool ran: local_index, live_api, sandbox, web_server, local."),
    _f("tool_arg_chars", _I32, _TOOL, "Argument size in characters."),
    _f("tool_arg_tokens", _I32, _TOOL, "Argument size in tokens of the served model's tokenizer."),
    _f("tool_output_chars", _I32, _TOOL, "Output (observation) size in characters."),
    _f("tool_output_tokens", _I32, _TOOL, "Output size in tokens of the served model's tokenizer."),
    _f("tool_timed_out", _BOOL, _TOOL, "True if the call was stopped by its timeout."),
    _f("tool_timeout_ns", _I64, _TOOL, "The per-call timeout that was enforced."),
    # -- gpu_sample -------------------------------------------------------------------
    _f("gpu_index", _I16, _GPU, "GPU index on the host.", required=True),
    _f("gpu_uuid", _STR, _GPU, "GPU UUID."),
    _f("gpu_source", _STR, _GPU, "Telemetry source: nvml or dcgm.", required=True),
    _f("gpu_power_w", _F64, _GPU, "Instantaneous board power, W."),
    _f("gpu_power_avg_w", _F64, _GPU, "Power averaged by the driver over its window, W, where available."),
    _f("gpu_energy_j", _F64, _GPU, "Cumulative energy counter, J (differences give energy)."),
    _f("gpu_util_pct", _F64, _GPU, "GPU utilization, percent of time a kernel ran (0-100)."),
    _f("gpu_sm_active_frac", _F64, _GPU, "Fraction of SMs active (DCGM SM_ACTIVE), 0-1, where available."),
    _f("gpu_mem_used_bytes", _I64, _GPU, "Device memory used, bytes."),
    _f("gpu_sm_clock_mhz", _I32, _GPU, "SM clock, MHz."),
    _f("gpu_temp_c", _F64, _GPU, "GPU temperature, degrees C."),
    # -- engine_sample -------------------------------------------------------------------
    _f("engine_kv_cache_usage_frac", _F64, _ENG, "KV-cache usage, 0-1."),
    _f("engine_running", _I32, _ENG, "Requests running in the engine."),
    _f("engine_waiting", _I32, _ENG, "Requests waiting in the engine's queue."),
    _f("engine_prefix_queries_total", _I64, _ENG, "Cumulative prefix-cache queries, tokens (raw counter)."),
    _f("engine_prefix_hits_total", _I64, _ENG, "Cumulative prefix-cache hits, tokens (raw counter)."),
    _f("engine_preemptions_total", _I64, _ENG, "Cumulative preemptions (raw counter)."),
    _f("engine_prompt_tokens_total", _I64, _ENG, "Cumulative prompt tokens processed (raw counter)."),
    _f("engine_generation_tokens_total", _I64, _ENG, "Cumulative generated tokens (raw counter)."),
    # -- optional text payloads --------------------------------------------------------------
    _f("prompt_text_delta", _STR, _LLM, "Prompt text (chat messages as JSON) beyond the first `prompt_text_prefix_chars` characters of the base prompt.", text=True),
    _f("prompt_text_base_event_id", _I64, _LLM, "`event_id` of the earlier llm_call whose prompt text is the base; null = no base.", text=True),
    _f("prompt_text_prefix_chars", _I64, _LLM, "Characters of the base prompt text that this prompt starts with.", text=True),
    _f("output_text", _STR, _LLM, "Completion text.", text=True),
    _f("tool_input_text", _STR, _TOOL, "Tool argument text.", text=True),
    _f("tool_output_text", _STR, _TOOL, "Tool output (observation) text.", text=True),
)

TEXT_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.text)

_BY_NAME = {f.name: f for f in FIELDS}


def field_by_name(name: str) -> Field:
    return _BY_NAME[name]


def arrow_schema(fields: tuple[Field, ...] = FIELDS, metadata: dict[bytes, bytes] | None = None) -> pa.Schema:
    """The wide Arrow schema: one column per field, all nullable at the Arrow level."""
    return pa.schema([pa.field(f.name, f.type, nullable=True) for f in fields], metadata=metadata)


def kind_columns(kind: str, *, text: bool = True) -> tuple[str, ...]:
    """Column names an event of ``kind`` can fill, in schema order (the row order of ``TraceWriter.emit``)."""
    if kind not in KINDS:
        raise KeyError(kind)
    return tuple(f.name for f in FIELDS if f.applies_to(kind) and (text or not f.text))
