"""What recording an LLM call costs the client, next to an OpenTelemetry span.

Measured side by side in one run, per call, in client CPU time (process CPU, so the
writer's and the span processor's background threads count too):

1. agentledger: build the ``LlmCall`` record the instrumented client builds (33 fields,
   ~125 packed block hashes) and hand it to ``TraceWriter.write`` — with prompt text
   (prefix-delta encoded, as captures store it by default) and without;
2. OpenTelemetry SDK: one span with 20 attributes, ended into a ``BatchSpanProcessor``
   whose exporter writes JSON to a file (the usual way to trace a call with the SDK).

Both are warmed up first; each figure is the median of three runs. Targets: recording
<= 10 us per call and >= 15x cheaper than the span. Network time is
not part of either. Tokenizing the prompt segments for the token categories is reported
separately (it runs off the event loop in a worker thread).

    python benchmarks/bench_recording.py [--calls 200000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agentledger.traceformat import LlmCall, RunMeta, TraceWriter
from agentledger.traceformat.hashing import block_hashes

con = Console()


def prompts(n_requests: int = 64, turns: int = 8) -> list[tuple[int, str]]:
    """Agent-shaped prompts: each request's prompt grows by one step per turn."""
    rng = random.Random(0)
    out = []
    for r in range(n_requests):
        text = "You answer questions with Thought/Action/Observation steps. " * 30
        for t in range(turns):
            text += f"Thought {t}: " + " ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(40))
            out.append((r, text))
    return out


def ours(n: int, text: bool, tmp: Path) -> float:
    tmp.mkdir(parents=True, exist_ok=True)
    pool = prompts()
    hashes = block_hashes(list(range(2000)), 16)
    stop = ["\nObservation"]
    with TraceWriter(tmp / f"ours-{text}.arrow", RunMeta(), text=text) as w:
        t0 = time.process_time()
        for i in range(n):
            rid, prompt = pool[i % len(pool)]
            w.write(LlmCall(
                request_id=rid + (i // len(pool)) * 1000, parent_event_id=rid, start_ns=i * 1000, end_ns=i * 1000 + 500,
                iteration=i % 8, ok=True, role="actor", model="SmolLM2-135M-Instruct", temperature=0.0,
                top_p=None, max_tokens=256, n=1, stop=stop, seed=0, finish_reason="stop", prompt_tokens=2000,
                completion_tokens=64, cached_tokens=1920, tokens_instruction=400, tokens_few_shot=1200,
                tokens_user=50, tokens_llm_history=150, tokens_tool_history=180, tokens_template=20,
                server_queue_ns=1000, server_prefill_ns=200_000, server_decode_ns=900_000, client_ttft_ns=250_000,
                client_e2e_ns=1_200_000, server_request_id=f"chatcmpl-{i}", prompt_block_hashes=hashes,
                prompt_text=prompt if text else None, output_text="Thought: x\nAction: Search[y]" if text else None))
        w.flush()
        return (time.process_time() - t0) / n


def otel(n: int, tmp: Path) -> float:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    with open(tmp / "spans.jsonl", "w") as fh:
        provider = TracerProvider()
        processor = BatchSpanProcessor(ConsoleSpanExporter(out=fh), max_queue_size=1 << 20)
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("bench")
        t0 = time.process_time()
        for i in range(n):
            span = tracer.start_span("llm_call")
            span.set_attributes({
                "request_id": i // 8, "parent_event_id": i // 8, "iteration": i % 8, "role": "actor",
                "model": "SmolLM2-135M-Instruct", "temperature": 0.0, "max_tokens": 256, "finish_reason": "stop",
                "prompt_tokens": 2000, "completion_tokens": 64, "cached_tokens": 1920, "tokens_instruction": 400,
                "tokens_few_shot": 1200, "tokens_user": 50, "tokens_llm_history": 150, "tokens_tool_history": 180,
                "server_queue_ns": 1000, "server_prefill_ns": 200_000, "server_decode_ns": 900_000,
                "server_request_id": f"chatcmpl-{i}"})
            span.end()
        processor.force_flush()
        dt = (time.process_time() - t0) / n
        provider.shutdown()
        return dt


def tokenization() -> float | None:
    try:
        from transformers import AutoTokenizer

        from agentledger.capture.model import default_model_dir
    except ImportError:
        return None
    tok = AutoTokenizer.from_pretrained(default_model_dir())
    segments = [p for _, p in prompts(4, 8)][-5:]
    t0 = time.perf_counter()
    for _ in range(50):
        tok(segments, add_special_tokens=False)
    return (time.perf_counter() - t0) / 50


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    con.print(f"recording benchmark on {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # warm up both (imports, first allocations, the span pipeline), then the median of 3 runs each
        ours(a.calls // 10, False, tmp / "w1"), ours(a.calls // 10, True, tmp / "w2"), otel(a.calls // 40, tmp)
        runs = {"no_text": [], "text": [], "span": []}
        for i in range(3):
            runs["no_text"].append(ours(a.calls, False, tmp / f"a{i}"))
            runs["text"].append(ours(a.calls, True, tmp / f"b{i}"))
            runs["span"].append(otel(a.calls // 4, tmp))
        no_text, with_text, span = (statistics.median(runs[k]) for k in ("no_text", "text", "span"))
    tok = tokenization()
    t = Table(title="recording one LLM call: client CPU per call")
    for c in ("recorder", "µs per call", "vs. OpenTelemetry span", "target"):
        t.add_column(c)
    t.add_row("agentledger, no text", f"{no_text * 1e6:.2f}", f"{span / no_text:.1f}x cheaper", "<= 10 µs, >= 15x")
    t.add_row("agentledger, prompt text as prefix delta", f"{with_text * 1e6:.2f}", f"{span / with_text:.1f}x cheaper",
              "<= 10 µs, >= 15x")
    t.add_row("OpenTelemetry SDK span, 20 attributes, batch + file", f"{span * 1e6:.2f}", "1x", "")
    if tok is not None:
        t.add_row("tokenizing 5 segments (~2.4k tokens) for categories", f"{tok * 1e6:,.0f}", "",
                  "off the event loop (worker thread)")
    con.print(t)
    if a.json:
        a.json.write_text(json.dumps({"ours_no_text_s": no_text, "ours_text_s": with_text, "otel_span_s": span,
                                      "tokenize_s": tok}, indent=1))


if __name__ == "__main__":
    main()
