"""Opening traces for analysis: expand paths and globs, check versions, group by run configuration.

Every analysis takes a :class:`TraceSet`. It names each trace's group (the run
configuration, SPEC.md section 11.1) and scans events of one kind from all traces
as one polars lazy frame with two added columns: ``trace`` (the trace's position
in the set) and ``group`` (its group label, an ``Enum`` in first-seen order, so
sorting by it keeps the order the user gave).
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import TraceError, UsageError
from ..traceformat import RunMeta, read_meta, scan_trace
from ..traceformat.migrate import MAJOR_STEPS
from ..traceformat.schema import FORMAT_MAJOR

__all__ = ["GROUP_BY", "INSTANCE_PARAMS", "TraceRef", "Group", "TraceSet", "expand_paths", "open_traces", "config_key"]

GROUP_BY = ("config", "trace")
"""Ways to group traces: by run configuration (repeated runs pooled) or one group per trace."""

INSTANCE_PARAMS = frozenset({"seed", "limit", "data", "out", "overwrite", "endpoint", "text", "sample_hz"})
"""Run parameters that tell repetitions of one configuration apart; left out of the config key."""

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class TraceRef:
    """One trace of the set: where it is, what run it was, and its group label."""

    index: int
    path: Path
    meta: RunMeta
    version: tuple[int, int]
    group: str


@dataclass(frozen=True)
class Group:
    """Traces pooled together: one run configuration (or one trace with ``--by trace``)."""

    label: str
    config: dict[str, Any]
    paths: tuple[Path, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.label, "config": self.config, "traces": [str(p) for p in self.paths]}


def expand_paths(patterns: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Paths named by ``patterns`` (files or glob patterns), in order, each once."""
    if not patterns:
        raise UsageError("no traces given; pass one or more trace files or glob patterns (runs/*.arrow)")
    out: dict[Path, None] = {}
    for pat in patterns:
        text = os.fspath(pat)
        if _GLOB_CHARS & set(text) and not Path(text).exists():
            hits = sorted(glob.glob(text, recursive=True))
            if not hits:
                raise UsageError(f"no file matches {text!r}; check the pattern (quote it so the shell leaves it alone)")
            out.update((Path(h), None) for h in hits)
        else:
            out[Path(text)] = None
    return list(out)


def config_key(config: dict[str, Any]) -> dict[str, Any]:
    """The identifying part of a run configuration (SPEC.md 11.1)."""
    engine = config.get("engine") or {}
    params = config.get("params") or {}
    return {
        "agent": config.get("agent"),
        "dataset": config.get("dataset"),
        "model": config.get("model"),
        "engine": engine.get("name"),
        "flags": dict(sorted((engine.get("flags") or {}).items())),
        "params": {k: v for k, v in sorted(params.items()) if k not in INSTANCE_PARAMS},
    }


def _flat(key: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in key.items() if k not in ("flags", "params")}
    for section in ("flags", "params"):
        for k, v in key[section].items():
            flat[k if k not in flat else f"{section}.{k}"] = v
    return flat


def _config_labels(keys: list[dict[str, Any]]) -> list[str]:
    """``agent/dataset`` plus every field that differs between the groups, as ``name=value``."""
    flats = [_flat(k) for k in keys]
    names = list(dict.fromkeys(n for f in flats for n in f))
    varying = [n for n in names if n not in ("agent", "dataset")
               and len({json.dumps(f.get(n), sort_keys=True, default=str) for f in flats}) > 1]
    labels = []
    for f in flats:
        base = f"{f.get('agent') or '?'}/{f.get('dataset') or '?'}"
        labels.append(" ".join([base, *(f"{n}={f.get(n)}" for n in varying)]))
    return labels


def _trace_labels(paths: list[Path]) -> list[str]:
    stems = [p.stem for p in paths]
    return [s if stems.count(s) == 1 else str(p) for s, p in zip(stems, paths, strict=True)]


