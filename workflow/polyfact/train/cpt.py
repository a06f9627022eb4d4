"""Continued pretraining (CPT, §7): causal-LM loss on every token of packed parallel text."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer

from polyfact.corpus import ParallelRow
from polyfact.errors import PolyfactError
from polyfact.train.common import (
    apply_lora,
    held_out_evaluation,
    model_dtype,
    save_final,
    train_with_resume,
    training_arguments,
)
from polyfact.train.objectives import objective_summary
from polyfact.train.parallel import held_out_blocks, pack, render_parallel
from polyfact.train.settings import RunSpec


@dataclass
class CptSettings:
    """CPT's own settings (the trainer's are TrainingArguments fields in RunSpec.trainer)."""

    block_size: int = 256
    held_out_blocks: int = 16  # blocks kept out of training for the held-out LM loss curve


def causal_collate(features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack full blocks; labels are the inputs (the model shifts them).

    Not DataCollatorForLanguageModeling: it masks pad-token labels, and where pad == EOS
    (Qwen2.5) that would drop the EOS row separators from the loss.
    """
    ids = torch.tensor([f["input_ids"] for f in features], dtype=torch.long)
    return {"input_ids": ids, "labels": ids.clone()}


def train_cpt(
    model_dir: str | Path, out_dir: str | Path, rows: Sequence[ParallelRow], spec: RunSpec, settings: CptSettings
) -> dict[str, Any]:
    """Render (seeded language order), pack, train, save merged weights + train_stats.json.

    `out_dir` must equal `spec.out_dir` (save_final writes there); it is a parameter so a rule's
    call reads like the others.
    """
    if Path(out_dir) != Path(spec.out_dir):
        raise PolyfactError(f"out_dir {out_dir} differs from spec.out_dir {spec.out_dir}")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rng = random.Random(spec.seed)
    blocks = pack((render_parallel(row, rng) for row in rows), tokenizer, settings.block_size)
    if not blocks:
        raise PolyfactError(f"parallel corpus of {len(rows)} rows fills no block of {settings.block_size} tokens")
    blocks, held_out = held_out_blocks(blocks, settings.held_out_blocks)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=model_dtype(spec))
    model = apply_lora(model, spec.lora, spec.seed)
    args = training_arguments(spec, derived=held_out_evaluation(bool(held_out)))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"input_ids": blocks}),
        eval_dataset=Dataset.from_dict({"input_ids": held_out}) if held_out else None,
        data_collator=causal_collate,
        processing_class=tokenizer,
    )
    stats = train_with_resume(trainer, spec)
    # Over all attempts (global_step counts the steps before a resume too).
    rows_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
    tokens = stats["steps"] * rows_per_step * settings.block_size
    stats |= {
        "method": "cpt",
        "rows": len(rows),
        "blocks": len(blocks),
        "held_out_blocks": len(held_out),
        "block_size": settings.block_size,
        "tokens_trained": tokens,
        "objective": objective_summary("cpt", stats["log_history"]),
    }
    save_final(trainer.model, tokenizer, spec, stats)
    return stats
