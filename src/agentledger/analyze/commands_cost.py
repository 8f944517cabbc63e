"""More `analyze` subcommands: throughput, pareto, energy, project and report (see commands.py
for the shared shape; these add their own options)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .._cli import ChartOpt, DebugOpt, JsonOpt, handle_errors, print_json, stderr
from . import energy, pareto, project, throughput
from .commands import ByOpt, TracesArg
from .load import open_traces
from .output import check_chart_path, emit
from .report import check_out, write_report

__all__ = ["register"]

CostOpt = Annotated[str, typer.Option("--cost", help=f"Cost axis: {', '.join(pareto.COSTS)}.")]
FactorOpt = Annotated[float, typer.Option("--factor", help="Sustainable: p95 latency at most this many times the "
                                          "lowest load's p95.")]
TrackingOpt = Annotated[float, typer.Option("--tracking", help="Sustainable: achieved throughput at least this fraction "
                                            "of a rate given in the run parameters.")]
ScenarioOpt = Annotated[list[str] | None, typer.Option(
    "--scenario", help="NAME=QUERIES_PER_DAY, suffixes K/M/B/T allowed (repeat; default: 71.4M and 13.7B a day).",
    show_default=False)]
ReferenceOpt = Annotated[list[str] | None, typer.Option("--reference", help="NAME=MW, a load to compare with (repeat).",
                                                       show_default=False)]
WhOpt = Annotated[float | None, typer.Option("--wh-per-query", help="Project this energy per query (Wh) instead of "
                                             "measuring it from traces.", show_default=False)]
BasisOpt = Annotated[str, typer.Option("--basis", help="Energy per query: request (attributed to requests) or run "
                                       "(all GPU energy of the run, idle included, per request).")]
OptTracesArg = Annotated[list[str] | None, typer.Argument(help="Trace files or glob patterns (or give --wh-per-query).",
                                                          show_default=False)]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.", show_default=False)]


def throughput_cmd(traces: TracesArg, factor: FactorOpt = 2.0, tracking: TrackingOpt = 0.9, by: ByOpt = "config",
                   json: JsonOpt = False, chart: ChartOpt = None, debug: DebugOpt = False) -> None:
    """p95 latency vs offered load across a sweep's traces, and the knee (peak sustainable throughput) per series."""
    check_chart_path(chart)
    emit(throughput.report(open_traces(traces, by=by), factor=factor, tracking=tracking), as_json=json, chart=chart)


def pareto_cmd(traces: TracesArg, cost: CostOpt = "latency", by: ByOpt = "config", json: JsonOpt = False,
               chart: ChartOpt = None, debug: DebugOpt = False) -> None:
    """Accuracy vs cost per configuration: the Pareto frontier, accuracy per unit cost, the marginal cost of the last gain."""
    check_chart_path(chart)
    pareto.check_cost(cost)
    emit(pareto.report(open_traces(traces, by=by), cost=cost), as_json=json, chart=chart)


def energy_cmd(traces: TracesArg, by: ByOpt = "config", json: JsonOpt = False, chart: ChartOpt = None,
               debug: DebugOpt = False) -> None:
    """GPU energy per request (Wh), per LLM call and per token, and idle energy, from GPU samples."""
    check_chart_path(chart)
    emit(energy.report(open_traces(traces, by=by)), as_json=json, chart=chart)


def project_cmd(traces: OptTracesArg = None, scenario: ScenarioOpt = None, reference: ReferenceOpt = None,
                wh_per_query: WhOpt = None, basis: BasisOpt = "request", by: ByOpt = "config", json: JsonOpt = False,
                chart: ChartOpt = None, debug: DebugOpt = False) -> None:
    """Datacenter power P = Wh/query x queries/day / 24 h, as MW/GW and GWh/day, next to reference loads."""
    check_chart_path(chart)
    scenarios = project.parse_pairs(scenario or [], "--scenario", "QUERIES_PER_DAY", suffixes=True) or None
    references = project.parse_pairs(reference or [], "--reference", "MW", suffixes=False)
    ts = open_traces(traces, by=by) if traces else None
    emit(project.report(ts, scenarios=scenarios, references=references, wh_per_query=wh_per_query, basis=basis),
         as_json=json, chart=chart)


def report_cmd(traces: TracesArg, out: OutOpt, by: ByOpt = "config", json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """One self-contained HTML file with every analysis that applies to the traces, charts embedded (readable offline)."""
    check_out(out)
    res = write_report(open_traces(traces, by=by), out)
    if json:
        print_json({"out": str(out), "included": res.included,
                    "skipped": [{"section": a, "why": why} for a, why in res.skipped]})
        return
    err = stderr()
    for anchor, why in res.skipped:
        err.print(f"[yellow]skipped {anchor}:[/] {escape(why)}", highlight=False, markup=True)
    err.print(f"report written to {out} ({len(res.included)} sections)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add throughput, pareto, energy, project and report to ``app``."""
    for name, fn in (("throughput", throughput_cmd), ("pareto", pareto_cmd), ("energy", energy_cmd),
                     ("project", project_cmd), ("report", report_cmd)):
        app.command(name=name)(handle_errors(fn))
