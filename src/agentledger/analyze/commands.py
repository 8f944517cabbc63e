"""The analysis subcommands of `analyze`: each opens traces, runs one analysis, and emits its report.

Every command has the same shape, ``analyze NAME TRACES... [--by config|trace]
[--json] [--chart PATH] [--debug]``; adding one is a row in ``ANALYSES`` whose
function takes a :class:`~agentledger.analyze.load.TraceSet` and returns a
:class:`~agentledger.analyze.output.Report`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from .._cli import ChartOpt, DebugOpt, JsonOpt, handle_errors
from . import breakdown, calls, latency, tokens
from .load import GROUP_BY, TraceSet, open_traces
from .output import Report, check_chart_path, emit

__all__ = ["ANALYSES", "register", "run_analysis"]

TracesArg = Annotated[list[str], typer.Argument(help="Trace files or glob patterns (quote globs: 'runs/*.arrow').",
                                                show_default=False)]
ByOpt = Annotated[str, typer.Option("--by", help=f"Group traces by: {' or '.join(GROUP_BY)} "
                                    "(config pools repeated runs of one configuration).")]

ANALYSES: dict[str, tuple[Callable[[TraceSet], Report], str]] = {
    "calls": (calls.report, "LLM and tool calls per request, by role and tool: mean, p50, p95, max."),
    "breakdown": (breakdown.report, "End-to-end latency per request split into LLM, tool, overlap and other time "
                                    "(LLM time further into server queue, prefill, decode and client)."),
    "latency": (latency.report, "End-to-end latency distribution per group: percentiles, CV, CDF and histogram."),
    "tokens": (tokens.report, "Prompt tokens by category and output tokens per LLM call, and their growth with iteration."),
}


def run_analysis(name: str, traces: list[str], *, by: str = "config", as_json: bool = False,
                 chart: Path | None = None) -> Report:
    """Open ``traces``, run analysis ``name`` and emit its report; returns the report."""
    check_chart_path(chart)
    ts = open_traces(traces, by=by)
    report = ANALYSES[name][0](ts)
    emit(report, as_json=as_json, chart=chart)
    return report


def _command(name: str, doc: str) -> Callable[..., None]:
    def command(traces: TracesArg, by: ByOpt = "config", json: JsonOpt = False, chart: ChartOpt = None,
                debug: DebugOpt = False) -> None:
        run_analysis(name, traces, by=by, as_json=json, chart=chart)

    command.__name__ = name
    command.__doc__ = doc
    return handle_errors(command)


def register(app: typer.Typer) -> None:
    """Add every analysis in ``ANALYSES`` to ``app`` as a subcommand."""
    for name, (_, doc) in ANALYSES.items():
        app.command(name=name)(_command(name, doc))
