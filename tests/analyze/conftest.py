"""Fixtures for the analyses: hand-made traces with known answers, and every trace to smoke-test on.

``write_events`` writes records through the real ``TraceWriter``. ``analysis_trace``
is parametrized over a synthetic agent-shaped trace plus every captured trace kept in
``tests/fixtures/captured/*.arrow``: drop a real capture there and every analysis test
that uses the fixture runs on it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from agentledger.traceformat import LlmCall, Request, RunMeta, ToolCall, TraceWriter
from agentledger.traceformat.records import _Event
from tests.conftest import FIXTURES, write_synthetic

CAPTURED = sorted((FIXTURES / "captured").glob("*.arrow"))
MS = 1_000_000  # ns per millisecond


def config(agent: str = "react", dataset: str = "hotpotqa", **flags) -> dict:
    return {"agent": agent, "dataset": dataset, "model": "SmolLM2-135M-Instruct",
            "engine": {"name": "vllm", "flags": {"prefix_caching": True, **flags}},
            "params": {"concurrency": 1, "seed": 0, "limit": 2}}


def write_events(path: Path, events: Iterable[_Event], cfg: dict | None = None) -> Path:
    """Write ``events`` (records with their ids set) as a complete trace."""
    with TraceWriter(path, RunMeta(config=cfg or config()), text=False) as w:
        for e in events:
            w.write(e)
    return path


def req(rid: int, start_ms: float, end_ms: float, **kw) -> Request:
    return Request(event_id=rid, request_id=rid, start_ns=int(start_ms * MS), end_ns=int(end_ms * MS),
                   item_id=f"item-{rid}", **kw)


def llm(eid: int, rid: int, start_ms: float, end_ms: float, *, queue_ms=None, prefill_ms=None, decode_ms=None,
        **kw) -> LlmCall:
    ns = {k: None if v is None else int(v * MS) for k, v in
          (("server_queue_ns", queue_ms), ("server_prefill_ns", prefill_ms), ("server_decode_ns", decode_ms))}
    return LlmCall(event_id=eid, request_id=rid, parent_event_id=rid, start_ns=int(start_ms * MS),
                   end_ns=int(end_ms * MS), model="m", **ns, **kw)


def tool(eid: int, rid: int, start_ms: float, end_ms: float, name: str = "search", **kw) -> ToolCall:
    return ToolCall(event_id=eid, request_id=rid, parent_event_id=rid, start_ns=int(start_ms * MS),
                    end_ns=int(end_ms * MS), tool_name=name, **kw)


@pytest.fixture(params=["synthetic", *(p.name for p in CAPTURED)])
def analysis_trace(request, tmp_path) -> Path:
    if request.param == "synthetic":
        return write_synthetic(tmp_path / "synthetic.arrow")
    return FIXTURES / "captured" / request.param
