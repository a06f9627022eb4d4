"""What every training method shares: device choice, the trainer's arguments, resume, LoRA,
and the final save (merged weights + train_stats.json, swapped in atomically).

Checkpoints live outside the method's output directory (Snakemake deletes a failed job's
outputs): a killed job rerun resumes from its last checkpoint instead of restarting. Steps named
by `keep_checkpoints` are copied aside when saved (the trainer rotates its own checkpoints away)
and written next to the final model as merged candidates, `checkpoints/step-{N}`, for the
checkpoint selection rule.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from transformers import (
    AutoModelForCausalLM,
    HfArgumentParser,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)
from transformers.integrations import MLflowCallback
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from polyfact.errors import PolyfactError
from polyfact.io import atomic_dir, write_json
from polyfact.tracking import active as tracking_active
from polyfact.train.settings import CANDIDATES_DIR, OLD_NAMES, LoraSpec, RunSpec

log = logging.getLogger(__name__)
ArgsT = TypeVar("ArgsT", bound=TrainingArguments)


def on_gpu() -> bool:
    return torch.cuda.is_available()


def model_dtype(spec: RunSpec) -> torch.dtype:
    """bf16 on GPU when the trainer fields ask for it; fp32 on CPU (CPU bf16 training is slow
    and lossy)."""
    return torch.bfloat16 if spec.trainer.get("bf16", TRAINER_DEFAULTS["bf16"]) and on_gpu() else torch.float32


TRAINER_DEFAULTS: dict[str, Any] = {
    "bf16": False,
    "activation_checkpointing": False,
    "save_total_limit": 2,
    "dataloader_num_workers": 0,
    "disable_tqdm": False,
}
"""The project's defaults where the config sets nothing (TRL's differ: bf16 and checkpointing on)."""

GPU_ONLY = ("bf16", "activation_checkpointing", "use_vllm")
"""Fields that stay off on CPU whatever the config says (the same config runs on both)."""


def trainer_value(spec: RunSpec, cls: type[TrainingArguments], name: str) -> Any:
    """A trainer field as the trainer will see it before derivation: configured, else `cls`'s default."""
    if name in spec.trainer:
        return spec.trainer[name]
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def training_arguments(
    spec: RunSpec, cls: type[ArgsT] = TrainingArguments, derived: Mapping[str, Any] | None = None
) -> ArgsT:
    """`cls` (TrainingArguments or a TRL config) from the project defaults overlaid by the
    configured fields (`spec.trainer`), the values the trainer derives, and what the workflow
    fixes. Parsed by `HfArgumentParser`, so an unknown field is an error
    naming it."""
    gpu = on_gpu()
    fields = {**TRAINER_DEFAULTS, **spec.trainer}
    for key in GPU_ONLY:
        if key in fields:
            fields[key] = bool(fields[key]) and gpu
    names = {f.name for f in dataclasses.fields(cls)}
    for new, old in OLD_NAMES.items():
        if new in fields and new not in names:  # older transformers (5.17)
            fields[old] = fields.pop(new)
    fixed = {  # the keys of settings.FIXED_FIELDS
        "output_dir": str(spec.checkpoint_dir),
        "seed": spec.seed,
        "data_seed": spec.seed,
        "use_cpu": not gpu,
        "report_to": "none",
        "save_strategy": "steps",
        "remove_unused_columns": False,
    }
    (args,) = HfArgumentParser(cls).parse_dict({**fields, **(derived or {}), **fixed}, allow_extra_keys=False)
    return args


def held_out_evaluation(enabled: bool) -> dict[str, Any]:
    """Trainer fields for a held-out curve: evaluate before the first step and every
    `eval_steps` (transformers' default: logging_steps); none without held-out data."""
    return {"eval_strategy": "steps", "eval_on_start": True} if enabled else {"eval_strategy": "no"}


def lora_config(lora: LoraSpec) -> Any:
    """PEFT's `LoraConfig` of the configured adapter."""
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )


