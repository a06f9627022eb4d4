"""MCQ scoring throughput: the batched scorer (context once, KV cache repeated per option,
length-bucketed batches) vs a naive scorer (one full forward pass per question × option), on
the same model and questions, in one run; also the largest score difference between them.
Needs a model directory and the dataset (`make run` writes both). Usage:

    python benchmarks/eval_throughput.py --model results/models/toy/base --questions 400 --threads 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from polyfact.evaluate.scoring import score_continuations, score_one
from polyfact.io import read_jsonl
from polyfact.models.load import load_model
from polyfact.prompts import mcq_prompt
from polyfact.records import OPTION_KEYS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("results/models/toy/base"))
    ap.add_argument("--data", type=Path, default=Path("results/data/polyfact/test"))
    ap.add_argument("--questions", type=int, default=400, help="questions, taken round-robin over languages")
    ap.add_argument("--batch-size", type=int, default=64, help="sequences per forward pass (batched scorer)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    per_lang = [read_jsonl(f) for f in sorted(args.data.glob("*.jsonl"))]
    rows = [r for group in zip(*per_lang, strict=False) for r in group][: args.questions]
    items = [(mcq_prompt(r["question"]), [" " + r[k] for k in OPTION_KEYS]) for r in rows]
    model, tokenizer = load_model(args.model)
    model.eval()
    sequences = 4 * len(items)

    score_continuations(model, tokenizer, items[:8], args.batch_size)  # warm-up
    start = time.perf_counter()
    batched = score_continuations(model, tokenizer, items, args.batch_size)
    batched_s = time.perf_counter() - start

    start = time.perf_counter()
    naive = [[score_one(model, tokenizer, ctx, c) for c in conts] for ctx, conts in items]
    naive_s = time.perf_counter() - start

    diff = max(
        abs(a.logprob - b.logprob) for ra, rb in zip(batched, naive, strict=True) for a, b in zip(ra, rb, strict=False)
    )
    params = sum(p.numel() for p in model.parameters())
    print(f"model {args.model} ({params / 1e6:.2f} M parameters), {len(items)} questions, {sequences} sequences")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (compare figures only from one idle run)")
    print(f"{'scorer':<32} {'seconds':>8} {'sequences/s':>12}")
    print(f"{'naive (1 forward per option)':<32} {naive_s:>8.2f} {sequences / naive_s:>12.0f}")
    print(f"{'batched, context reused':<32} {batched_s:>8.2f} {sequences / batched_s:>12.0f}")
    print(f"speed-up: {naive_s / batched_s:.1f}x; largest log-prob difference {diff:.2e}")


if __name__ == "__main__":
    main()
