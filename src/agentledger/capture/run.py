"""Run orchestration: tasks × agent against an engine, concurrently, into one trace."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UsageError
from ..traceformat import Request, RunMeta, TraceWriter
from .client import LLMClient, Segment
from .engine import EmbeddedEngine, EngineConfig, EngineInfo, probe_endpoint
from .sampler import EngineSampler

__all__ = ["RunConfig", "RunSummary", "run_capture", "SUPPORTED", "default_out"]

# agent -> datasets it runs on here; grows as agents and benchmarks land
SUPPORTED: dict[str, tuple[str, ...]] = {"cot": ("sharegpt",)}
KNOWN_AGENTS = ("cot", "react", "reflexion", "lats", "llmcompiler")
KNOWN_DATASETS = ("hotpotqa", "webshop", "math", "humaneval", "sharegpt")
SYSTEM_PROMPT = "You are a helpful assistant."


@dataclass
class RunConfig:
    agent: str
    dataset: str
    out: Path
    limit: int | None = 20
    concurrency: int = 1
    seed: int = 0
    endpoint: str | None = None
    model: str | None = None
    prefix_caching: bool = True
    max_tokens_cap: int = 256
    temperature: float = 0.0
    text: bool = True
    sample_hz: float = 4.0
    data: Path | None = None
    overwrite: bool = False


@dataclass
class RunSummary:
    out: Path
    tasks: int
    calls: int
    failed_calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    mean_latency_s: float | None
    p95_latency_s: float | None
    wall_s: float
    engine: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def default_out(agent: str, dataset: str) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{agent}-{dataset}-{stamp}.arrow"


def check_pair(agent: str, dataset: str) -> None:
    if agent not in KNOWN_AGENTS:
        raise UsageError(f"unknown agent {agent!r}; valid agents: {', '.join(KNOWN_AGENTS)}")
    if dataset not in KNOWN_DATASETS:
        raise UsageError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(KNOWN_DATASETS)}")
    if dataset not in SUPPORTED.get(agent, ()):
        pairs = ", ".join(f"{a} {d}" for a, ds in SUPPORTED.items() for d in ds)
        raise UsageError(f"{agent} on {dataset} is not available in this version; available: {pairs}")


def _hf_counter(model_dir: str) -> Callable[[list[str]], list[int]]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)

    def count(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]

    return count


async def _run_tasks(cfg, tasks, client, writer, count, on_done) -> list[float]:
    sem = asyncio.Semaphore(cfg.concurrency)
    latencies: list[float] = []

    async def one(task) -> None:
        async with sem:
            rid = writer.new_id()
            t0 = time.monotonic_ns()
            max_tokens = cfg.max_tokens_cap
            if task.reference_reply and count is not None:
                ref = (await asyncio.to_thread(count, [task.reference_reply]))[0]
                max_tokens = max(1, min(ref, cfg.max_tokens_cap))
            segments = [Segment("instruction", SYSTEM_PROMPT, role="system"), Segment("user", task.prompt)]
            res = await client.chat(segments, request_id=rid, parent_event_id=rid, role="actor", iteration=0,
                                    temperature=cfg.temperature, max_tokens=max_tokens, seed=cfg.seed)
            t1 = time.monotonic_ns()
            writer.write(Request(event_id=rid, request_id=rid, start_ns=writer.to_run_clock(t0),
                                 end_ns=writer.to_run_clock(t1), ok=res.ok, error=res.error, item_id=task.item_id,
                                 outcome="unscored" if res.ok else "error", final_answer=res.text, iterations=1))
            latencies.append((t1 - t0) / 1e9)
            on_done(res)

    await asyncio.gather(*(one(t) for t in tasks))
    return latencies


def run_capture(cfg: RunConfig, on_start: Callable[[int], None] | None = None,
                on_done: Callable[[Any], None] | None = None) -> RunSummary:
    """Run ``cfg.agent`` on ``cfg.dataset`` and write the trace to ``cfg.out``."""
    check_pair(cfg.agent, cfg.dataset)
    if cfg.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if cfg.out.exists() and not cfg.overwrite:
        raise UsageError(f"{cfg.out}: file exists; choose another --out or pass --overwrite")
    from ..datasets.sharegpt import load_sharegpt

    load = load_sharegpt(cfg.data, limit=cfg.limit, shuffle_seed=None)
    tasks = load.tasks
    notes = [load.summary()]
    engine = None
    t_wall = time.monotonic()
    try:
        if cfg.endpoint:
            info: EngineInfo = probe_endpoint(cfg.endpoint)
            model_name = info.served_model or info.model or cfg.model or ""
            count = _hf_counter(cfg.model) if cfg.model and Path(cfg.model).is_dir() else None
        else:
            log_path = cfg.out.with_name(cfg.out.stem + ".server.log")
            engine = EmbeddedEngine(EngineConfig(model=cfg.model, prefix_caching=cfg.prefix_caching, log_path=log_path))
            engine.start()
            info = engine.info
            model_name = engine.served_model or ""
            count = _hf_counter(str(info.model)) if info.model and Path(str(info.model)).is_dir() else None
        if count is None:
            notes.append("token categories not counted: no local tokenizer for this model (pass --model FOLDER)")
        block = info.block_size_tokens or 16
        meta = RunMeta(
            config={"agent": cfg.agent, "dataset": cfg.dataset, "model": model_name, "engine": info.to_dict(),
                    "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()
                               if k not in ("out", "overwrite")}},
            block_size_tokens=block, producer={"name": "agentledger", "version": __version__},
        )
        if cfg.out.exists():
            cfg.out.unlink()
        cfg.out.parent.mkdir(parents=True, exist_ok=True)
        with TraceWriter(cfg.out, meta, text=cfg.text) as writer:
            summary = asyncio.run(_main(cfg, info, model_name, tasks, writer, count, block, on_start, on_done))
        summary.engine, summary.notes = info.to_dict(), notes + summary.notes
        summary.wall_s = time.monotonic() - t_wall
        return summary
    finally:
        if engine is not None:
            engine.stop()


async def _main(cfg, info, model_name, tasks, writer, count, block, on_start, on_done) -> RunSummary:
    client = LLMClient(info.base_url, model_name, writer, count_tokens=count, block_size=block,
                       vllm_extras=info.name == "vllm", record_text=cfg.text)
    sampler = EngineSampler(info.base_url, writer, hz=cfg.sample_hz)
    stats = {"calls": 0, "failed": 0, "prompt": 0, "completion": 0, "cached": 0}

    def done(res) -> None:
        stats["calls"] += 1
        stats["failed"] += 0 if res.ok else 1
        stats["prompt"] += res.prompt_tokens or 0
        stats["completion"] += res.completion_tokens or 0
        stats["cached"] += res.cached_tokens or 0
        if on_done:
            on_done(res)

    if on_start:
        on_start(len(tasks))
    sampler.start()
    try:
        lat = await _run_tasks(cfg, tasks, client, writer, count, done)
    finally:
        await sampler.stop()
        await client.aclose()
    lat.sort()
    return RunSummary(
        out=cfg.out, tasks=len(tasks), calls=stats["calls"], failed_calls=stats["failed"],
        prompt_tokens=stats["prompt"], completion_tokens=stats["completion"], cached_tokens=stats["cached"],
        mean_latency_s=statistics.fmean(lat) if lat else None,
        p95_latency_s=lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None, wall_s=0.0,
    )
