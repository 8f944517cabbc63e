"""Run metadata: what the run was, where it ran, and how its clock maps to wall time.

Stored as JSON in the Arrow schema's custom metadata under ``agentledger.meta``;
``agentledger.format`` and ``agentledger.version`` sit beside it so that any Arrow
reader can tell what the file is without parsing JSON.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from .schema import FORMAT_NAME, FORMAT_VERSION

__all__ = ["RunMeta", "host_inventory", "META_KEY", "FORMAT_KEY", "VERSION_KEY"]

FORMAT_KEY = b"agentledger.format"
VERSION_KEY = b"agentledger.version"
META_KEY = b"agentledger.meta"


def host_inventory() -> dict[str, Any]:
    """What machine this is: name, OS, Python, CPU count and memory."""
    mem_bytes = None
    try:
        mem_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "mem_total_bytes": mem_bytes,
    }


@dataclass
class RunMeta:
    """Everything about a run that is not an event.

    ``config`` holds the run's configuration: ``agent``, ``dataset``, ``params``
    (limit, concurrency, seed, ...), ``model`` and ``engine`` (``name``, ``version``,
    ``endpoint``, ``flags`` such as ``prefix_caching``). Times: event ``start_ns``/
    ``end_ns`` count from the monotonic origin; wall time of an event is
    ``clock_origin_wall_ns + start_ns``.
    """

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    config: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=host_inventory)
    gpus: list[dict[str, Any]] = field(default_factory=list)
    block_size_tokens: int | None = None
    clock_origin_wall_ns: int = 0
    clock_origin_monotonic_ns: int = 0
    created_wall_ns: int = 0
    producer: dict[str, str] = field(default_factory=dict)
    text_payloads: bool = True
    format: str = FORMAT_NAME
    version: str = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def anchor_clock(self) -> None:
        """Take the clock origin now: wall and monotonic readings as close together as we can."""
        mono0 = time.monotonic_ns()
        wall = time.time_ns()
        mono1 = time.monotonic_ns()
        self.clock_origin_monotonic_ns = (mono0 + mono1) // 2
        self.clock_origin_wall_ns = wall
        if not self.created_wall_ns:
            self.created_wall_ns = wall

    def to_metadata(self) -> dict[bytes, bytes]:
        return {
            FORMAT_KEY: self.format.encode(),
            VERSION_KEY: self.version.encode(),
            META_KEY: json.dumps(asdict(self), sort_keys=True, default=str).encode(),
        }

    @classmethod
    def from_json(cls, raw: bytes | str) -> RunMeta:
        data = json.loads(raw)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        meta = cls(**known)
        meta.extra = {**meta.extra, **{k: v for k, v in data.items() if k not in cls.__dataclass_fields__}}
        return meta
