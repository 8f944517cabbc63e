"""The `capture` console script: a thin Typer app over agentledger.capture functions."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._cli import DebugOpt, QuietOpt, VersionOpt, handle_errors, stderr, stdout

app = typer.Typer(
    name="capture",
    help="Run agents on benchmarks against a real engine and record every call into a trace.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(version: VersionOpt = False) -> None:
    """Run agents on benchmarks against a real engine and record every call into a trace."""


def _knobs_help() -> str:
    """The agents' knobs and defaults, for ``capture run --help`` (and ``capture agents``)."""
    from dataclasses import MISSING, fields

    from ..agents.registry import AGENTS, agent_class

    lines = []
    for name in AGENTS:
        try:
            cls = agent_class(name)
        except Exception:  # an agent that cannot be imported is listed without knobs
            lines.append(f"{name}: (not available)")
            continue
        knobs = []
        for f in fields(cls.knobs_type):
            default = f.default if f.default is not MISSING else "by benchmark"
            knobs.append(f"{f.name}={'by benchmark' if default is None else default}")
        lines.append(f"{name}: {', '.join(knobs) or 'none'}")
    return "Agent knobs (--knob NAME=VALUE): " + "; ".join(lines) + "."


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    from ..errors import UsageError

    out = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} {item!r} is not NAME=VALUE; write e.g. {what} max_iterations=8")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def _coerce_knobs(agent: str, raw: dict[str, str]) -> dict:
    from dataclasses import fields

    from ..agents.registry import agent_class
    from ..datasets.registry import _coerce
    from ..errors import UsageError

    known = {f.name: f for f in fields(agent_class(agent).knobs_type)}
    out = {}
    for key, value in raw.items():
        if key not in known:
            raise UsageError(f"{agent} has no knob {key!r}; its knobs: {', '.join(known) or 'none'}")
        default = known[key].default
        out[key] = _coerce(value, default if default is not None else 0)
    return out


@app.command()
@handle_errors
def agents() -> None:
    """The agents, the benchmarks each runs on, and their knobs."""
    from ..agents.registry import pairs_table

    stdout().print(pairs_table())
    stdout().print(_knobs_help())


