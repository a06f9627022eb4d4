"""Config sections -> what a training run is given: its trainer's arguments under Hugging Face's
own field names, and the few settings that are the project's own.

`cpt` and `sft` hold fields of transformers' `TrainingArguments` (our SFT is a plain `Trainer`
with a four-letter or answer-text loss, train/sft.py, not TRL's `SFTTrainer`); `grpo` holds
fields of TRL's `GRPOConfig`; `dco` and `cmalign` fields of TRL's `DPOConfig`; `training` holds
the jobs' resources and trainer fields shared by all three (a method's section overrides them). The job parses them with `HfArgumentParser.parse_dict`
(train/common.py), so any field can be set and an unknown one is an error.
`check_trainer_sections` fails the same way when the workflow is parsed, before any job runs.

The project's own keys: `lora` and `keep_checkpoints` (every method), CPT's `block_size` and
`corpus`, SFT's `facts_per_step`, `held_out_facts` and `target`, GRPO's `reward` and `prompt`,
DCO's `instances_per_step` and `max_instances`, CM-Align's `nll_gamma` and `construct` (its
preference-pair construction). Some fields are set by the workflow itself (FIXED_FIELDS) or
derived from other settings (DERIVED_FIELDS); setting one in the config is an error.

No torch/transformers/trl import here: `polyfact.config.check_config` runs this at every
workflow parse, and importing transformers' training arguments alone takes seconds.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from polyfact.errors import PolyfactError

METHODS = ("cpt", "sft", "grpo", "dco", "cmalign")
RESOURCE_KEYS = frozenset({"threads", "gpus", "mem_mb", "runtime"})
"""`training` keys that size the jobs (Snakemake resources), not the trainer."""

PROJECT_KEYS = {
    "cpt": frozenset({"lora", "keep_checkpoints", "block_size", "corpus", "held_out_blocks"}),
    "sft": frozenset({"lora", "keep_checkpoints", "facts_per_step", "held_out_facts", "target"}),
    "grpo": frozenset({"lora", "keep_checkpoints", "reward", "prompt"}),
    "dco": frozenset({"lora", "keep_checkpoints", "instances_per_step", "max_instances"}),
    "cmalign": frozenset({"lora", "keep_checkpoints", "nll_gamma", "construct"}),
}

CANDIDATES_DIR = "checkpoints"
"""Under a run's output directory: its kept steps as merged models, `checkpoints/step-{N}`."""

FIXED_FIELDS = {
    "output_dir": "the job's checkpoint directory",
    "seed": "the config's top-level seed",
    "data_seed": "the config's top-level seed",
    "use_cpu": "on exactly when no GPU is visible",
    "report_to": "none: the job logs to its own MLflow run",
    "save_strategy": "steps: a killed job resumes from its last checkpoint",
    "remove_unused_columns": "false: the trainers read their own columns",
}
"""Trainer fields the workflow sets, with why."""

DERIVED_FIELDS = {
    "cpt": {
        "eval_strategy": "steps when cpt.held_out_blocks > 0 (the held-out LM loss curve), else no",
        "eval_on_start": "true: the held-out curve starts before the first step",
    },
    "sft": {
        "per_device_train_batch_size": "sft.facts_per_step ÷ gradient_accumulation_steps × training languages",
        "eval_strategy": "steps when sft.held_out_facts > 0 (the held-out accuracy curve), else no",
        "eval_on_start": "true: the held-out curve starts before the first step",
    },
    "grpo": {
        "per_device_train_batch_size": "training languages × num_generations ÷ gradient_accumulation_steps",
        "steps_per_generation": "gradient_accumulation_steps (one fact per optimizer step)",
        "generation_batch_size": "training languages × num_generations (one fact per optimizer step)",
    },
    "dco": {"per_device_train_batch_size": "2 × dco.instances_per_step ÷ gradient_accumulation_steps (two rows each)"},
    "cmalign": {
        "loss_type": "sigmoid (DPO), plus sft when cmalign.nll_gamma > 0",
        "loss_weights": "1 for DPO and cmalign.nll_gamma for the NLL term",
    },
}
"""Per method, trainer fields computed from other settings, with from what."""

REPLACED_FIELDS = {
    "warmup_ratio": "removed in transformers 5: use warmup_steps (below 1, a fraction of max_steps)",
    "gradient_checkpointing": "deprecated in transformers 5: use activation_checkpointing",
    "gradient_checkpointing_kwargs": "deprecated in transformers 5: use activation_checkpointing_kwargs",
}
"""Fields that transformers 5 removed or renamed, with what to write instead."""

OLD_NAMES = {
    "activation_checkpointing": "gradient_checkpointing",
    "activation_checkpointing_kwargs": "gradient_checkpointing_kwargs",
}
"""New field -> its name in older transformers 5 (the GPU set's 5.17); common.py passes the old one there."""

TRAINING_ARGUMENTS = (("transformers.training_args", "TrainingArguments"),)
ARGUMENT_CLASSES = {
    "training": TRAINING_ARGUMENTS,
    "cpt": TRAINING_ARGUMENTS,
    "sft": TRAINING_ARGUMENTS,
    "grpo": (
        *TRAINING_ARGUMENTS,
        ("trl.trainer.base_config", "_BaseConfig"),
        ("trl.trainer.grpo_config", "GRPOConfig"),
    ),
    **dict.fromkeys(
        ("dco", "cmalign"),
        (*TRAINING_ARGUMENTS, ("trl.trainer.base_config", "_BaseConfig"), ("trl.trainer.dpo_config", "DPOConfig")),
    ),
}
"""Each section's trainer argument class as its inheritance chain (module, class), base first."""


class TrainerSettingsError(PolyfactError, ValueError):
    """A trainer section key that cannot work; the message names `section.key`."""


