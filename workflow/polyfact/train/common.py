"""What every training method shares: run settings, device choice, resume, LoRA, and the
final save (merged weights + train_stats.json, swapped in atomically).

Checkpoints live outside the method's output directory (Snakemake deletes a failed job's
outputs): a killed job rerun resumes from its last checkpoint instead of restarting.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer
from transformers.integrations import MLflowCallback
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from polyfact.io import atomic_dir, write_json
from polyfact.tracking import active as tracking_active

log = logging.getLogger(__name__)


@dataclass
class LoraSpec:
    """PEFT LoRA adapter settings (paper: r64/α128 on attention for SFT; attention+MLP for GRPO)."""

    r: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass
class RunSpec:
    """Settings common to every method's trainer."""

    out_dir: Path
    checkpoint_dir: Path
    seed: int = 1234
    max_steps: int = 100
    batch_size: int = 8
    grad_accum: int = 1
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lr_scheduler: str = "linear"
    save_steps: int = 50
    logging_steps: int = 10
    bf16: bool = False
    gradient_checkpointing: bool = False
    lora: LoraSpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def on_gpu() -> bool:
    return torch.cuda.is_available()


def model_dtype(bf16: bool) -> torch.dtype:
    """bf16 on GPU when configured; fp32 on CPU (CPU bf16 training is slow and lossy)."""
    return torch.bfloat16 if bf16 and on_gpu() else torch.float32


def trainer_kwargs(spec: RunSpec) -> dict[str, Any]:
    """Keyword arguments valid for TrainingArguments and TRL's SFTConfig/GRPOConfig alike."""
    gpu = on_gpu()
    return {
        "output_dir": str(spec.checkpoint_dir),
        "seed": spec.seed,
        "data_seed": spec.seed,
        "max_steps": spec.max_steps,
        "per_device_train_batch_size": spec.batch_size,
        "gradient_accumulation_steps": spec.grad_accum,
        "learning_rate": spec.learning_rate,
        "lr_scheduler_type": spec.lr_scheduler,
        "warmup_steps": spec.warmup_ratio,  # a float in [0, 1) is a ratio of max_steps (transformers 5)
        "weight_decay": spec.weight_decay,
        "max_grad_norm": spec.max_grad_norm,
        "save_strategy": "steps",
        "save_steps": spec.save_steps,
        "save_total_limit": 2,
        "logging_steps": spec.logging_steps,
        "report_to": "none",
        "use_cpu": not gpu,
        "bf16": spec.bf16 and gpu,
        "gradient_checkpointing": spec.gradient_checkpointing and gpu,
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
        "disable_tqdm": False,
        **spec.extra,
    }


def apply_lora(model: PreTrainedModel, lora: LoraSpec | None) -> PreTrainedModel:
    """Wrap `model` in a LoRA adapter when configured (full fine-tuning otherwise)."""
    if lora is None:
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)  # type: ignore[return-value]


def resume_point(checkpoint_dir: Path) -> str | None:
    """The newest complete checkpoint of an interrupted run, if any.

    The Trainer writes trainer_state.json last, so a checkpoint without a readable one was cut
    off mid-save by the kill: it is removed, and the one before it is used.
    """
    if not checkpoint_dir.is_dir():
        return None
    found = sorted(
        (p for p in checkpoint_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.name.rsplit("-", 1)[1].isdigit()),
        key=lambda p: int(p.name.rsplit("-", 1)[1]),
        reverse=True,
    )
    for ckpt in found:
        try:
            json.loads((ckpt / TRAINER_STATE_NAME).read_text())
            return str(ckpt)
        except (OSError, json.JSONDecodeError):
            log.warning("removing incomplete checkpoint %s", ckpt)
            shutil.rmtree(ckpt, ignore_errors=True)
    return None


class SafeMLflowCallback(MLflowCallback):
    """transformers' MLflow callback, logging into the job's active run, except that a
    tracking error mid-training is a warning, not a failed training job."""

    def _safely(self, name: str, *args: Any, **kwargs: Any) -> None:
        try:
            getattr(super(), name)(*args, **kwargs)
        except Exception as err:  # noqa: BLE001
            log.warning("MLflow callback %s failed (%s); training goes on", name, err)

    def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
        self._safely("on_train_begin", *args, **kwargs)

    def on_log(self, *args: Any, **kwargs: Any) -> None:
        self._safely("on_log", *args, **kwargs)

    def on_train_end(self, *args: Any, **kwargs: Any) -> None:
        self._safely("on_train_end", *args, **kwargs)

    def on_save(self, *args: Any, **kwargs: Any) -> None:
        self._safely("on_save", *args, **kwargs)


def train_with_resume(trainer: Trainer, spec: RunSpec) -> dict[str, Any]:
    """Train, resuming from the last checkpoint when a previous attempt was killed; the
    training curves go to the job's MLflow run when it has one."""
    if tracking_active():
        trainer.add_callback(SafeMLflowCallback())
    resume = resume_point(spec.checkpoint_dir)
    if resume:
        log.info("resuming from %s", resume)
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - start
    state = trainer.state
    return {
        "steps": state.global_step,
        "resumed_from": resume,
        "train_loss": result.training_loss,
        "wall_seconds": round(wall, 3),
        "log_history": state.log_history,
    }


def save_final(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    spec: RunSpec,
    stats: Mapping[str, Any],
) -> None:
    """Merge LoRA, save weights, tokenizer and train_stats.json; then drop the checkpoints."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model = model.to(torch.float32) if not on_gpu() else model
    gpus = torch.cuda.device_count() if on_gpu() else 0
    full_stats = {
        **stats,
        "device": torch.cuda.get_device_name(0) if gpus else "cpu",
        "num_gpus": gpus,
        "gpu_hours": round(stats.get("wall_seconds", 0.0) * gpus / 3600, 4),
        "lora": None if spec.lora is None else vars(spec.lora) | {"target_modules": list(spec.lora.target_modules)},
        "torch_threads": torch.get_num_threads(),
    }
    with atomic_dir(spec.out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "train_stats.json", full_stats)
    shutil.rmtree(spec.checkpoint_dir, ignore_errors=True)
    log.info("saved %s (%d steps, %.1fs)", spec.out_dir, stats.get("steps", 0), stats.get("wall_seconds", 0.0))
