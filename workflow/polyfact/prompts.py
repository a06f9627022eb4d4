"""The prompt formats (§7) in one place: the trainers build their inputs from them and the toy
world's pretraining corpus teaches them, so the toy base model depends on these formats and not
on any trainer's code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from polyfact.errors import PolyfactError
from polyfact.languages import LANGUAGES
from polyfact.records import OPTION_KEYS

LETTERS = ("A", "B", "C", "D")
"""The SFT answer letters; the target after "Answer:" is " " + the gold letter."""

ANSWER_CUE = "→"
"""Last GRPO prompt line: a language-neutral cue after which the base model writes the answer."""

GRPO_PROMPTS = ("native", "paper")
"""GRPO prompt styles (`grpo.prompt`): `native` = `grpo_prompt`, `paper` = `paper_grpo_prompt`."""


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


def language_name(lang: str) -> str:
    """English name of a language code, as the paper prompt names it ("bn" -> "Bengali")."""
    if lang not in LANGUAGES:
        raise PolyfactError(f"grpo.prompt 'paper' names the question's language in English; no name for {lang!r}")
    return LANGUAGES[lang].name


def paper_grpo_prompt(row: Mapping[str, Any], lang: str) -> str:
    """The paper runs' GRPO prompt: an English instruction naming the question's language
    (answer with the option's full text, in that language, not its letter, without
    explanation), then `Question:`, the options lettered A–D and the cue `Answer text:`.
    The layout is the authors'; the instruction sentences are worded here."""
    name = language_name(lang)
    options = "".join(f"{letter}. {row[key]}\n" for letter, key in zip(LETTERS, OPTION_KEYS, strict=True))
    return (
        f"Here is a factual multiple-choice question written in {name}.\n"
        f"Reply with the complete text of the correct option, in {name}.\n"
        "Do not reply with the option letter.\n"
        "Give no explanation.\n\n"
        f"Question: {row['question']}\n"
        f"{options}\n"
        "Answer text:"
    )


def styled_grpo_prompt(row: Mapping[str, Any], lang: str, style: str, scaffolds: Mapping[str, str]) -> str:
    """The GRPO prompt of one record in `style` (see GRPO_PROMPTS); `native` needs the
    language's answer scaffold."""
    if style == "paper":
        return paper_grpo_prompt(row, lang)
    if style != "native":
        raise PolyfactError(f"grpo.prompt: unknown style {style!r}; expected one of {GRPO_PROMPTS}")
    if lang not in scaffolds:
        raise PolyfactError(f"no answer scaffold for {lang!r} (grpo.prompt 'native')")
    return grpo_prompt(row, scaffolds[lang])


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
