"""Shared CLI plumbing: error handling, output options and version strings.

Both console scripts are thin Typer apps over library functions. Library errors
(``AgentledgerError``) become one red line on stderr and a non-zero exit; a
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from . import __version__
from .errors import AgentledgerError

__all__ = ["JsonOpt", "DebugOpt", "handle_errors", "version_text", "print_json", "stderr", "stdout"]

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout instead of a table.")]
ChartOpt = Annotated[Path | None, typer.Option("--chart", help="Also write a chart: .html, .png or .svg.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or logs on stderr.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")]


def stdout() -> Console:
    return Console()


def stderr() -> Console:
    return Console(stderr=True)


def version_text() -> str:
    from .traceformat.schema import FORMAT_VERSION

    return f"agentledger {__version__} (trace format {FORMAT_VERSION})"


def version_callback(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


VersionOpt = Annotated[
    bool,
    typer.Option("--version", callback=version_callback, is_eager=True, help="Print the package and trace-format versions."),
]


def fail(message: str, code: int = 2) -> None:
    """Print one red error line to stderr and exit with ``code``."""
    stderr().print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn library errors into one red line and an exit code (tracebacks only with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.get("debug", False)
        try:
            return func(*args, **kwargs)
        except AgentledgerError as exc:
            if debug:
                raise
            fail(_escape(str(exc)), exc.exit_code)
        except KeyboardInterrupt:
            stderr().print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except OSError as exc:
            if debug:
                raise
            fail(_escape(f"{getattr(exc, 'filename', None) or ''}: {exc.strerror or exc}".lstrip(": ")), 2)

    return wrapper  # type: ignore[return-value]


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
