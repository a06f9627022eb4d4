"""Config sections -> trainer arguments: Hugging Face field names parsed by the classes' own
parser, the project's overlay (training < method < derived < fixed), values identical to the
hand translation they replaced, and the `polyfact train METHOD` command line."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from polyfact.cli import build_parser
from polyfact.train import common
from polyfact.train.common import training_arguments
from polyfact.train.grpo import grpo_config
from polyfact.train.settings import (
    FIXED_FIELDS,
    RunSpec,
    TrainerSettingsError,
    argument_fields,
    lora_spec,
    run_spec,
)
from polyfact.train.sft import sft_arguments
from polyfact.train.toy import PretrainSpec, pretraining_arguments
from snakemake.utils import validate
from transformers import TrainingArguments
from trl import GRPOConfig

REPO = Path(__file__).resolve().parents[2]

# The TrainingArguments/GRPOConfig values the embedded default config gave before the trainer
# sections took Hugging Face's names (then: steps, batch_size, grad_accum, warmup_ratio,
# max_new_tokens, translated by hand): renaming must not change a single value.
SHARED = {
    "warmup_steps": 0.0,
    "gradient_accumulation_steps": 1,
    "weight_decay": 0.0,
    "lr_scheduler_type": "linear",
    "save_steps": 100,
    "logging_steps": 10,
    "save_total_limit": 2,
    "seed": 1234,
    "data_seed": 1234,
    "use_cpu": True,
    "bf16": False,
    "gradient_checkpointing": False,
    "report_to": [],
    "save_strategy": "steps",
    "remove_unused_columns": False,
    "dataloader_num_workers": 0,
    "disable_tqdm": False,
}
TODAY = {
    "cpt": SHARED | {"max_steps": 100, "learning_rate": 1e-4, "max_grad_norm": 1.0, "per_device_train_batch_size": 8},
    "sft": SHARED
    | {
        "max_steps": 100,
        "learning_rate": 1.5e-4,
        "lr_scheduler_type": "constant",
        "max_grad_norm": 1.0,
        "per_device_train_batch_size": 40,
        "eval_steps": 50,
        "per_device_eval_batch_size": 32,
    },
    "grpo": SHARED
    | {
        "max_steps": 40,
        "learning_rate": 1e-4,
        "max_grad_norm": 5.0,
        "per_device_train_batch_size": 40,  # 10 training languages × G=4: one fact per step
        "steps_per_generation": 1,
        "num_generations": 4,
        "max_completion_length": 12,
        "temperature": 0.7,
        "top_p": 0.95,
        "beta": 0.0,
        "loss_type": "dapo",
        "scale_rewards": "group",
        "use_vllm": False,
    },
}


@pytest.fixture(autouse=True)
def cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU arguments on any machine (bf16, checkpointing and vLLM are GPU-only)."""
    monkeypatch.setattr(common, "on_gpu", lambda: False)


def default_config() -> dict[str, Any]:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def spec(method: str, config: dict[str, Any]) -> RunSpec:
    return run_spec(method, config[method], config["training"], "out", "ckpt", config["seed"])


def test_default_config_gives_todays_trainer_arguments() -> None:
    config = default_config()
    n_langs = len(config["languages"]["train"])
    built = {
        "cpt": training_arguments(spec("cpt", config)),
        "sft": sft_arguments(spec("sft", config), config["sft"]["facts_per_step"], n_langs),
        "grpo": grpo_config(spec("grpo", config), n_langs),
    }
    assert isinstance(built["grpo"], GRPOConfig) and type(built["sft"]) is TrainingArguments
    for method, expected in TODAY.items():
        args = built[method].to_dict()
        assert {k: args[k] for k in expected} == expected, method
        assert args["output_dir"] == "ckpt"
        assert built[method].get_warmup_steps(args["max_steps"]) == 0


def test_toy_pretraining_arguments_keep_todays_schedule() -> None:
    config = default_config()
    toy, training = config["toy"], config["training"]
    run = RunSpec(Path("out"), Path("ckpt"), 1234, {k: training[k] for k in ("save_steps", "logging_steps")})
    pretrain = PretrainSpec(
        toy["epochs"], toy["vocab_size"], toy["batch_size"], toy["learning_rate"], toy["warmup_ratio"]
    )
    args = pretraining_arguments(run, pretrain, n_lines=4321)
    assert args.max_steps == math.ceil(9 * 4321 / 64) == 608
    assert (args.learning_rate, args.lr_scheduler_type.value, args.per_device_train_batch_size) == (0.003, "cosine", 64)
    # What the old `warmup_steps=0.03` (a fraction) gave: ceil(608 × 0.03) steps.
    assert args.get_warmup_steps(args.max_steps) == 19


