"""The `analyze` console script: a thin Typer app over agentledger.analyze functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .._cli import DebugOpt, JsonOpt, VersionOpt, handle_errors, print_json, stderr, stdout
from ..traceformat import read_trace, recover_trace, validate_trace
from . import commands_cost, commands_engine
from .commands import register
from .info import trace_info

app = typer.Typer(
    name="analyze",
    help="Offline analytics on agentledger traces.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

TraceArg = Annotated[Path, typer.Argument(help="A trace file (*.arrow).", show_default=False)]


@app.callback()
def main(version: VersionOpt = False) -> None:
    """Offline analytics on agentledger traces."""


@app.command()
@handle_errors
def info(trace: TraceArg, json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Format version, run configuration, events per kind, time span and size."""
    data = trace_info(trace)
    if json:
        print_json(data)
        return
    cfg = data["config"]
    engine = cfg.get("engine") or {}
    t = Table(title=f"trace {data['path']}", show_header=False, title_justify="left")
    t.add_column("field", style="bold")
    t.add_column("value")
    rows = [
        ("format", f"{data['format_version']}" + ("" if data["complete"] else "  (unfinished: recovered batches)")),
        ("size", f"{data['size_bytes']:,} bytes in {data['batches']} batches"),
        ("run", f"{data['run_id']}  created {data['created_utc']}"),
        ("agent / dataset", f"{cfg.get('agent', '-')} / {cfg.get('dataset', '-')}"),
        ("model", str(cfg.get("model", "-"))),
        ("engine", " ".join(str(x) for x in (engine.get("name"), engine.get("version"), engine.get("endpoint")) if x) or "-"),
        ("engine flags", ", ".join(f"{k}={v}" for k, v in (engine.get("flags") or {}).items()) or "-"),
        ("params", ", ".join(f"{k}={v}" for k, v in (cfg.get("params") or {}).items()) or "-"),
        ("host", f"{data['host'].get('hostname', '-')}, {data['host'].get('cpu_count', '?')} CPUs, {len(data['gpus'])} GPUs"),
        ("span", "-" if data["duration_s"] is None else f"{data['duration_s']:.3f} s  ({data['start_utc']} → {data['end_utc']})"),
        ("events", f"{data['events']:,}"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    for kind, n in data["events_per_kind"].items():
        t.add_row(f"  {kind}", f"{n:,}")
    stdout().print(t)


@app.command()
@handle_errors
def validate(trace: TraceArg, json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Check the schema and invariants; print each violation and exit 1 if any."""
    tr = read_trace(trace)
    violations = validate_trace(tr)
    if json:
        print_json({"path": str(trace), "valid": not violations, "violations": [v.to_dict() for v in violations]})
    elif violations:
        con = stdout()
        for v in violations:
            con.print(f"[red]{v.rule}[/]: {v.message}", highlight=False)
        stderr().print(f"[bold red]{len(violations)} violation(s)[/] in {trace}")
    else:
        stdout().print(f"[green]valid[/]: {trace} ({tr.table.num_rows:,} events, format {tr.version[0]}.{tr.version[1]})")
    if violations:
        raise typer.Exit(1)


@app.command()
@handle_errors
def recover(
    trace: TraceArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of rewriting TRACE in place.")] = None,
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Rewrite a trace left by a killed capture as a complete file, keeping every flushed batch."""
    res = recover_trace(trace, out)
    if json:
        print_json({"path": str(res.path), "out": str(res.out), "batches": res.batches, "rows": res.rows, "was_complete": res.was_complete})
        return
    state = "was already complete" if res.was_complete else "was unfinished"
    stdout().print(f"{res.path} {state}: wrote {res.rows:,} events in {res.batches} batches to {res.out}")


register(app)  # calls, breakdown, latency, tokens
commands_engine.register(app)  # gpu, prefix, memory, timeline
commands_cost.register(app)  # throughput, pareto, energy, project, report

if __name__ == "__main__":
    app()
