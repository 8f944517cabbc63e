"""The NVML sampler against a fake ``pynvml`` that answers in NVML's own units (mW, mJ, bytes)."""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import pytest

from agentledger.capture.gpu import NullSampler, NvmlSampler, open_gpu_sampler
from agentledger.traceformat import RunMeta, TraceWriter, read_trace, validate_trace


class FakeNvml:
    """Two GPUs; GPU 0 draws 250 W, GPU 1 100 W; the energy counters advance with wall time."""

    NVML_CLOCK_SM = 1
    NVML_TEMPERATURE_GPU = 0

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.shutdown = False

    def nvmlInit(self): ...
    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-{h}"

    def nvmlDeviceGetName(self, h):
        return "Fake H100"

    def nvmlSystemGetDriverVersion(self):
        return "999.1"

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return 700_000

    def nvmlDeviceGetPowerUsage(self, h):
        return 250_000 if h == 0 else 100_000

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        return int((time.monotonic() - self.t0) * (250_000 if h == 0 else 100_000))

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=90 if h == 0 else 10, memory=5)

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(total=80 << 30, used=(40 << 30) if h == 0 else (1 << 30))

    def nvmlDeviceGetClockInfo(self, h, kind):
        raise RuntimeError("NVMLError_NotSupported")  # an unsupported field stays null

    def nvmlDeviceGetTemperature(self, h, kind):
        return 55


def test_samples_in_watts_and_joules(tmp_path):
    nv = FakeNvml()
    sampler = NvmlSampler(nv, hz=50)
    meta = RunMeta(gpus=sampler.describe())
    assert meta.gpus[0]["power_limit_w"] == 700.0 and meta.gpus[1]["uuid"] == "GPU-1"
    with TraceWriter(tmp_path / "g.arrow", meta) as w:
        sampler.start(w)
        time.sleep(0.5)
        sampler.stop()
    assert nv.shutdown
    tr = read_trace(tmp_path / "g.arrow")
    assert validate_trace(tr) == []
    g = tr.events("gpu_sample").sort("start_ns")
    g0 = g.filter(g["gpu_index"] == 0)
    assert 15 <= g0.height <= 30  # 50 Hz for 0.5 s, plus the first and last samples
    assert set(g0["gpu_power_w"]) == {250.0} and set(g.filter(g["gpu_index"] == 1)["gpu_power_w"]) == {100.0}
    energy = g0["gpu_energy_j"].to_list()
    assert energy == sorted(energy)
    span_s = (g0["start_ns"][-1] - g0["start_ns"][0]) / 1e9
    assert energy[-1] - energy[0] == pytest.approx(250.0 * span_s, rel=0.15)  # J = W x s
    assert g0["gpu_mem_used_bytes"][0] == 40 << 30 and g0["gpu_util_pct"][0] == 90.0
    assert g["gpu_sm_clock_mhz"].null_count() == g.height and g["gpu_source"].unique().to_list() == ["nvml"]


def test_without_nvml_nothing_is_sampled(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    assert isinstance(open_gpu_sampler(hz=10), NullSampler)
    assert isinstance(open_gpu_sampler(hz=0), NullSampler)
