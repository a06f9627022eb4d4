"""Toy pretraining throughput: tokens/s of the toy world's base-model pretraining step on its
own corpus, with one padded row per line (the old batching) beside lines packed into rows
(`polyfact.train.toy.pack_lines`, what pretraining uses), at several row lengths, in one run.

Data: the pipeline's own results (`snakemake --cores 2 results/models/toy/base` or a default
run first). Each variant trains a fresh model (same seed) for `--steps` optimizer steps of
`--batch` lines, full forward + backward + AdamW as in pretraining, after two warm-up steps;
tokens counts the real tokens of the lines, not padding. The same batches feed every variant.

    python benchmarks/toy_pretraining.py --data results/data --steps 40
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
from polyfact.dataset.templates import load_templates
from polyfact.facts import read_facts
from polyfact.models.toy import ToyModelSpec, toy_config, train_tokenizer
from polyfact.prompts import answer_scaffolds
from polyfact.train.data import parallel_rows, records_by_language
from polyfact.train.toy import LETTER_LINES, ToyCorpusSpec, english_format_lines, fact_lines, line_dataset, pack_lines
from transformers import AutoModelForCausalLM, DataCollatorForLanguageModeling


def corpus(data: Path, templates: Path, languages: list[str], low: list[str]) -> list[str]:
    """The default config's toy corpus (shares 0.25 / 0.08) from the pipeline's data."""
    fact_ids = {r["fact_id"] for r in parallel_rows(data / "polyfact")}
    facts = read_facts(data / "facts.parquet")
    rows = facts[facts["fact_id"].isin(fact_ids)].to_dict("records")
    by_lang = load_templates(templates, languages)
    lines = fact_lines(rows, by_lang, languages, low, ToyCorpusSpec(), 1234)
    en = records_by_language(data / "polyfact", "train", ["en"])["en"]
    lines += english_format_lines(en, rows, by_lang["en"], answer_scaffolds(templates, ["en"])["en"])
    random.Random(0).shuffle(lines)
    return lines


def time_variant(name: str, collate, batches, tokenizer, steps: int) -> tuple[str, float, float, float]:
    """(variant, seconds, real tokens/s, padded-slot share) over `steps` measured steps."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(
        toy_config(tokenizer, ToyModelSpec(hidden_size=128, intermediate_size=384))
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = slots = 0
    for i, batch in enumerate(batches[: steps + 2]):
        if i == 2:
            start = time.perf_counter()
        inputs = collate(batch)
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if i >= 2:
            tokens += sum(len(f["input_ids"]) for f in batch)
            slots += inputs["input_ids"].numel()
    seconds = time.perf_counter() - start
    return name, seconds, tokens / seconds, 1 - tokens / slots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("results/data"))
    ap.add_argument("--templates", type=Path, default=Path("config/templates"))
    ap.add_argument("--languages", default="en,de,fr,es,pt,ru,zh,ja,ar,bn,id,sw")
    ap.add_argument("--low-resource", default="id,bn,sw")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lines = corpus(args.data, args.templates, args.languages.split(","), args.low_resource.split(","))
    tokenizer = train_tokenizer(lines + LETTER_LINES, 3000)
    dataset = line_dataset(lines, tokenizer, 256)
    features = [{"input_ids": ids} for ids in dataset["input_ids"]]
    batches = [features[i : i + args.batch] for i in range(0, len(features), args.batch)]
    print(
        f"toy corpus: {len(lines)} lines, {sum(len(f['input_ids']) for f in features)} tokens; "
        f"batches of {args.batch} lines, {args.steps} steps, {args.threads} threads"
    )
    padded = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    variants = [("padded, one row per line", padded)] + [
        (f"packed, rows of {n} tokens", lambda b, n=n: pack_lines(b, tokenizer.pad_token_id, n)) for n in (64, 128, 256)
    ]
    results = [time_variant(name, collate, batches, tokenizer, args.steps) for name, collate in variants]
    base = results[0][2]
    print(f"{'variant':28} {'seconds':>8} {'tokens/s':>9} {'padding':>8} {'vs padded':>9}")
    for name, seconds, rate, pad in results:
        print(f"{name:28} {seconds:8.1f} {rate:9.0f} {pad:8.0%} {rate / base:8.2f}x")


if __name__ == "__main__":
    main()
