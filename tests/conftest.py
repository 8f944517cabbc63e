"""Shared fixtures: synthetic agent-shaped traces written through the real writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentledger.traceformat import RunMeta, TraceWriter
from agentledger.traceformat.synthetic import SyntheticSpec, agent_events

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Benchmark files kept beside the repository (``../shared/data``), or ``$AGENTLEDGER_SHARED_DATA``."""
    import os

    path = Path(os.environ.get("AGENTLEDGER_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"benchmark data folder {path} is missing: set AGENTLEDGER_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_data_dir()


def write_synthetic(path: Path, spec: SyntheticSpec | None = None, **writer_kw) -> Path:
    spec = spec or SyntheticSpec(requests=4, iterations=4)
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