def apply_lora(model: PreTrainedModel, lora: LoraSpec | None, seed: int) -> PreTrainedModel:
    """Wrap `model` in a LoRA adapter when configured (full fine-tuning otherwise).

    Seeded here: the adapter's A matrices are drawn when it is created, before the Trainer seeds
    anything, and B starts at zero, so an unseeded run matched at step 1 and drifted from step 2.
    """
    if lora is None:
        return model
    from peft import get_peft_model
    from transformers import set_seed

    set_seed(seed)
    return get_peft_model(model, lora_config(lora))  # type: ignore[return-value]


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


KEPT_DIR = "kept"
"""Under the checkpoint directory: the kept steps' weights, `kept/step-{N}`."""
TRAINER_ONLY = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth", "training_args.bin")
"""Checkpoint files only a resumed trainer needs; a kept step's copy leaves them out."""


class KeepCheckpoints(TrainerCallback):
    """Saves at every kept step (whatever save_steps says) and copies that checkpoint's weights
    to `kept/step-{N}` before the trainer's rotation (save_total_limit) can delete it."""

    def __init__(self, steps: tuple[int, ...], checkpoint_dir: Path) -> None:
        self.steps = frozenset(steps)
        self.checkpoint_dir = checkpoint_dir

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if state.global_step in self.steps:
            control.should_save = True
        return control

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if state.global_step not in self.steps or not state.is_world_process_zero:
            return
        src = self.checkpoint_dir / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        dst = self.checkpoint_dir / KEPT_DIR / f"step-{state.global_step}"
        tmp = dst.with_name(dst.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(*TRAINER_ONLY))
        shutil.rmtree(dst, ignore_errors=True)
        tmp.rename(dst)
        log.info("kept step %d as a candidate (%s)", state.global_step, dst)


def train_with_resume(trainer: Trainer, spec: RunSpec) -> dict[str, Any]:
    """Train, resuming from the last checkpoint when a previous attempt was killed; the
    training curves go to the job's MLflow run when it has one."""
    if tracking_active():
        trainer.add_callback(SafeMLflowCallback())
    if spec.keep_steps:
        trainer.add_callback(KeepCheckpoints(spec.keep_steps, spec.checkpoint_dir))
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
    final_step = stats.get("steps")
    full_stats["checkpoint"] = {"step": final_step, "kept": list(spec.keep_steps)}
    with atomic_dir(spec.out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "train_stats.json", full_stats)
        for step in spec.keep_steps:
            out = tmp / CANDIDATES_DIR / f"step-{step}"
            save_candidate(spec, step, model.dtype, out)
            tokenizer.save_pretrained(out)
            write_json(out / "train_stats.json", full_stats | {"checkpoint": {"step": step, "final_step": final_step}})
    shutil.rmtree(spec.checkpoint_dir, ignore_errors=True)
    log.info("saved %s (%d steps, %.1fs)", spec.out_dir, stats.get("steps", 0), stats.get("wall_seconds", 0.0))


def save_candidate(spec: RunSpec, step: int, dtype: torch.dtype, out: Path) -> None:
    """Write kept step `step` as a plain model directory: a LoRA adapter is merged into a fresh
    copy of the base model (PEFT's own load-and-merge; the trained model in memory stays
    untouched), full weights are written as they are."""
    kept = spec.checkpoint_dir / KEPT_DIR / f"step-{step}"
    if not kept.is_dir():
        raise PolyfactError(f"{kept}: kept step {step} was never saved (did training reach it?)")
    if spec.lora is None:
        model = AutoModelForCausalLM.from_pretrained(kept, dtype=dtype)
    else:
        from peft import PeftModel

        if spec.base is None:
            raise PolyfactError("a kept LoRA step needs the run's base model to merge into")
        base = AutoModelForCausalLM.from_pretrained(spec.base, dtype=dtype)
        model = PeftModel.from_pretrained(base, kept).merge_and_unload()
    model.save_pretrained(out, safe_serialization=True)
