"""agentledger: trace capture and offline analytics for LLM agents.

Subpackages, in data-flow order: ``agents`` and ``datasets`` produce work,
``capture`` runs it against an engine and writes through ``traceformat``,
``analyze`` reads traces back. ``analyze`` never imports ``capture``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("agentledger")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
