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
from ..agents import registry as agents
from ..datasets.registry import DATASETS, open_benchmark
from ..errors import EngineError, UsageError
from ..traceformat import Request, RunMeta, TraceWriter
from .client import LLMClient, Segment
from .engine import EmbeddedEngine, EngineConfig, EngineInfo, probe_endpoint
from .episodes import TaskRunner
from .gpu import open_gpu_sampler
from .sampler import EngineSampler
from .tools import ToolRunner

__all__ = ["RunConfig", "RunSummary", "run_capture", "SUPPORTED", "default_out"]

SUPPORTED = agents.PAIRS
KNOWN_AGENTS = agents.AGENTS
KNOWN_DATASETS = DATASETS


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
    gpu_hz: float = 10.0  # NVML samples per second per GPU (0: none); nothing is sampled without GPUs
    data: Path | None = None
    overwrite: bool = False
    knobs: dict[str, Any] = field(default_factory=dict)  # agent settings (None = the agent's default)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    constrained: bool = True  # apply the agents' output constraints (vLLM structured outputs)
    task_timeout_s: float | None = None
    tool_timeout_s: float = 30.0


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
    engine_down: bool = False  # the engine stopped answering during the run
    tasks_done: int = 0


def default_out(agent: str, dataset: str) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{agent}-{dataset}-{stamp}.arrow"


def check_pair(agent: str, dataset: str) -> None:
    agents.check_pair(agent, dataset, DATASETS)


def _hf_counter(model_dir: str) -> Callable[[list[str]], list[int]]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)

    def count(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]

    return count


async def _run_tasks(cfg, tasks, client, writer, count, on_done, on_task=None, down=None) -> list[float]:
    sem = asyncio.Semaphore(cfg.concurrency)
    latencies: list[float] = []

    async def one(task) -> None:
        async with sem:
            if down is not None and down.is_set():
                return  # the engine is gone: do not start more tasks
            rid = writer.new_id()
            t0 = time.monotonic_ns()
            max_tokens = cfg.max_tokens_cap
            if task.reference_reply and count is not None:
                ref = (await asyncio.to_thread(count, [task.reference_reply]))[0]
                max_tokens = max(1, min(ref, cfg.max_tokens_cap))
            # the conversation's first human turn, alone: what vLLM's serving benchmark sends too
            segments = [Segment("user", task.prompt)]
            res = await client.chat(segments, request_id=rid, parent_event_id=rid, role="actor", iteration=0,
                                    temperature=cfg.temperature, max_tokens=max_tokens, seed=cfg.seed)
            t1 = time.monotonic_ns()
            writer.write(Request(event_id=rid, request_id=rid, start_ns=writer.to_run_clock(t0),
                                 end_ns=writer.to_run_clock(t1), ok=res.ok, error=res.error, item_id=task.item_id,
                                 outcome="unscored" if res.ok else "error", final_answer=res.text, iterations=1))
            latencies.append((t1 - t0) / 1e9)
            on_done(res)
            if on_task:
                on_task()

    await asyncio.gather(*(one(t) for t in tasks))
    return latencies


async def _run_agent(cfg, agent, bench, tasks, client, writer, count, on_call, on_task=None,
                     down=None) -> list[float]:
    await bench.warm_up()  # tool workers (MATH's sympy) start before the clock matters
    tools = ToolRunner(writer, count, default_timeout_s=cfg.tool_timeout_s, record_text=cfg.text)
    runner = TaskRunner(agent, bench, cfg.dataset, client, tools, writer, constrained=cfg.constrained,
                        seed=cfg.seed, task_timeout_s=cfg.task_timeout_s, on_call=on_call)
    sem = asyncio.Semaphore(cfg.concurrency)

    async def one(task) -> float | None:
        async with sem:
            if down is not None and down.is_set():
                return None  # the engine is gone: do not start more tasks
            latency, _ = await runner.run_task(task)
            if on_task:
                on_task()
            return latency

    return [x for x in await asyncio.gather(*(one(t) for t in tasks)) if x is not None]


_TRANSPORT_ERRORS = ("ConnectError", "RemoteProtocolError", "ReadError", "ConnectTimeout", "WriteError")


async def _engine_alive(base_url: str) -> bool:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=3.0) as http:
            return (await http.get(base_url.rstrip("/") + "/health")).status_code < 500
    except httpx.HTTPError:
        return False


