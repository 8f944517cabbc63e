"""GPU telemetry: NVML samples written as ``gpu_sample`` events during a capture.

``open_gpu_sampler`` returns an ``NvmlSampler`` when NVML (``nvidia-ml-py``) loads and sees at
least one GPU, else a ``NullSampler`` that writes nothing, so a capture runs the same way on a
machine without GPUs. The sampler thread reads, per GPU and at ``hz``: board power, the
driver's total-energy counter (mJ, stored as J), utilization, memory used, SM clock and
temperature. NVML errors for one field leave that field null; they never stop the capture.
``describe()`` is what the trace metadata keeps about the GPUs.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from ..traceformat import GpuSample, TraceWriter

__all__ = ["GpuSampler", "NvmlSampler", "NullSampler", "open_gpu_sampler"]


class GpuSampler(Protocol):
    def start(self, writer: TraceWriter) -> None: ...
    def stop(self) -> None: ...
    def describe(self) -> list[dict[str, Any]]: ...


class NullSampler:
    """No GPUs (or no NVML): samples nothing."""

    def start(self, writer: TraceWriter) -> None:
        pass

    def stop(self) -> None:
        pass

    def describe(self) -> list[dict[str, Any]]:
        return []


def _try(fn, *args, scale: float = 1.0):
    try:
        value = fn(*args)
    except Exception:  # one unsupported field must not stop sampling (pynvml raises NVMLError_*)
        return None
    return value * scale if scale != 1.0 else value


class NvmlSampler:
    """Samples every visible GPU through NVML in a daemon thread."""

    def __init__(self, nvml: Any, *, hz: float = 10.0) -> None:
        self._nv, self._w, self._period = nvml, None, 1.0 / hz
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        self._uuids = [str(_try(nvml.nvmlDeviceGetUUID, h)) for h in self._handles]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def describe(self) -> list[dict[str, Any]]:
        nv = self._nv
        out = []
        for i, h in enumerate(self._handles):
            mem = _try(nv.nvmlDeviceGetMemoryInfo, h)
            limit = _try(nv.nvmlDeviceGetEnforcedPowerLimit, h)
            out.append({"index": i, "uuid": self._uuids[i], "name": str(_try(nv.nvmlDeviceGetName, h)),
                        "memory_bytes": getattr(mem, "total", None),
                        "power_limit_w": None if limit is None else limit / 1000.0,
                        "driver": str(_try(nv.nvmlSystemGetDriverVersion))})
        return out

    def sample_once(self) -> None:
        nv, w = self._nv, self._w
        if w is None:
            return
        now = w.now_ns()
        for i, h in enumerate(self._handles):
            util = _try(nv.nvmlDeviceGetUtilizationRates, h)
            mem = _try(nv.nvmlDeviceGetMemoryInfo, h)
            w.write(GpuSample(
                start_ns=now, end_ns=now, gpu_index=i, gpu_uuid=self._uuids[i], gpu_source="nvml",
                gpu_power_w=_try(nv.nvmlDeviceGetPowerUsage, h, scale=1e-3),
                gpu_energy_j=_try(nv.nvmlDeviceGetTotalEnergyConsumption, h, scale=1e-3),
                gpu_util_pct=None if util is None else float(util.gpu),
                gpu_mem_used_bytes=getattr(mem, "used", None),
                gpu_sm_clock_mhz=_try(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM),
                gpu_temp_c=_try(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU),
            ))

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            next_t += self._period
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def start(self, writer: TraceWriter) -> None:
        self._w = writer
        self.sample_once()
        self._thread = threading.Thread(target=self._run, name="agentledger-gpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.sample_once()  # a last sample closes the energy interval of the run
        try:
            self._nv.nvmlShutdown()
        except Exception:  # shutting NVML down is best effort
            pass


def open_gpu_sampler(*, hz: float = 10.0) -> GpuSampler:
    """An NVML sampler when NVML and a GPU are there, else a ``NullSampler``."""
    if hz <= 0:
        return NullSampler()
    try:
        import pynvml

        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() == 0:
            pynvml.nvmlShutdown()
            return NullSampler()
    except Exception:  # no driver, no library, no GPU: run without GPU telemetry
        return NullSampler()
    return NvmlSampler(pynvml, hz=hz)