def _check_versions(metas: list[tuple[Path, tuple[int, int]]]) -> None:
    unreadable = [(p, v) for p, v in metas if v[0] < FORMAT_MAJOR and any(m not in MAJOR_STEPS for m in range(v[0], FORMAT_MAJOR))]
    if unreadable:
        p, v = unreadable[0]
        others = sorted({f"{w[0]}.{w[1]}" for _, w in metas})
        raise TraceError(f"{p}: trace format {v[0]}.{v[1]} cannot be read with the others (versions given: "
                         f"{', '.join(others)}) and has no migration; analyze traces of format {FORMAT_MAJOR}.x")


@dataclass
class TraceSet:
    """Traces to analyze together, each with its group."""

    traces: list[TraceRef]
    groups: list[Group]
    _frames: dict[int, pl.LazyFrame] = field(default_factory=dict, repr=False)  # trace index -> its events

    @property
    def labels(self) -> list[str]:
        return [g.label for g in self.groups]

    def describe(self) -> list[dict[str, Any]]:
        return [g.to_dict() for g in self.groups]

    def events(self, trace: TraceRef) -> pl.LazyFrame:
        """All events of one trace, lazily: scanned from disk, or read once and kept when the
        file must be recovered or migrated first (see ``traceformat.scan_trace``)."""
        if trace.index not in self._frames:
            self._frames[trace.index] = scan_trace(trace.path)
        return self._frames[trace.index]

    def scan(self, kind: str | Sequence[str], columns: Sequence[str]) -> pl.LazyFrame:
        """Events of ``kind`` from every trace: ``columns``, then ``trace`` and ``group``.

        ``kind`` may be several kinds, read in one pass (cheaper than one scan per kind);
        name ``kind`` in ``columns`` to tell them apart.
        """
        group_type = pl.Enum(self.labels)
        wanted = pl.col("kind") == kind if isinstance(kind, str) else pl.col("kind").is_in(list(kind))
        parts = []
        for t in self.traces:
            lf = self.events(t).filter(wanted).select(columns)
            parts.append(lf.with_columns(pl.lit(t.index, pl.UInt32).alias("trace"),
                                         pl.lit(t.group, group_type).alias("group")))
        return pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]

    def require(self, present: pl.DataFrame, kind: str, command: str, need: str) -> None:
        """Fail with one line naming the first trace that has no ``kind`` events in ``present``."""
        have = set(present.get_column("trace").unique().to_list()) if present.height else set()
        for t in self.traces:
            if t.index in have:
                continue
            total = self.events(t).select(pl.len()).collect().item()
            if total == 0:
                raise TraceError(f"{t.path}: the trace holds no events (the capture recorded nothing); "
                                 "remove it from the command")
            raise TraceError(f"{t.path}: no {kind} events; analyze {command} needs {need}")


def open_traces(patterns: Sequence[str | os.PathLike[str]], *, by: str = "config") -> TraceSet:
    """Read the metadata of every trace named by ``patterns`` and group them ``by`` config or trace."""
    if by not in GROUP_BY:
        raise UsageError(f"unknown --by value {by!r}; use one of: {', '.join(GROUP_BY)}")
    paths = expand_paths(patterns)
    metas = [(p, *read_meta(p)) for p in paths]
    _check_versions([(p, v) for p, _, v in metas])
    if by == "trace":
        labels = _trace_labels(paths)
        keys = [config_key(m.config) for _, m, _ in metas]
    else:
        keys, labels = [], []
        uniq: list[dict[str, Any]] = []
        for _, m, _ in metas:
            k = config_key(m.config)
            keys.append(k)
            if k not in uniq:
                uniq.append(k)
        names = dict(zip((json.dumps(k, sort_keys=True, default=str) for k in uniq), _config_labels(uniq), strict=True))
        labels = [names[json.dumps(k, sort_keys=True, default=str)] for k in keys]
    traces = [TraceRef(i, p, m, v, lab) for i, ((p, m, v), lab) in enumerate(zip(metas, labels, strict=True))]
    groups = []
    for lab in dict.fromkeys(labels):
        members = [t for t in traces if t.group == lab]
        groups.append(Group(lab, keys[members[0].index], tuple(t.path for t in members)))
    return TraceSet(traces, groups)
