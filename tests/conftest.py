"""Shared fixtures: synthetic agent-shaped traces written through the real writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentledger.traceformat import RunMeta, TraceWriter
from agentledger.traceformat.synthetic import SyntheticSpec, agent_events

FIXTURES = Path(__file__).parent / "fixtures"


def write_synthetic(path: Path, spec: SyntheticSpec = SyntheticSpec(requests=4, iterations=4), **writer_kw) -> Path:
    meta = RunMeta(config={"agent": "react", "dataset": "hotpotqa", "model": "SmolLM2-135M-Instruct",
                           "engine": {"name": "vllm", "version": "0.32.0", "flags": {"prefix_caching": True}},
                           "params": {"limit": spec.requests}},
                   block_size_tokens=spec.block_size)
    with TraceWriter(path, meta, text=spec.text, **writer_kw) as w:
        for rec in agent_events(spec, w.new_id):
            w.write(rec)
    return path


@pytest.fixture
def synthetic_trace(tmp_path: Path) -> Path:
    return write_synthetic(tmp_path / "synthetic.arrow")
