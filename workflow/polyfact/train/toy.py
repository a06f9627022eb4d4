"""Pretraining the toy world's base model (§7) from scratch: a corpus built from the facts,
English-dominant so the base model knows facts in English but not reliably in other languages
(the paper's phenomenon, small and fast), plus exam-style lines that teach the prompt formats.

Facts are stated as running text (a question and its answer, no exam scaffold) in every
language that states them; the exam format of evaluation (`Question: …\nAnswer:`) appears
only in English, on training-split facts. So, as in real base models that read most facts in
running text and meet most exams in English, part of what the model knows in another language
is not elicited by the exam format; a supervised method can elicit it, and knowledge stated only
in English can still reach another language through shared subword pieces. Both are measured
on held-out facts, which is what makes the toy world an instrument that can register an effect.

The model and tokenizer are polyfact.models.toy; the formats come from polyfact.prompts, so
the base model does not depend on any method's trainer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import torch
from datasets import Dataset
from transformers import (
    AutoModelForCausalLM,
    PreTrainedTokenizerFast,
    Trainer,
    TrainingArguments,
)

from polyfact.models.toy import ToyModelSpec, toy_config, train_tokenizer
from polyfact.prompts import LETTERS, grpo_prompt, mcq_prompt, sft_prompt
from polyfact.train.common import save_final, train_with_resume, training_arguments
from polyfact.train.objectives import objective_summary
from polyfact.train.settings import RunSpec


@dataclass
class ToyCorpusSpec:
    """How English-dominant the toy world is: every fact in English, a share elsewhere."""

    high_resource_share: float = 0.25  # facts stated in each other high-resource language
    low_resource_share: float = 0.08  # facts stated in each low-resource language


@dataclass
class PretrainSpec:
    """The toy section's pretraining settings (its own names: not a trainer section)."""

    epochs: int = 11
    vocab_size: int = 4000
    batch_size: int = 64
    learning_rate: float = 0.003
    warmup_ratio: float = 0.03


def fact_lines(
    facts: Sequence[Mapping[str, str]],
    templates: Mapping[str, Mapping[str, Sequence[str]]],
    languages: Sequence[str],
    low_resource: Sequence[str],
    spec: ToyCorpusSpec,
    seed: int,
) -> list[str]:
    """Running-text lines "<question> <object>" from every template of the fact's relation
    (no exam scaffold: see `exam_lines`).

    English states every fact; another language states a fact with probability given by its
    resource group, drawn per (fact, language) with a fixed seed. `facts` rows need
    fact_id, property_id and subject_label_{lang} / object_label_{lang}.
    """
    lines = []
    for fact in facts:
        for lang in languages:
            if lang != "en":
                share = spec.low_resource_share if lang in low_resource else spec.high_resource_share
                if random.Random(f"{seed}|toy|{fact['fact_id']}|{lang}").random() >= share:
                    continue
            subject, obj = fact[f"subject_label_{lang}"], fact[f"object_label_{lang}"]
            for template in templates[lang][fact["property_id"]]:
                lines.append(f"{template.format(subject=subject)} {obj}")
    return lines


def exam_lines(facts: Sequence[Mapping[str, str]], templates: Mapping[str, Sequence[str]]) -> list[str]:
    """English exam lines in the evaluation format ("Question: …\\nAnswer: <object>"), one
    per template of each fact's relation.

    Given the training split's facts only, they teach the format without stating anything
    about a held-out fact that the running text does not already state; every template, so
    the format is learnt for each question form rather than for one (with one form per fact,
    English accuracy on held-out facts fell to 0.77).
    """
    return [
        f"{mcq_prompt(template.format(subject=fact['subject_label_en']))} {fact['object_label_en']}"
        for fact in facts
        for template in templates[fact["property_id"]]
    ]


def option_lines(rows: Sequence[Mapping[str, Any]], scaffold: str) -> list[str]:
    """Exam-style lines: the GRPO prompt (options listed) followed by the gold option's text.

    Built from English train-split rows only, so the base model knows the answer format (as
    real base models have seen exams) without learning anything about test facts.
    """
    return [f"{grpo_prompt(row, scaffold)} {row['answer_text']}" for row in rows]


def english_format_lines(
    english_train: Sequence[Mapping[str, Any]],
    facts: Sequence[Mapping[str, str]],
    templates: Mapping[str, Sequence[str]],
    scaffold: str,
) -> list[str]:
    """The corpus's English exam-style lines, on the training split only: the GRPO format
    (`option_lines` of the English training records) and the evaluation format (`exam_lines`
    of their facts, `templates` being the English ones)."""
    train_ids = {r["fact_id"] for r in english_train}
    return option_lines(english_train, scaffold) + exam_lines(
        [f for f in facts if f["fact_id"] in train_ids], templates
    )


# SFT-prompt lines for the tokenizer only, so " A".." D" (the SFT targets) are single tokens.
LETTER_LINES = [
    f"{sft_prompt({'question': '?', **{f'option_{c}': 'x' for c in 'abcd'}})} {letter}" for letter in LETTERS
] * 50


