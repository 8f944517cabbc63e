"""Record real GPU telemetry (NVML) around a transformers workload into an agentledger trace.

For GPU machines without vLLM: 16 requests of a random-weight Llama-shaped model run through
transformers' batched generation while ``NvmlSampler`` writes ``gpu_sample`` events; each
request becomes a ``request`` and an ``llm_call`` event (client-side timings only). The trace
feeds ``analyze energy``, ``analyze gpu`` and ``analyze project``.

    python benchmarks/gpu_energy_capture.py OUT.arrow [--requests 16] [--prompt 2048] [--output 64]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from agentledger.capture.gpu import open_gpu_sampler
from agentledger.traceformat import LlmCall, Request, RunMeta, TraceWriter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--prompt", type=int, default=2048)
    ap.add_argument("--output", type=int, default=64)
    a = ap.parse_args()
    cfg = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    gpu = open_gpu_sampler(hz=20)
    meta = RunMeta(config={"agent": "batch", "dataset": "random", "model": "llama-3.1-8b-shaped (random weights)",
                           "engine": {"name": "transformers", "flags": {"batch": a.batch}},
                           "params": {"requests": a.requests, "prompt_tokens": a.prompt, "output_tokens": a.output}})
    meta.gpus = gpu.describe()
    g = torch.Generator(device="cuda").manual_seed(0)
    with TraceWriter(a.out, meta, overwrite=True) as w:
        gpu.start(w)
        time.sleep(2.0)  # idle before
        for _ in range(0, a.requests, a.batch):
            ids = torch.randint(0, cfg.vocab_size, (a.batch, a.prompt), device="cuda", generator=g)
            rids = [w.new_id() for _ in range(a.batch)]
            t0 = time.monotonic_ns()
            with torch.no_grad():
                model.generate(ids, max_new_tokens=a.output, min_new_tokens=a.output, do_sample=False)
            torch.cuda.synchronize()
            t1 = time.monotonic_ns()
            for rid in rids:
                w.write(LlmCall(request_id=rid, parent_event_id=rid, start_ns=w.to_run_clock(t0),
                                end_ns=w.to_run_clock(t1), iteration=0, prompt_tokens=a.prompt,
                                completion_tokens=a.output, model="llama-3.1-8b-shaped", max_tokens=a.output,
                                client_e2e_ns=t1 - t0))
                w.write(Request(event_id=rid, request_id=rid, start_ns=w.to_run_clock(t0), end_ns=w.to_run_clock(t1),
                                item_id=f"random-{rid}", outcome="unscored", iterations=1))
            time.sleep(1.0)  # a tool-like pause between batches: the GPU idles
        gpu.stop()
    print("wrote", a.out)


if __name__ == "__main__":
    main()
