"""One small exception tree. The CLIs turn these into one red line and an exit code."""

from __future__ import annotations

__all__ = ["AgentledgerError", "TraceError", "UsageError", "EngineError", "DataError"]


class AgentledgerError(Exception):
    """Base error: ``str(err)`` is a one-line message saying what is wrong and what to do."""

    exit_code = 2


class UsageError(AgentledgerError):
    """Bad arguments or options given by the user."""


class TraceError(AgentledgerError):
    """A trace file that cannot be read, or is not a trace of a version we know."""


class EngineError(AgentledgerError):
    """The inference engine could not be started, reached or kept alive."""


class DataError(AgentledgerError):
    """A benchmark data file that is missing or malformed."""