@dataclass
class LoraSpec:
    """PEFT LoRA adapter settings (paper: r64/α128 on attention for SFT; attention+MLP for GRPO)."""

    r: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass
class RunSpec:
    """One training run: where it writes, its seed, its trainer fields (Hugging Face names, as
    configured: the trainer adds what is derived or fixed), its LoRA adapter, and the
    intermediate steps kept as candidate models besides the final one (`base`, the model the run
    starts from, rebuilds them from a LoRA adapter)."""

    out_dir: Path
    checkpoint_dir: Path
    seed: int = 1234
    trainer: dict[str, Any] = field(default_factory=dict)
    lora: LoraSpec | None = None
    keep_steps: tuple[int, ...] = ()
    base: Path | None = None


def lora_spec(section: Mapping[str, Any] | None) -> LoraSpec | None:
    if section is None:
        return None
    spec = LoraSpec(**{k: v for k, v in section.items() if k != "target_modules"})
    if "target_modules" in section:
        spec.target_modules = tuple(section["target_modules"])
    return spec


@cache
def _class_fields(module: str, name: str) -> frozenset[str]:
    """The annotated fields declared in class `name` of `module`, read from its source file
    without importing it (tests/unit/test_train_settings.py checks them against `dataclasses.fields`)."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise PolyfactError(f"package {top!r} is not installed")
    path = Path(spec.submodule_search_locations[0], *rest).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return frozenset(
                stmt.target.id
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and "ClassVar" not in ast.unparse(stmt.annotation)
            )
    raise PolyfactError(f"{path}: no class {name}")


def argument_fields(section: str) -> frozenset[str]:
    """Names of the fields that `section`'s trainer argument class takes."""
    return frozenset().union(*(_class_fields(module, name) for module, name in ARGUMENT_CLASSES[section]))


def _problems(section: str, keys: Sequence[str], derived: Mapping[str, str]) -> list[str]:
    names = argument_fields(section)
    cls = ARGUMENT_CLASSES[section][-1][1]
    out = []
    for key in keys:
        if key in FIXED_FIELDS:
            out.append(f"{section}.{key}: set by the workflow ({FIXED_FIELDS[key]})")
        elif key in derived:
            out.append(f"{section}.{key}: derived from {derived[key]}, not configurable")
        elif key in REPLACED_FIELDS:
            out.append(f"{section}.{key}: {REPLACED_FIELDS[key]}")
        elif key not in names and OLD_NAMES.get(key) not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            out.append(f"{section}.{key}: not a field of {cls}{hint}")
    return out


def _trainer_keys(section: Mapping[str, Any], method: str | None) -> list[str]:
    own = RESOURCE_KEYS if method is None else PROJECT_KEYS[method]
    return [k for k in section if k not in own]


def check_method_section(method: str, section: Mapping[str, Any], training: Mapping[str, Any]) -> None:
    """Fail on a trainer field of `training` or of the method's section that the method's
    trainer does not take, that the workflow sets, or that is derived; all are named."""
    problems = _problems("training", _trainer_keys(training, None), DERIVED_FIELDS[method])
    problems += _problems(method, _trainer_keys(section, method), DERIVED_FIELDS[method])
    if problems:
        raise TrainerSettingsError("; ".join(problems))


def check_trainer_sections(config: Mapping[str, Any]) -> None:
    """Fail on any trainer field of the config that cannot work (see `check_method_section`),
    naming every one, before any job runs. A field `training` shares must suit every method."""
    derived_by_any: dict[str, list[str]] = {}
    for method in METHODS:
        for key, why in DERIVED_FIELDS[method].items():
            derived_by_any.setdefault(key, []).append(f"{why} in {method}")
    training = config.get("training", {})
    problems = _problems(
        "training", _trainer_keys(training, None), {k: " and ".join(v) for k, v in derived_by_any.items()}
    )
    for method in METHODS:
        problems += _problems(method, _trainer_keys(config.get(method, {}), method), DERIVED_FIELDS[method])
        try:
            kept_steps(method, config.get(method, {}))
        except TrainerSettingsError as err:
            problems.append(str(err))
    if problems:
        raise TrainerSettingsError("; ".join(problems))


def trainer_fields(method: str, section: Mapping[str, Any], training: Mapping[str, Any]) -> dict[str, Any]:
    """The method's trainer fields: `training`'s overlaid by the method section's."""
    return {k: training[k] for k in _trainer_keys(training, None)} | {
        k: section[k] for k in _trainer_keys(section, method)
    }


def kept_steps(method: str, section: Mapping[str, Any]) -> tuple[int, ...]:
    """The section's `keep_checkpoints`, sorted; each must lie before `max_steps` (the final model
    is always a candidate)."""
    steps = tuple(sorted(set(section.get("keep_checkpoints") or ())))
    last = section.get("max_steps")
    late = [s for s in steps if s < 1 or (last is not None and s >= last)]
    if late:
        raise TrainerSettingsError(
            f"{method}.keep_checkpoints: step(s) {late} not in 1..max_steps-1 ({last}); the final model is always kept"
        )
    return steps


def run_spec(
    method: str,
    section: Mapping[str, Any],
    training: Mapping[str, Any],
    out_dir: str | Path,
    checkpoint_dir: str | Path,
    seed: int,
    base: str | Path | None = None,
) -> RunSpec:
    """The RunSpec of one method (cpt/sft/grpo) from its config section and `training`."""
    check_method_section(method, section, training)
    return RunSpec(
        out_dir=Path(out_dir),
        checkpoint_dir=Path(checkpoint_dir),
        seed=seed,
        trainer=trainer_fields(method, section, training),
        lora=lora_spec(section.get("lora")),
        keep_steps=kept_steps(method, section),
        base=None if base is None else Path(base),
    )
