"""What the two preference methods share (DCO, CM-Align): a TRL `DPOTrainer` (or subclass)
from a model directory, LoRA handed to TRL so that the reference is the policy with its
adapter disabled (without LoRA, TRL keeps a frozen copy), resume, and the final save."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer

from polyfact.errors import PolyfactError
from polyfact.train.common import lora_config, model_dtype, save_final, train_with_resume
from polyfact.train.objectives import objective_summary
from polyfact.train.settings import RunSpec

PREFERENCE_LOGS = ("loss", "rewards/accuracies", "rewards/margins", "dco/agreement")
"""Logged values kept per step in train_stats.json's `preference_history`."""


def train_preference(
    trainer_cls: type[DPOTrainer],
    model_dir: str | Path,
    out_dir: str | Path,
    dataset: Dataset,
    spec: RunSpec,
    args: DPOConfig,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """Train `trainer_cls` on `dataset` (prompt / chosen / rejected rows) from `model_dir`; save
    merged weights and train_stats.json (with the method's `extra` entries) to `out_dir`
    (= spec.out_dir)."""
    if Path(out_dir) != Path(spec.out_dir):
        raise PolyfactError(f"out_dir {out_dir} differs from spec.out_dir {spec.out_dir}")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=model_dtype(spec))
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=None if spec.lora is None else lora_config(spec.lora),
    )
    stats = train_with_resume(trainer, spec)
    stats["preference_history"] = [
        {"step": e["step"], **{k: e[k] for k in PREFERENCE_LOGS if k in e}}
        for e in stats["log_history"]
        if "rewards/accuracies" in e
    ]
    stats["rows"] = len(trainer.train_dataset)
    stats |= extra
    stats["objective"] = objective_summary(extra["method"], stats["log_history"])
    stats["settings"] = {"beta": args.beta, "loss_type": list(args.loss_type), **extra.get("settings", {})}
    save_final(trainer.model, tokenizer, spec, stats)
    return stats
