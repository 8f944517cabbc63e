"""The benchmarks by name: ``open_benchmark("hotpotqa", data, options)``."""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Mapping
from typing import Any

from ..errors import UsageError
from .base import Benchmark

__all__ = ["DATASETS", "open_benchmark", "benchmark_options"]

# name -> (module, class)
_CLASSES = {
    "hotpotqa": ("agentledger.datasets.hotpotqa", "HotpotQA"),
    "webshop": ("agentledger.datasets.webshop", "WebShop"),
    "math": ("agentledger.datasets.math", "MATH"),
    "humaneval": ("agentledger.datasets.humaneval", "HumanEval"),
    "sharegpt": ("agentledger.datasets.sharegpt_benchmark", "ShareGPT"),
}
DATASETS = tuple(_CLASSES)


def _cls(name: str) -> type[Benchmark]:
    if name not in _CLASSES:
        raise UsageError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    module, cls = _CLASSES[name]
    return getattr(importlib.import_module(module), cls)


def benchmark_options(name: str) -> dict[str, Any]:
    """The keyword options a benchmark takes (``--dataset-option NAME=VALUE``) and their defaults."""
    sig = inspect.signature(_cls(name).__init__)
    return {p.name: p.default for p in sig.parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
            and p.name not in ("progress", "transport", "http_client")}


def _coerce(value: Any, default: Any) -> Any:
    if not isinstance(value, str) or isinstance(default, str):
        return value
    low = value.lower()
    if isinstance(default, bool) or low in ("true", "false"):
        return low in ("1", "true", "yes", "on")
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    return value


def open_benchmark(name: str, data: str | os.PathLike[str] | None = None,
                   options: Mapping[str, Any] | None = None) -> Benchmark:
    """Load benchmark ``name`` from ``data`` (or its environment variable / packaged default)."""
    known = benchmark_options(name)
    opts = {}
    for key, value in (options or {}).items():
        key = key.replace("-", "_")
        if key not in known:
            raise UsageError(f"{name} has no option {key!r}; its options: {', '.join(known) or 'none'}")
        opts[key] = _coerce(value, known[key])
    return _cls(name)(data, **opts)
