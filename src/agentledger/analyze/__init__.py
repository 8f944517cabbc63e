"""Offline analytics on traces. Never imports ``agentledger.capture``.

``load`` opens and groups traces, ``stats`` and ``intervals`` hold the shared statistics
and interval arithmetic, ``output`` renders reports (tables, JSON, charts), and one module
per analysis (``calls``, ``breakdown``, ``latency``, ``tokens``) computes plain polars
frames from a :class:`TraceSet`; ``commands`` turns each into an ``analyze`` subcommand.
Definitions: SPEC.md section 11.
"""

from .load import TraceSet, open_traces
from .output import Report, Section

__all__ = ["Report", "Section", "TraceSet", "open_traces"]
