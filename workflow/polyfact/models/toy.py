"""The embedded default's "toy world" (§7): a tiny Qwen2 model with a byte-level BPE tokenizer
trained on a corpus built from the facts, English-dominant so the base model knows facts in
English but not reliably in other languages — the paper's phenomenon, small and fast."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config

if TYPE_CHECKING:
    from polyfact.train.common import RunSpec

SPECIAL_TOKENS = {"eos_token": "<|endoftext|>", "pad_token": "<|pad|>"}


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on `texts` (every byte is representable: no unknown tokens)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # A text starts with <|endoftext|> as BOS, so every pretraining line and every scored
    # prompt begins in the same context.
    eos = SPECIAL_TOKENS["eos_token"]
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{eos} $A", pair=f"{eos} $A {eos} $B", special_tokens=[(eos, tok.token_to_id(eos))]
            ),
        ]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=eos, **SPECIAL_TOKENS, padding_side="right")


@dataclass
class ToyModelSpec:
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 768
    max_position_embeddings: int = 256


def toy_config(tokenizer: PreTrainedTokenizerFast, spec: ToyModelSpec) -> Qwen2Config:
    """A Qwen2 architecture config sized by `spec` (same code paths as Qwen2.5-7B)."""
    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


@dataclass
class ToyCorpusSpec:
    """How English-dominant the toy world is: every fact in English, a share elsewhere."""

    high_resource_share: float = 0.25  # facts stated in each other high-resource language
    low_resource_share: float = 0.08  # facts stated in each low-resource language


def fact_lines(
    facts: Sequence[Mapping[str, str]],
    templates: Mapping[str, Mapping[str, Sequence[str]]],
    languages: Sequence[str],
    low_resource: Sequence[str],
    spec: ToyCorpusSpec,
    seed: int,
) -> list[str]:
    """QA lines "Question: …\\nAnswer: <object>" from every template of the fact's relation.

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
                lines.append(f"Question: {template.format(subject=subject)}\nAnswer: {obj}")
    return lines


@dataclass
class PretrainSpec:
    epochs: int = 11
    vocab_size: int = 4000


def line_dataset(lines: Sequence[str], tokenizer: PreTrainedTokenizerFast, max_length: int):  # noqa: ANN201
    """One example per line (BOS + line + EOS), padded per batch.

    Not packed: a model pretrained on packed blocks sees facts mid-sequence and, in this toy
    setting, fails to answer a question asked at the start of a sequence, as evaluation does.
    """
    from datasets import Dataset

    enc = tokenizer([line + tokenizer.eos_token for line in lines], truncation=True, max_length=max_length)
    return Dataset.from_dict({"input_ids": enc["input_ids"]})


def option_lines(rows: Sequence[Mapping[str, Any]], scaffold: str) -> list[str]:
    """Exam-style lines: the GRPO prompt (options listed) followed by the gold option's text.

    Built from English train-split rows only, so the base model knows the answer format (as
    real base models have seen exams) without learning anything about test facts.
    """
    from polyfact.train.grpo import grpo_prompt

    return [f"{grpo_prompt(row, scaffold)} {row['answer_text']}" for row in rows]


# Letter-option lines for the tokenizer only, so " A".." D" (the SFT targets) are single tokens.
LETTER_LINES = ["Question: ?\nA. x\nB. x\nC. x\nD. x\nAnswer: " + letter for letter in "ABCD"] * 50


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

    `format_lines` (see `option_lines`) join the fact lines in the corpus.
    """
    import torch
    from transformers import AutoModelForCausalLM, DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from polyfact.train.common import save_final, train_with_resume, trainer_kwargs

    lines = fact_lines(facts, templates, languages, low_resource, corpus, run.seed) + list(format_lines)
    random.Random(f"{run.seed}|toy|order").shuffle(lines)
    tokenizer = train_tokenizer(lines + LETTER_LINES, pretrain.vocab_size)
    torch.manual_seed(run.seed)
    model = AutoModelForCausalLM.from_config(toy_config(tokenizer, model_spec))
    dataset = line_dataset(lines, tokenizer, model_spec.max_position_embeddings)
    run.max_steps = max(1, math.ceil(pretrain.epochs * len(dataset) / (run.batch_size * run.grad_accum)))
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**trainer_kwargs(run)),
        train_dataset=dataset,
        # The toy pad token differs from EOS, so masking pad labels keeps EOS in the loss.
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
    )
    stats = train_with_resume(trainer, run)
    corpus_tokens = sum(len(ids) for ids in dataset["input_ids"])
    stats |= {
        "corpus_lines": len(lines),
        "corpus_tokens": corpus_tokens,
        "epochs": pretrain.epochs,
        "tokens": round(stats["steps"] * run.batch_size * run.grad_accum * corpus_tokens / len(lines)),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
    }
    save_final(model, tokenizer, run, stats)
    return stats
