"""The `capture` console script: a thin Typer app over agentledger.capture functions."""

from __future__ import annotations

import typer

from .._cli import VersionOpt

app = typer.Typer(
    name="capture",
    help="Run agents on benchmarks against a real engine and record every call into a trace.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def main(ctx: typer.Context, version: VersionOpt = False) -> None:
    """Run agents on benchmarks against a real engine and record every call into a trace."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


if __name__ == "__main__":
    app()