@app.command()
@handle_errors
def serve(
    model: Annotated[str | None, typer.Option(help="Model folder or id (default: SmolLM2-135M-Instruct).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: a free one).")] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    prefix_caching: Annotated[bool, typer.Option("--prefix-caching/--no-prefix-caching", help="Engine prefix caching.")] = True,
    max_model_len: Annotated[int | None, typer.Option(help="Context length (default: the model's, at most 8192).")] = None,
    log: Annotated[Path | None, typer.Option(help="Server log file (default: a temporary file).")] = None,
    engine_arg: Annotated[list[str] | None, typer.Option(help="Extra argument passed to the vLLM server (repeatable).")] = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Start the embedded vLLM engine and keep it running until Ctrl-C; `capture run --endpoint URL` can use it."""
    import signal
    import threading

    from .engine import EmbeddedEngine, EngineConfig

    cfg = EngineConfig(model=model, port=port, host=host, prefix_caching=prefix_caching, max_model_len=max_model_len,
                       log_path=log, extra_args=list(engine_arg or ()))
    if not quiet:
        stderr().print("starting the embedded vLLM engine…")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    with EmbeddedEngine(cfg) as engine:
        info = engine.info
        t = Table(title="engine ready (Ctrl-C stops it)", show_header=False, title_justify="left")
        t.add_column("", style="bold")
        t.add_column("", overflow="fold")
        flags = ", ".join(f"{k}={v}" for k, v in info.flags.items())
        for k, v in [("endpoint", info.base_url), ("model", f"{info.served_model} ({info.model})"),
                     ("engine", f"{info.name} {info.version}"), ("block size", f"{info.block_size_tokens} tokens"),
                     ("flags", flags or "-"), ("log", str(engine.log_path)),
                     ("use it", f"capture run AGENT DATASET --endpoint {info.base_url}")]:
            t.add_row(k, v)
        stdout().print(t)
        try:
            while not stop.wait(0.5):
                if not engine.running:
                    from ..errors import EngineError

                    raise EngineError("the engine exited unexpectedly; see its log above for why")
        except KeyboardInterrupt:
            pass
    if not quiet:
        stderr().print("engine stopped")


@app.command(epilog=_knobs_help())
@handle_errors
def run(
    agent: Annotated[str, typer.Argument(help="cot, react, reflexion, lats or llmcompiler.")],
    dataset: Annotated[str, typer.Argument(help="hotpotqa, webshop, math, humaneval or sharegpt.")],
    limit: Annotated[int | None, typer.Option(help="Run only the first N tasks.")] = 20,
    concurrency: Annotated[int, typer.Option(help="Tasks run at once in this process.")] = 1,
    out: Annotated[Path | None, typer.Option(help="Trace path (default runs/<agent>-<dataset>-<UTC time>.arrow).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing trace at --out.")] = False,
    endpoint: Annotated[str | None, typer.Option(help="Use this OpenAI-compatible server instead of starting one.")] = None,
    model: Annotated[str | None, typer.Option(help="Model folder or id (default: SmolLM2-135M-Instruct).")] = None,
    prefix_caching: Annotated[bool, typer.Option("--prefix-caching/--no-prefix-caching", help="Engine prefix caching.")] = True,
    max_tokens: Annotated[int, typer.Option(help="Cap on output tokens per call.")] = 256,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    data: Annotated[Path | None, typer.Option(help="Dataset file (default: the packaged or configured one).")] = None,
    text: Annotated[bool, typer.Option("--text/--no-text", help="Store prompt and output text in the trace.")] = True,
    sample_hz: Annotated[float, typer.Option(help="Engine /metrics scrapes per second.")] = 4.0,
    gpu_hz: Annotated[float, typer.Option(help="NVML samples per second per GPU (0: off; none without GPUs).")] = 10.0,
    knob: Annotated[list[str] | None, typer.Option(help="Agent setting NAME=VALUE (repeatable; see below).")] = None,
    dataset_option: Annotated[list[str] | None, typer.Option(
        help="Benchmark option NAME=VALUE (repeatable), e.g. wiki=online, level=5, subject=algebra.")] = None,
    constrained: Annotated[bool, typer.Option("--constrained/--free",
                                              help="Constrain action syntax with the engine's structured outputs.")] = True,
    task_timeout: Annotated[float | None, typer.Option(help="Seconds a task may take before it is stopped.")] = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run AGENT on DATASET and write every LLM call, tool call and engine sample to a trace."""
    from .run import RunConfig, check_pair, default_out, run_capture

    check_pair(agent, dataset)
    cfg = RunConfig(agent=agent, dataset=dataset, out=out or default_out(agent, dataset), limit=limit,
                    concurrency=concurrency, seed=seed, endpoint=endpoint, model=model, prefix_caching=prefix_caching,
                    max_tokens_cap=max_tokens, text=text, sample_hz=sample_hz, data=data, overwrite=overwrite,
                    knobs=_coerce_knobs(agent, _pairs(knob, "--knob")),
                    dataset_options=_pairs(dataset_option, "--dataset-option"), constrained=constrained,
                    task_timeout_s=task_timeout, gpu_hz=gpu_hz)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]:.2f} calls/s  errors {task.fields[errors]}"),
                        TimeElapsedColumn(), console=stderr(), disable=quiet, transient=False)
    state = {"task": None, "t0": 0.0, "errors": 0, "done": 0}

    def on_start(n: int) -> None:
        state["t0"] = time.monotonic()
        state["task"] = progress.add_task(f"{agent} {dataset} tasks", total=n, rate=0.0, errors=0)

    def on_done(res) -> None:  # one LLM call
        state["done"] += 1
        state["errors"] += 0 if res.ok else 1
        rate = state["done"] / max(1e-9, time.monotonic() - state["t0"])
        progress.update(state["task"], rate=rate, errors=state["errors"])

    def on_task() -> None:
        progress.update(state["task"], advance=1)

    if not quiet:
        stderr().print(f"starting {'endpoint ' + endpoint if endpoint else 'the embedded vLLM engine'}…")
    with progress:
        s = run_capture(cfg, on_start, on_done, on_task)
    t = Table(title=f"{agent} on {dataset}", show_header=False, title_justify="left")
    t.add_column("", style="bold")
    t.add_column("", overflow="fold")
    lat = "-" if s.mean_latency_s is None else f"{s.mean_latency_s:.3f} s mean, {s.p95_latency_s:.3f} s p95"
    for k, v in [("tasks", f"{s.tasks}"), ("LLM calls", f"{s.calls} ({s.failed_calls} failed)"),
                 ("prompt tokens", f"{s.prompt_tokens:,} ({s.cached_tokens:,} cached)"),
                 ("output tokens", f"{s.completion_tokens:,}"), ("task latency", lat), ("wall time", f"{s.wall_s:.1f} s"),
                 ("engine", f"{s.engine.get('name')} {s.engine.get('version')} at {s.engine.get('base_url')}"),
                 ("trace", str(s.out))]:
        t.add_row(k, v)
    stdout().print(t)
    for note in s.notes:
        stderr().print(f"[dim]{note}[/]")
    if s.failed_calls:
        stderr().print(f"[yellow]{s.failed_calls} call(s) failed; they are recorded in the trace[/]")


if __name__ == "__main__":
    app()