def line_dataset(lines: Sequence[str], tokenizer: PreTrainedTokenizerFast, max_length: int) -> Dataset:
    """One example per line (BOS + line + EOS); `pack_lines` batches them.

    Each line stays whole and starts at position 0: a model pretrained on blocks cut across
    lines sees facts mid-sequence and, in this toy setting, fails to answer a question asked at
    the start of a sequence, as evaluation does.
    """
    enc = tokenizer([line + tokenizer.eos_token for line in lines], truncation=True, max_length=max_length)
    return Dataset.from_dict({"input_ids": enc["input_ids"]})


PACKED_ROW_TOKENS = 128
"""Row length of a packed pretraining batch (longer lines get a row of their own length)."""


def pack_lines(features: Sequence[Mapping[str, Any]], pad_id: int, row_tokens: int) -> dict[str, Any]:
    """A batch of lines packed into rows (first fit, longest line first), positions restarting
    at each line, no attention mask and no KV cache (`use_cache` False: with a cache, or a 2D
    mask, transformers does not look for packed lines): transformers then builds the mask from
    the position ids, so a line attends only to itself and its logits equal those of the line
    alone.

    Why: with one padded row per line, padding was 57% of the tokens (short fact lines beside
    long exam lines). Length-grouped batches would avoid it too, but trained a far worse model
    (same-length lines are same-kind lines). Row padding is a block of its own, label -100.
    """
    lines = sorted((list(f["input_ids"]) for f in features), key=len, reverse=True)
    capacity = max(row_tokens, len(lines[0]))
    rows: list[list[list[int]]] = []
    for line in lines:
        row = next((r for r in rows if sum(map(len, r)) + len(line) <= capacity), None)
        if row is None:
            rows.append([line])
        else:
            row.append(line)
    width = max(sum(map(len, r)) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        start = 0
        for line in row:
            end = start + len(line)
            input_ids[i, start:end] = torch.tensor(line)
            labels[i, start + 1 : end] = input_ids[
                i, start + 1 : end
            ]  # the model shifts; a line's first token has no context
            position_ids[i, start:end] = torch.arange(len(line))
            start = end
        position_ids[i, start:] = torch.arange(width - start)
    return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids, "use_cache": False}


def pretraining_arguments(run: RunSpec, pretrain: PretrainSpec, n_lines: int) -> TrainingArguments:
    """`pretrain.epochs` passes over `n_lines` corpus lines with a cosine schedule; the other
    trainer fields (save and logging steps) from `run.trainer`."""
    max_steps = max(1, math.ceil(pretrain.epochs * n_lines / pretrain.batch_size))
    pretraining = {
        "max_steps": max_steps,
        "per_device_train_batch_size": pretrain.batch_size,
        "learning_rate": pretrain.learning_rate,
        "lr_scheduler_type": "cosine",
        "warmup_steps": math.ceil(max_steps * pretrain.warmup_ratio),
    }
    return training_arguments(replace(run, trainer={**run.trainer, **pretraining}))


def build_toy_base(
    facts: Sequence[Mapping[str, str]],
    templates: Mapping[str, Mapping[str, Sequence[str]]],
    languages: Sequence[str],
    low_resource: Sequence[str],
    corpus: ToyCorpusSpec,
    model_spec: ToyModelSpec,
    pretrain: PretrainSpec,
    run: RunSpec,
    format_lines: Sequence[str] = (),
) -> dict[str, Any]:
    """Train the toy tokenizer and pretrain the tiny Qwen2 from scratch; save like any method.

    `format_lines` (see `english_format_lines`) join the fact lines in the corpus.
    """
    lines = fact_lines(facts, templates, languages, low_resource, corpus, run.seed) + list(format_lines)
    random.Random(f"{run.seed}|toy|order").shuffle(lines)
    tokenizer = train_tokenizer(lines + LETTER_LINES, pretrain.vocab_size)
    torch.manual_seed(run.seed)
    model = AutoModelForCausalLM.from_config(toy_config(tokenizer, model_spec))
    dataset = line_dataset(lines, tokenizer, model_spec.max_position_embeddings)
    args = pretraining_arguments(run, pretrain, len(dataset))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=partial(pack_lines, pad_id=tokenizer.pad_token_id, row_tokens=PACKED_ROW_TOKENS),
    )
    stats = train_with_resume(trainer, run)
    corpus_tokens = sum(len(ids) for ids in dataset["input_ids"])
    rows_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
    stats |= {
        "corpus_lines": len(lines),
        "corpus_tokens": corpus_tokens,
        "epochs": pretrain.epochs,
        "tokens": round(stats["steps"] * rows_per_step * corpus_tokens / len(lines)),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "objective": objective_summary("base", stats["log_history"]),
    }
    save_final(model, tokenizer, run, stats)
    return stats
