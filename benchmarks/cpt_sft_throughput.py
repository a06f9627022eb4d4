"""CPT and SFT throughput on a toy-sized Qwen2 (hidden 256, 4 layers, ~2k BPE vocab): the
part of `train_throughput.py` that trains CPT and SFT (full and LoRA) and times them.

Data: the pipeline's own results (facts table, parallel train view, per-language train records).
The tokenizer is trained on the rendered CPT rows plus full SFT examples (prompt + " A".." D"),
so the answer letters are single tokens. Tokens/s counts the tokens of the trained batches over
the trainer's wall time (it includes the trainer's start-up, a few seconds).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch
from polyfact.facts import read_facts
from polyfact.io import read_jsonl
from polyfact.models.toy import ToyModelSpec, toy_config, train_tokenizer
from polyfact.prompts import LETTERS, sft_prompt
from polyfact.train.cpt import CptSettings, train_cpt
from polyfact.train.parallel import render_parallel, toy_parallel_rows
from polyfact.train.settings import LoraSpec, RunSpec
from polyfact.train.sft import train_sft
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast


def load_inputs(
    data: Path,
) -> tuple[PreTrainedTokenizerFast, list[dict[str, str]], dict[str, list[dict]], list[str]]:
    """The pipeline's own data and a toy tokenizer trained on CPT rows and full SFT examples."""
    facts = read_facts(data / "facts.parquet")
    parallel = read_jsonl(data / "polyfact" / "parallel" / "train.jsonl")
    langs = sorted({k.removeprefix("question_") for k in parallel[0] if k.startswith("question_")})
    records = {lang: read_jsonl(data / "polyfact" / "train" / f"{lang}.jsonl") for lang in langs}
    rows = toy_parallel_rows(facts, parallel, langs)
    rng = random.Random(0)
    corpus = [render_parallel(r, rng) for r in rows]
    corpus += [sft_prompt(r) + " " + LETTERS[r["answer_index"]] for recs in records.values() for r in recs]
    return train_tokenizer(corpus, vocab_size=2000), rows, records, langs


def run_all(
    work: Path,
    tokenizer: PreTrainedTokenizerFast,
    rows: list[dict[str, str]],
    records: dict[str, list[dict]],
    langs: list[str],
    args: argparse.Namespace,
) -> list[tuple[str, int, str, int, float]]:
    """Train CPT and SFT, full and LoRA, from one random base model; rows of the table."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(toy_config(tokenizer, ToyModelSpec()))
    model.save_pretrained(work / "base")
    tokenizer.save_pretrained(work / "base")
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"toy Qwen2: {n_params / 1e6:.2f} M params, vocab {len(tokenizer)}, {len(langs)} languages, "
        f"{len(rows)} parallel rows, {len(records[langs[0]])} SFT facts, {torch.get_num_threads()} threads"
    )

    lora = LoraSpec(r=64, alpha=128, dropout=0.05)
    table: list[tuple[str, int, str, int, float]] = []
    for name, lora_spec in (("full", None), ("lora", lora)):
        quiet = {"max_steps": args.steps, "save_steps": 10**6, "logging_steps": 10**6}
        spec = RunSpec(
            out_dir=work / f"cpt-{name}",
            checkpoint_dir=work / f"ckpt-cpt-{name}",
            trainer=quiet | {"per_device_train_batch_size": args.cpt_batch, "learning_rate": 1e-4},
            lora=lora_spec,
        )
        s = train_cpt(work / "base", spec.out_dir, rows, spec, CptSettings(block_size=args.block_size))
        table.append(
            (f"cpt {name}", s["steps"], f"{args.cpt_batch}x{args.block_size}", s["tokens_trained"], s["wall_seconds"])
        )
        spec = RunSpec(
            out_dir=work / f"sft-{name}",
            checkpoint_dir=work / f"ckpt-sft-{name}",
            trainer=quiet | {"learning_rate": 1e-4},
            lora=lora_spec,
        )
        s = train_sft(work / "base", spec.out_dir, records, spec, facts_per_step=args.facts_per_step)
        table.append((f"sft {name}", s["steps"], f"{s['rows_per_step']} rows", s["tokens_trained"], s["wall_seconds"]))
    return table
