"""The prompt formats (§7) in one place: the trainers build their inputs from them and the toy
world's pretraining corpus teaches them, so the toy base model depends on these formats and not
on any trainer's code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from polyfact.errors import PolyfactError
from polyfact.records import OPTION_KEYS

LETTERS = ("A", "B", "C", "D")
"""The SFT answer letters; the target after "Answer:" is " " + the gold letter."""

ANSWER_CUE = "→"
"""Last GRPO prompt line: a language-neutral cue after which the base model writes the answer."""


def mcq_prompt(question: str) -> str:
    """The §8 evaluation prompt: each option is scored as its continuation."""
    return f"Question: {question}\nAnswer:"


def sft_prompt(row: Mapping[str, Any]) -> str:
    """The §7 lettered prompt for one per-language record."""
    options = "".join(f"{letter}. {row[key]}\n" for letter, key in zip(LETTERS, OPTION_KEYS, strict=True))
    return f"Question: {row['question']}\n{options}Answer:"


def grpo_prompt(row: Mapping[str, Any], scaffold: str) -> str:
    """Plain-text prompt in the question's language (base models: no chat template); the model
    answers with the option's text, as `scaffold` asks."""
    options = "\n".join(f"- {row[key]}" for key in OPTION_KEYS)
    return f"{row['question']}\n{options}\n{scaffold}\n{ANSWER_CUE}"


def answer_scaffolds(templates_dir: str | Path, languages: Sequence[str]) -> dict[str, str]:
    """Each language's instruction to answer with the option text (`answer_scaffold` of
    `{templates_dir}/{lang}.yaml`), the GRPO prompt's line before the cue."""
    out = {}
    for lang in languages:
        data = yaml.safe_load((Path(templates_dir) / f"{lang}.yaml").read_text(encoding="utf-8")) or {}
        if not data.get("answer_scaffold"):
            raise PolyfactError(f"{templates_dir}/{lang}.yaml has no answer_scaffold")
        out[lang] = data["answer_scaffold"]
    return out
