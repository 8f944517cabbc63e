"""Engine sampling: scrape the server's Prometheus ``/metrics`` into ``engine_sample`` events.

Counters are stored raw (cumulative); analyses difference them. Gauges are summed
over label sets (one engine per model here). Metric names are vLLM's; a server that
lacks one leaves that column null.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ..traceformat import EngineSample, TraceWriter

__all__ = ["EngineSampler", "parse_engine_metrics", "VLLM_METRICS"]

log = logging.getLogger(__name__)

# trace column -> Prometheus sample names, first present wins
VLLM_METRICS: dict[str, tuple[str, ...]] = {
    "engine_kv_cache_usage_frac": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    "engine_running": ("vllm:num_requests_running",),
    "engine_waiting": ("vllm:num_requests_waiting",),
    "engine_prefix_queries_total": ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    "engine_prefix_hits_total": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    "engine_preemptions_total": ("vllm:num_preemptions_total",),
    "engine_prompt_tokens_total": ("vllm:prompt_tokens_total",),
    "engine_generation_tokens_total": ("vllm:generation_tokens_total",),
}
_INT_COLUMNS = {k for k in VLLM_METRICS if k != "engine_kv_cache_usage_frac"}


def parse_engine_metrics(text: str) -> dict[str, float | int | None]:
    """Map a Prometheus exposition to engine_sample columns (None where absent)."""
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            sums[s.name] = sums.get(s.name, 0.0) + s.value
    out: dict[str, float | int | None] = {}
    for col, names in VLLM_METRICS.items():
        val = next((sums[n] for n in names if n in sums), None)
        out[col] = None if val is None else (int(val) if col in _INT_COLUMNS else float(val))
    return out


def parse_block_size(text: str) -> int | None:
    """The KV block size from vLLM's ``cache_config_info`` labels, if exposed."""
    for family in text_string_to_metric_families(text):
        if family.name == "vllm:cache_config_info":
            for s in family.samples:
                bs = s.labels.get("block_size")
                if bs and bs.isdigit():
                    return int(bs)
    return None


class EngineSampler:
    """Scrape ``base_url/metrics`` at ``hz`` until stopped; one engine_sample per scrape."""

    def __init__(self, base_url: str, writer: TraceWriter, *, hz: float = 4.0, timeout_s: float = 2.0) -> None:
        self._url = base_url.rstrip("/") + "/metrics"
        self._w = writer
        self._period = 1.0 / hz
        self._timeout = timeout_s
        self._task: asyncio.Task | None = None
        self.samples = 0
        self.errors = 0

    async def scrape_once(self, client: httpx.AsyncClient) -> bool:
        t = time.monotonic_ns()
        try:
            resp = await client.get(self._url, timeout=self._timeout)
            resp.raise_for_status()
            values = parse_engine_metrics(resp.text)
        except (httpx.HTTPError, ValueError) as exc:
            self.errors += 1
            log.debug("metrics scrape failed: %s", exc)
            return False
        ts = self._w.to_run_clock(t)
        self._w.write(EngineSample(start_ns=ts, end_ns=ts, **values))
        self.samples += 1
        return True

    async def _loop(self) -> None:
        async with httpx.AsyncClient() as client:
            next_t = time.monotonic()
            while True:
                await self.scrape_once(client)
                next_t += self._period
                await asyncio.sleep(max(0.0, next_t - time.monotonic()))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="engine-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
