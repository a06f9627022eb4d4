"""config/paper.yaml runs the paper's own protocol and config/paper-clean.yaml the authors'
later one, row by row of the comparison in README "Paper protocols" (issue 12's table, with
the authors' launch scripts winning where they differ: SFT steps, the later GRPO steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from polyfact.config import check_config
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def load(name: str) -> dict[str, Any]:
    """The config as the workflow sees it: schema defaults filled, checked."""
    config = yaml.safe_load((REPO / "config" / name).read_text())
    validate(config, str(SCHEMA))
    check_config(config)
    return config


PAPER = load("paper.yaml")
CLEAN = load("paper-clean.yaml")


def at(config: dict[str, Any], path: str) -> Any:
    value: Any = config
    for key in path.split("."):
        value = value[key]
    return value


# (row, key, paper runs, later/clean runs)
ROWS = [
    ("GRPO LoRA rank", "grpo.lora.r", 64, 128),
    ("GRPO LoRA alpha", "grpo.lora.alpha", 128, 256),
    ("GRPO LoRA modules", "grpo.lora.target_modules", ALL_PROJECTIONS, ALL_PROJECTIONS),
    ("GRPO grad clip", "grpo.max_grad_norm", 1.0, 5.0),
    ("GRPO steps", "grpo.max_steps", 20000, 10000),
    ("GRPO group size", "grpo.num_generations", 8, 8),
    ("GRPO new tokens", "grpo.max_completion_length", 32, 48),
    ("empty completion", "grpo.reward.empty", 0.0, -1.0),
    ("bare letter", "grpo.reward.bare_letter", "prefix", "unparseable"),
    ("GRPO prompt", "grpo.prompt", "paper", "native"),
    ("GRPO loss", "grpo.loss_type", "grpo", "grpo"),
    ("GRPO schedule", "grpo.lr_scheduler_type", "cosine", "cosine"),
    ("GRPO warmup", "grpo.warmup_steps", 0.03, 0.03),
    ("GRPO weight decay", "grpo.weight_decay", 0.01, 0.01),
    ("SFT schedule", "sft.lr_scheduler_type", "cosine", "cosine"),
    ("SFT warmup", "sft.warmup_steps", 0.05, 0.05),
    ("SFT weight decay", "sft.weight_decay", 0.01, 0.01),
    ("SFT facts per step", "sft.facts_per_step", 8, 8),
    ("SFT steps (40K released / 10K rerun)", "sft.max_steps", 5000, 1250),
    ("MCQ normalisation", "evaluation.normalisation", "token", "byte"),
    ("LAPE filter", "interpret.lape.filter_quantile", 0, 0),
    ("LAHIS mask lr", "interpret.lahis.mask_lr", 0.01, 0.01),
    ("LAHIS one text per step", "interpret.lahis.batch_size", 1, 1),
    ("LAPE/LAHIS text", "interpret.corpus.path", "data/parallel/ted2025-multiway.jsonl", None),
    ("MEXA text", "interpret.mexa.corpus.path", "data/parallel/flores-plus-dev.jsonl", None),
    ("FLORES+ split", "acquire.flores.split", "dev", "dev"),
    ("MEXA sentences", "interpret.mexa.max_sentences", 997, 997),
    ("LAHIS texts and length", "interpret.max_length", 512, 512),
    ("LAPE text length", "interpret.lape.max_length", 1024, 1024),
    ("KLAR template", "evaluation.klar.template_index", 1, 1),
    ("KLAR demonstrations", "evaluation.klar.demonstrations", "per_language", "per_language"),
    ("KLAR trailing space", "evaluation.klar.prompt_trailing_space", True, True),
    ("KLAR headline decontaminated", "evaluation.klar.decontaminate", False, False),
    ("KLAR languages present", "evaluation.klar.languages", None, None),
    ("label languages", "facts.min_label_langs", 5, 12),
    ("distractors", "dataset.distractors", "uniform_same_type", "frequency"),
    ("answer cap", "dataset.max_answer_share", None, 0.4),
    ("splits", "dataset.splits", {"train": 0.95, "val": 0.025, "test": 0.025}, {"train": 0.8, "val": 0.1, "test": 0.1}),
    ("questions written by an LLM", "dataset.questions", "llm", "llm"),
    ("question writer", "dataset.llm.model.path", "Qwen/Qwen3.5-35B-A3B", "Qwen/Qwen3.5-35B-A3B"),
    ("writer dtype", "dataset.llm.model.dtype", "bfloat16", "bfloat16"),
    ("writer temperature", "dataset.llm.temperature", 0.1, 0.1),
    ("writer top-p", "dataset.llm.top_p", 0.9, 0.9),
    ("writer new tokens", "dataset.llm.max_new_tokens", 192, 192),
    ("label translation tokens", "dataset.llm.translation_max_new_tokens", 32, None),
    ("one try per question", "dataset.llm.tries", 1, 1),
    ("writer prompt", "dataset.llm.prompt", "paper", "paper"),
    ("vLLM context", "dataset.llm.max_model_len", 4096, 4096),
    ("LLM-judge audit", "dataset.audit.enabled", True, True),
    ("DCO beta", "dco.beta", 1.0, 1.0),
    ("DCO lr", "dco.learning_rate", 1e-5, 1e-5),
    ("DCO instances per step", "dco.instances_per_step", 4, 4),
    ("DCO instances (40K, one epoch)", "dco.max_instances", 40000, 40000),
    ("DCO steps", "dco.max_steps", 10000, 10000),
    ("DCO LoRA", "dco.lora", {"r": 128, "alpha": 256, "dropout": 0.0, "target_modules": ALL_PROJECTIONS}, None),
    ("CM-Align beta", "cmalign.beta", 0.1, 0.1),
    ("CM-Align NLL term", "cmalign.nll_gamma", 0.0, 0.0),
    ("CM-Align lr", "cmalign.learning_rate", 5e-6, 5e-6),
    ("CM-Align candidates K", "cmalign.construct.num_candidates", 4, 4),
    ("CM-Align facts", "cmalign.construct.max_facts", 8000, 8000),
    ("CM-Align sampling T", "cmalign.construct.temperature", 0.9, 0.9),
    ("CM-Align encoder", "cmalign.construct.encoder", "data/encoders/LaBSE", "data/encoders/LaBSE"),
    (
        "CM-Align LoRA",
        "cmalign.lora",
        {"r": 64, "alpha": 128, "dropout": 0.05, "target_modules": ALL_PROJECTIONS},
        None,
    ),
    ("LaBSE acquired", "acquire.encoder.hub", "sentence-transformers/LaBSE", "sentence-transformers/LaBSE"),
    ("released alignment", "evaluation.released.align", "embedding", "text"),
    ("published values", "evaluation.published", "config/published", "config/published"),
]


@pytest.mark.parametrize(("row", "key", "paper", "clean"), ROWS, ids=[r[0] for r in ROWS])
def test_paper_and_clean_configs_row_by_row(row: str, key: str, paper: Any, clean: Any) -> None:
    assert at(PAPER, key) == paper, f"paper.yaml {key} ({row})"
    if clean is not None:
        assert at(CLEAN, key) == clean, f"paper-clean.yaml {key} ({row})"


def test_paper_relations_are_the_original_19_and_clean_the_14() -> None:
    assert len(PAPER["facts"]["relations"]) == 19
    assert set(CLEAN["facts"]["relations"]) < set(PAPER["facts"]["relations"])
    assert len(CLEAN["facts"]["relations"]) == 14


def test_paper_keeps_intermediate_grpo_checkpoints_before_the_last_step() -> None:
    kept = PAPER["grpo"]["keep_checkpoints"]
    assert kept and all(0 < step < PAPER["grpo"]["max_steps"] for step in kept)
    assert PAPER["evaluation"]["select_by"] == "totcons"


def test_the_clean_protocol_evaluates_the_released_polyfact_clean() -> None:
    assert CLEAN["evaluation"]["released"]["path"] == "data/mcq/polyfact-clean"
    assert CLEAN["acquire"]["polyfact_clean"]["hub"] == "jvonrad/PolyFact-Clean"