def test_sections_overlay_and_project_keys_stay_out() -> None:
    section = {"max_steps": 5, "learning_rate": 0.1, "logging_steps": 3, "lora": {"r": 8}, "block_size": 64}
    run = run_spec("cpt", section, {"save_steps": 2, "logging_steps": 1, "threads": 4}, "o", "c", 3)
    assert run.trainer == {"save_steps": 2, "logging_steps": 3, "max_steps": 5, "learning_rate": 0.1}
    assert (run.seed, run.lora.r, run.lora.alpha) == (3, 8, 128)
    assert lora_spec(None) is None
    assert lora_spec({"target_modules": ["q_proj"]}).target_modules == ("q_proj",)


def test_any_hugging_face_field_reaches_the_trainer() -> None:
    cpt = training_arguments(run_spec("cpt", {"adam_beta2": 0.95}, {"optim": "adafactor"}, "o", "c", 1))
    assert cpt.adam_beta2 == 0.95 and cpt.optim.value == "adafactor"
    grpo = grpo_config(run_spec("grpo", {"epsilon_high": 0.28, "num_generations": 2}, {}, "o", "c", 1), n_langs=2)
    assert grpo.epsilon_high == 0.28


def test_the_workflow_sets_its_fixed_fields() -> None:
    run = RunSpec(Path("out"), Path("ckpt"), seed=5, trainer={"bf16": True, "activation_checkpointing": True})
    args = training_arguments(run).to_dict()
    fixed = {"output_dir": "ckpt", "seed": 5, "data_seed": 5, "use_cpu": True, "report_to": []}
    fixed |= {"save_strategy": "steps", "remove_unused_columns": False}
    assert {k: args[k] for k in FIXED_FIELDS} == fixed
    assert not args["bf16"] and not args["gradient_checkpointing"]  # GPU only


@pytest.mark.parametrize(
    ("method", "section", "training", "needle"),
    [
        (
            "cpt",
            {"learnin_rate": 1},
            {},
            r"cpt\.learnin_rate: not a field of TrainingArguments; did you mean learning_rate",
        ),
        ("sft", {"per_device_train_batch_size": 4}, {}, r"sft\.per_device_train_batch_size: derived"),
        ("grpo", {"steps_per_generation": 2}, {}, r"grpo\.steps_per_generation: derived"),
        ("grpo", {}, {"output_dir": "x"}, r"training\.output_dir: set by the workflow"),
        ("cpt", {"warmup_ratio": 0.1}, {}, r"cpt\.warmup_ratio: removed in transformers 5: use warmup_steps"),
        ("cpt", {"num_generations": 2}, {}, r"cpt\.num_generations: not a field of TrainingArguments"),
    ],
)
def test_the_job_rejects_what_cannot_work(method: str, section: dict, training: dict, needle: str) -> None:
    with pytest.raises(TrainerSettingsError, match=needle):
        run_spec(method, section, training, "o", "c", 1)


def test_hugging_face_parser_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="learnin_rate"):
        training_arguments(RunSpec(Path("o"), Path("c"), trainer={"learnin_rate": 1}))


def test_field_names_read_from_source_equal_the_dataclass_fields() -> None:
    assert argument_fields("cpt") == {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    assert argument_fields("training") == argument_fields("sft") == argument_fields("cpt")
    assert argument_fields("grpo") == {f.name for f in dataclasses.fields(GRPOConfig) if f.init}


@pytest.mark.parametrize("method", ["cpt", "sft", "grpo"])
def test_train_command_dispatches_per_method(method: str) -> None:
    own = {"cpt": ["--facts", "f.parquet"], "sft": [], "grpo": ["--templates", "config/templates"]}[method]
    args = build_parser().parse_args(
        ["train", method, "--base", "b", "--data-dir", "d", "--languages", "en,de"]
        + ["--settings", '{"max_steps": 3}', "--training", '{"save_steps": 2}', "--checkpoint-dir", "c", "--out", "o"]
        + own
    )
    assert (args.command, args.method, args.settings, args.training) == (
        f"train:train_{method}",
        method,
        {"max_steps": 3},
        {"save_steps": 2},
    )
