"""Training throughput of every method on the toy model, CPU, in one run (one table).

CPT and SFT: tokens/s of the trained batches over the trainer's wall time (full and LoRA).
GRPO: generation (new tokens/s, inside the trainer) and update (prompt+completion tokens/s of
scoring, loss and backward) separately. Needs the data stages' outputs under results/data.
Usage:

    python benchmarks/train_throughput.py --steps 10 --threads 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import cpt_sft_throughput
import grpo_throughput
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("results/data"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--block-size", type=int, default=256)
    ap.add_argument("--cpt-batch", type=int, default=8)
    ap.add_argument("--facts-per-step", type=int, default=2)
    ap.add_argument("--langs", type=int, default=4, help="GRPO: languages per fact")
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer, rows, records, langs = cpt_sft_throughput.load_inputs(args.data)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        table = cpt_sft_throughput.run_all(Path(tmp), tokenizer, rows, records, langs, args)

    grpo_langs = list(grpo_throughput.LANGS[: args.langs])
    model, grpo_tok = grpo_throughput.toy_model(grpo_langs)
    args.steps = min(args.steps, 4)
    grpo = grpo_throughput.bench_grpo(model, grpo_tok, grpo_langs, args)

    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (compare figures only from one idle run)")
    print(f"{'run':<22} {'tokens/s':>9} {'s/step':>7}  batch")
    for run, steps, batch, tokens, wall in table:
        print(f"{run:<22} {tokens / wall:>9.0f} {wall / steps:>7.3f}  {batch}")
    batch = f"{args.langs} langs x G={args.generations}, {args.new_tokens} new tokens"
    print(f"{'grpo generation':<22} {grpo['gen_tok_s']:>9.0f} {grpo['gen_s']:>7.3f}  {batch} (new tokens/s)")
    print(f"{'grpo update':<22} {grpo['update_tok_s']:>9.0f} {grpo['step_s'] - grpo['gen_s']:>7.3f}  {batch}")


if __name__ == "__main__":
    main()
