"""Config sections (dicts validated by the workflow schema) -> the trainers' settings objects.

Kept apart from the trainers so a rule, the CLI and a test build identical settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from polyfact.train.common import LoraSpec, RunSpec


def lora_spec(section: Mapping[str, Any] | None) -> LoraSpec | None:
    if section is None:
        return None
    spec = LoraSpec(**{k: v for k, v in section.items() if k != "target_modules"})
    if "target_modules" in section:
        spec.target_modules = tuple(section["target_modules"])
    return spec


def run_spec(
    method: Mapping[str, Any], training: Mapping[str, Any], out_dir: str | Path, checkpoint_dir: str | Path, seed: int
) -> RunSpec:
    """A RunSpec from one method's section (cpt/sft/grpo) plus the shared `training` section."""
    return RunSpec(
        out_dir=Path(out_dir),
        checkpoint_dir=Path(checkpoint_dir),
        seed=seed,
        max_steps=method["steps"],
        batch_size=method.get("batch_size", 1),
        grad_accum=method.get("grad_accum", 1),
        learning_rate=method["learning_rate"],
        warmup_ratio=method.get("warmup_ratio", 0.0),
        weight_decay=method.get("weight_decay", 0.0),
        max_grad_norm=method.get("max_grad_norm", 1.0),
        save_steps=training.get("save_steps", 200),
        logging_steps=training.get("logging_steps", 10),
        bf16=training.get("bf16", False),
        gradient_checkpointing=training.get("gradient_checkpointing", False),
        lora=lora_spec(method.get("lora")),
    )
