"""The engine-side `analyze` subcommands: gpu, prefix, memory and timeline.

Each has the shape of the commands in commands.py (``TRACES... [--by] [--json] [--chart]``)
plus its own options, so each gets its own command function.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from .._cli import ChartOpt, DebugOpt, JsonOpt, handle_errors
from . import gpu, memory, prefix, timeline
from .commands import ByOpt, TracesArg
from .load import TraceSet, open_traces
from .output import Report, check_chart_path, emit

__all__ = ["register"]

CapacityOpt = Annotated[int | None, typer.Option(
    "--capacity-blocks", help="KV-cache size in blocks (vLLM's num_gpu_blocks); default: the engine's, if recorded.",
    show_default=False)]


def _run(traces: list[str], by: str, as_json: bool, chart: Path | None, make: Callable[[TraceSet], Report]) -> Report:
    check_chart_path(chart)
    report = make(open_traces(traces, by=by))
    emit(report, as_json=as_json, chart=chart)
    return report


@handle_errors
def gpu_command(
    traces: TracesArg,
    source: Annotated[str, typer.Option("--source", help=f"Where GPU busy time comes from: {', '.join(gpu.SOURCES)} "
                                        "(auto: gpu_sample when the trace has it, else engine timings).")] = "auto",
    by: ByOpt = "config", json: JsonOpt = False, chart: ChartOpt = None, debug: DebugOpt = False,
) -> None:
    """GPU time by activity (prefill, decode, waits), average utilization, and idle time during tool waits."""
    _run(traces, by, json, chart, lambda ts: gpu.report(ts, source=source))


@handle_errors
def prefix_command(
    traces: TracesArg,
    capacity_blocks: CapacityOpt = None,
    block_size: Annotated[int | None, typer.Option(
        "--block-size", help="Engine KV block size in tokens, a multiple of the trace's; default: the trace's.",
        show_default=False)] = None,
    by: ByOpt = "config", json: JsonOpt = False, chart: ChartOpt = None, debug: DebugOpt = False,
) -> None:
    """Prompt prefix overlap, ideal and LRU prefix-cache hits vs. the engine's cached tokens, prefill with vs. without caching."""
    _run(traces, by, json, chart,
         lambda ts: prefix.report(ts, capacity_blocks=capacity_blocks, block_size=block_size))


@handle_errors
def memory_command(
    traces: TracesArg,
    bytes_per_token: Annotated[int | None, typer.Option(
        "--bytes-per-token", help="KV-cache bytes per token of the model (SmolLM2-135M: 23040).", show_default=False)] = None,
    layers: Annotated[int | None, typer.Option("--layers", help="Model layers (instead of --bytes-per-token).",
                                               show_default=False)] = None,
    kv_heads: Annotated[int | None, typer.Option("--kv-heads", help="KV heads per layer.", show_default=False)] = None,
    head_dim: Annotated[int | None, typer.Option("--head-dim", help="Head dimension.", show_default=False)] = None,
    dtype_bytes: Annotated[int, typer.Option("--dtype-bytes", help="Bytes per KV value (2 for bf16/fp16).")] = 2,
    capacity_blocks: CapacityOpt = None,
    by: ByOpt = "config", json: JsonOpt = False, chart: ChartOpt = None, debug: DebugOpt = False,
) -> None:
    """KV-cache memory per request and over time (mean, max), with vs. without prefix caching."""
    bpt = memory.kv_bytes_per_token(bytes_per_token, layers=layers, kv_heads=kv_heads, head_dim=head_dim,
                                    dtype_bytes=dtype_bytes)
    _run(traces, by, json, chart,
         lambda ts: memory.report(ts, bytes_per_token=bpt, capacity_blocks=capacity_blocks))


@handle_errors
def timeline_command(
    traces: TracesArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file (default: beside the first trace, "
                                             "NAME.timeline.json).", show_default=False)] = None,
    json: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Write a Perfetto / Chrome trace-event JSON: a track per request with LLM and tool spans, GPU and KV counters."""
    _run(traces, "trace", json, None, lambda ts: timeline.report(ts, out=out))


def register(app: typer.Typer) -> None:
    """Add this module's subcommands to ``app``."""
    app.command(name="gpu")(gpu_command)
    app.command(name="prefix")(prefix_command)
    app.command(name="memory")(memory_command)
    app.command(name="timeline")(timeline_command)