def run_capture(cfg: RunConfig, on_start: Callable[[int], None] | None = None,
                on_done: Callable[[Any], None] | None = None,
                on_task: Callable[[], None] | None = None) -> RunSummary:
    """Run ``cfg.agent`` on ``cfg.dataset`` and write the trace to ``cfg.out``."""
    check_pair(cfg.agent, cfg.dataset)
    if cfg.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if cfg.out.exists() and not cfg.overwrite:
        raise UsageError(f"{cfg.out}: file exists; choose another --out or pass --overwrite")
    single_turn = (cfg.agent, cfg.dataset) == ("cot", "sharegpt")
    agent = bench = None
    if single_turn:  # the baseline: one call per conversation, max_tokens from the reference reply
        from ..datasets.sharegpt import load_sharegpt

        load = load_sharegpt(cfg.data, limit=cfg.limit, shuffle_seed=None)
        tasks: list[Any] = load.tasks
        notes = [load.summary()]
        dataset_meta: dict[str, Any] = {"name": "sharegpt", "summary": load.summary()}
        agent_meta: dict[str, Any] = {}
    else:
        cls = agents.agent_class(cfg.agent)
        agent = cls(cls.make_knobs(cfg.knobs))
        bench = open_benchmark(cfg.dataset, cfg.data, cfg.dataset_options)
        tasks = bench.tasks(cfg.limit)
        dataset_meta = dict(bench.describe())
        agent_meta = {**agent.settings(cfg.dataset), "constrained": cfg.constrained}
        notes = [f"{cfg.dataset}: {len(tasks)} tasks"]
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
        gpu = open_gpu_sampler(hz=cfg.gpu_hz)
        meta = RunMeta(
            config=_jsonable({"agent": cfg.agent, "dataset": cfg.dataset, "model": model_name,
                              "engine": info.to_dict(),
                              "params": {k: v for k, v in asdict(cfg).items() if k not in ("out", "overwrite")},
                              "agent_settings": agent_meta, "dataset_info": dataset_meta}),
            block_size_tokens=block, producer={"name": "agentledger", "version": __version__},
        )
        meta.gpus = gpu.describe() or meta.gpus
        if cfg.out.exists():
            cfg.out.unlink()
        cfg.out.parent.mkdir(parents=True, exist_ok=True)
        with TraceWriter(cfg.out, meta, text=cfg.text) as writer:
            gpu.start(writer)
            try:
                summary = asyncio.run(_main(cfg, info, model_name, tasks, writer, count, block, on_start, on_done,
                                            on_task, agent, bench))
            finally:
                gpu.stop()
        summary.engine, summary.notes = info.to_dict(), notes + summary.notes
        summary.wall_s = time.monotonic() - t_wall
        if summary.engine_down:
            where = f"; server log: {engine.log_path}" if engine is not None else ""
            raise EngineError(
                f"the engine at {info.base_url} stopped answering during the run: {summary.failed_calls} call(s) "
                f"failed, {summary.tasks - summary.tasks_done} task(s) not started; {cfg.out} is a valid trace "
                f"of everything recorded until then{where}")
        return summary
    finally:
        if engine is not None:
            engine.stop()
        if bench is not None:
            bench.close()


def _jsonable(obj: Any, home: str | None = None) -> Any:
    """Metadata as JSON values; paths under the user's home are written as ``~/...`` so a
    published trace does not carry the recording machine's user folders."""
    home = home if home is not None else str(Path.home())
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, home) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, home) for v in obj]
    if isinstance(obj, Path):
        obj = str(obj)
    if isinstance(obj, str):
        return "~" + obj[len(home):] if home not in ("", "/") and obj.startswith(home + "/") else obj
    if obj is None or isinstance(obj, (int, float, bool)):
        return obj
    return _jsonable(str(obj), home)


async def _main(cfg, info, model_name, tasks, writer, count, block, on_start, on_done, on_task=None,
                agent=None, bench=None) -> RunSummary:
    client = LLMClient(info.base_url, model_name, writer, count_tokens=count, block_size=block,
                       vllm_extras=info.name == "vllm", record_text=cfg.text)
    sampler = EngineSampler(info.base_url, writer, hz=cfg.sample_hz)
    stats = {"calls": 0, "failed": 0, "prompt": 0, "completion": 0, "cached": 0}
    down = asyncio.Event()
    probes: set[asyncio.Task] = set()

    async def probe() -> None:
        if not await _engine_alive(info.base_url):
            down.set()

    def done(res) -> None:
        stats["calls"] += 1
        stats["failed"] += 0 if res.ok else 1
        if not res.ok and not down.is_set() and any(e in (res.error or "") for e in _TRANSPORT_ERRORS):
            t = asyncio.ensure_future(probe())
            probes.add(t)
            t.add_done_callback(probes.discard)
        stats["prompt"] += res.prompt_tokens or 0
        stats["completion"] += res.completion_tokens or 0
        stats["cached"] += res.cached_tokens or 0
        if on_done:
            on_done(res)

    if on_start:
        on_start(len(tasks))
    sampler.start()
    try:
        if agent is None:
            lat = await _run_tasks(cfg, tasks, client, writer, count, done, on_task, down)
        else:
            lat = await _run_agent(cfg, agent, bench, tasks, client, writer, count, done, on_task, down)
        if probes:
            await asyncio.gather(*probes)
    finally:
        await sampler.stop()
        await client.aclose()
        if bench is not None:
            await bench.aclose()
    lat.sort()
    return RunSummary(
        out=cfg.out, tasks=len(tasks), calls=stats["calls"], failed_calls=stats["failed"],
        prompt_tokens=stats["prompt"], completion_tokens=stats["completion"], cached_tokens=stats["cached"],
        mean_latency_s=statistics.fmean(lat) if lat else None,
        p95_latency_s=lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None, wall_s=0.0,
        engine_down=down.is_set(), tasks_done=len(lat),
    )
