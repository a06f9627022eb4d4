"""Supervised fine-tuning (SFT, §7): all languages of a fact in the same step, on one of two
targets (`sft.target`):

- `letter` (the paper's protocol): the answer letter of the lettered four-option prompt, the
  loss restricted to the four letter logits;
- `answer`: the gold option's text after the evaluation prompt (`Question: …\nAnswer:`),
  cross-entropy over the answer tokens. For models that cannot learn to pick a letter: the toy
  world's 1.3M-parameter model stays at chance on held-out letters however long it trains.

Not TRL's SFTTrainer: its completion-only loss is cross-entropy over the whole vocabulary,
whereas the letter loss is a softmax over the four letter logits only (the model is not pushed
away from tokens that are not options), and neither target fits its sampler: a plain
`Trainer` with a fact-grouped sampler serves both.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from torch import nn
from torch.utils.data import Sampler
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    EvalPrediction,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from polyfact.errors import PolyfactError
from polyfact.evaluate.mcq import predict
from polyfact.evaluate.scoring import continuation_ids
from polyfact.models.padding import pad_batch, pad_id
from polyfact.prompts import LETTERS, mcq_prompt, sft_prompt
from polyfact.records import OPTION_KEYS
from polyfact.train.common import (
    apply_lora,
    held_out_evaluation,
    model_dtype,
    save_final,
    train_with_resume,
    trainer_value,
    training_arguments,
)
from polyfact.train.grouping import FactGroupSampler, rows_by_fact
from polyfact.train.objectives import objective_summary
from polyfact.train.settings import RunSpec


def letter_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Ids of " A".." D"; each must be one token.

    No fallback to a split " " + "A": the position after "Answer:" would then predict the space,
    not the letter, and the four-way softmax would be over the wrong position. Real tokenizers
    (Qwen2.5, Llama) and the toy BPE trained on text containing " A".." D" have them as tokens.
    """
    ids = []
    for letter in LETTERS:
        enc = tokenizer(" " + letter, add_special_tokens=False)["input_ids"]
        if len(enc) != 1:
            pieces = tokenizer.convert_ids_to_tokens(enc)
            raise PolyfactError(
                f"tokenizer splits {' ' + letter!r} into {pieces}; SFT needs ' A'..' D' as single tokens "
                "(train the toy tokenizer on text containing them)"
            )
        ids.append(enc[0])
    return ids


def letter_loss(logits_at_answer: torch.Tensor, gold_index: torch.Tensor, letter_ids: Sequence[int]) -> torch.Tensor:
    """Mean cross-entropy of the gold letter under a softmax over the four letter logits only.

    `logits_at_answer`: (batch, vocab) at the position predicting the answer; `gold_index`: (batch,) in 0..3.
    """
    four = logits_at_answer[:, list(letter_ids)].float()
    return F.cross_entropy(four, gold_index)


def left_pad_collate(pad: int) -> Any:
    """Left-pad prompts so the answer is predicted at the last position of every row.

    Explicit position_ids keep each prompt's positions 0..n-1, as without padding; the model
    then needs logits at one position only (a 150k-vocabulary logit tensor per token is the
    largest activation otherwise).
    """

    def collate(features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        ids, mask = pad_batch([f["input_ids"] for f in features], pad, left=True)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        gold = torch.tensor([f["gold"] for f in features], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "gold": gold}

    return collate


SFT_TARGETS = ("letter", "answer")


class FactGroupedTrainer(Trainer):
    """`Trainer` whose batches hold whole facts (every training language of a fact)."""

    def __init__(self, *args: Any, fact_groups: Sequence[Sequence[int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fact_groups = fact_groups

    def _get_train_sampler(self, train_dataset: Any = None) -> Sampler[int]:
        return FactGroupSampler(self.fact_groups, self.args.seed)


class LetterTrainer(FactGroupedTrainer):
    """The four-letter loss; held-out evaluation reports the letter accuracy."""

    def __init__(self, *args: Any, letter_ids: Sequence[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.letter_ids = list(letter_ids)

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Held-out evaluation: the letter loss, the four letter logits and the gold index
        (for `letter_accuracy`)."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
        logits = outputs.logits[:, -1, :]
        return loss.detach(), logits[:, self.letter_ids].detach(), inputs["gold"]

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        # No "labels" key, so Trainer passes num_items_in_batch=None and scales for grad accumulation itself.
        outputs = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            position_ids=inputs["position_ids"],
            logits_to_keep=1,
            use_cache=False,
        )
        loss = letter_loss(outputs.logits[:, -1, :], inputs["gold"], self.letter_ids)
        return (loss, outputs) if return_outputs else loss


def letter_accuracy(prediction: EvalPrediction) -> dict[str, float]:
    """Share of held-out rows whose highest letter logit is the gold letter."""
    predicted = np.asarray(prediction.predictions).argmax(-1)
    return {"accuracy": float((predicted == np.asarray(prediction.label_ids)).mean())}


class AnswerTrainer(FactGroupedTrainer):
    """The model's own cross-entropy over the answer tokens; held-out evaluation is the §8
    scorer itself (each option scored as a continuation of the evaluation prompt), so the
    curve reads as the evaluation's accuracy on facts the method does not train on."""

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: list[str] | None = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        rows = self.eval_dataset if eval_dataset is None else eval_dataset
        training = self.model.training
        self.model.eval()
        predictions = predict(self.model, self.processing_class, rows, batch_size=self.args.per_device_eval_batch_size)
        self.model.train(training)
        metrics = {f"{metric_key_prefix}_accuracy": float(np.mean([p["correct"] for p in predictions]))}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def answer_example(row: Mapping[str, Any], tokenizer: PreTrainedTokenizerBase) -> dict[str, list[int]]:
    """Evaluation prompt + " " + gold option text (+ EOS), labels on the answer only; the
    answer starts where the evaluation's scorer starts scoring it."""
    answer = row[OPTION_KEYS[int(row["answer_index"])]]
    ids, start = continuation_ids(tokenizer, mcq_prompt(row["question"]), " " + answer)
    if tokenizer.eos_token_id is not None:
        ids = [*ids, tokenizer.eos_token_id]
    return {"input_ids": ids, "labels": [-100] * start + ids[start:]}


def right_pad_collate(pad: int) -> Any:
    """Right-pad prompt+answer rows; padded label positions are -100."""

    def collate(features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        ids, mask = pad_batch([f["input_ids"] for f in features], pad, left=False)
        labels, _ = pad_batch([f["labels"] for f in features], -100, left=False)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    return collate


def held_out_facts(
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]], n: int, seed: int
) -> tuple[dict[str, list[Mapping[str, Any]]], dict[str, list[Mapping[str, Any]]]]:
    """(training records, held-out records) per language: `n` facts (at most a tenth), drawn
    with a seeded RNG from the sorted fact ids, go to the held-out side in every language."""
    fact_ids = sorted({r["fact_id"] for rows in records_by_lang.values() for r in rows})
    n = min(n, len(fact_ids) // 10)
    held = set(random.Random(f"{seed}|sft|held-out").sample(fact_ids, n)) if n > 0 else set()
    train = {lang: [r for r in rows if r["fact_id"] not in held] for lang, rows in records_by_lang.items()}
    kept = {lang: [r for r in rows if r["fact_id"] in held] for lang, rows in records_by_lang.items()}
    return train, kept


def sft_dataset(
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]], tokenizer: PreTrainedTokenizerBase, target: str
) -> tuple[Dataset, list[list[int]]]:
    """Tokenised rows of `target`, fact by fact (see `rows_by_fact`), and each fact's row indices."""
    rows, groups = rows_by_fact(records_by_lang)
    if target == "answer":
        return Dataset.from_list([answer_example(r, tokenizer) for r in rows]), groups
    if target != "letter":
        raise PolyfactError(f"sft.target: unknown target {target!r}; expected one of {SFT_TARGETS}")
    ids = tokenizer([sft_prompt(r) for r in rows])["input_ids"]  # with the model's BOS, as in evaluation
    return Dataset.from_dict({"input_ids": ids, "gold": [int(r["answer_index"]) for r in rows]}), groups


def sft_arguments(spec: RunSpec, facts_per_step: int, n_langs: int, held_out: bool = False) -> TrainingArguments:
    """The trainer's arguments, with an optimisation step of `facts_per_step` whole facts: the
    micro-batch (per_device_train_batch_size, derived) is facts_per_step ÷
    gradient_accumulation_steps facts × all languages. On several GPUs each process takes its
    own facts_per_step facts per step."""
    grad_accum = trainer_value(spec, TrainingArguments, "gradient_accumulation_steps")
    if facts_per_step < 1 or facts_per_step % grad_accum:
        raise PolyfactError(
            f"sft.facts_per_step={facts_per_step} must be a positive multiple of "
            f"gradient_accumulation_steps={grad_accum}"
        )
    derived = {"per_device_train_batch_size": facts_per_step // grad_accum * n_langs, **held_out_evaluation(held_out)}
    return training_arguments(spec, TrainingArguments, derived)


def build_sft_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
    spec: RunSpec,
    facts_per_step: int,
    held_out: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    target: str = "letter",
) -> FactGroupedTrainer:
    """The `target`'s trainer, an optimisation step covering `facts_per_step` whole facts,
    evaluated on the `held_out` records' accuracy when given."""
    has_held_out = bool(held_out) and any(held_out.values())
    args = sft_arguments(spec, facts_per_step, len(records_by_lang), has_held_out)
    dataset, groups = sft_dataset(records_by_lang, tokenizer, target)
    common = {"model": model, "args": args, "train_dataset": dataset, "processing_class": tokenizer}
    if target == "answer":
        held_out_rows = [r for rows in held_out.values() for r in rows] if has_held_out else None
        return AnswerTrainer(
            **common,
            eval_dataset=held_out_rows,
            data_collator=right_pad_collate(pad_id(tokenizer)),
            fact_groups=groups,
        )
    return LetterTrainer(
        **common,
        eval_dataset=sft_dataset(held_out, tokenizer, target)[0] if has_held_out else None,
        compute_metrics=letter_accuracy if has_held_out else None,
        data_collator=left_pad_collate(pad_id(tokenizer)),
        letter_ids=letter_token_ids(tokenizer),
        fact_groups=groups,
    )


def train_sft(
    model_dir: str | Path,
    out_dir: str | Path,
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
    spec: RunSpec,
    facts_per_step: int,
    held_out: int = 0,
    target: str = "letter",
) -> dict[str, Any]:
    """Train on `target` (LoRA when spec.lora, spec.seed), resume if interrupted, save merged
    weights. `held_out` training facts are kept out for the held-out accuracy curve."""
    if Path(out_dir) != Path(spec.out_dir):
        raise PolyfactError(f"out_dir {out_dir} differs from spec.out_dir {spec.out_dir}")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = apply_lora(AutoModelForCausalLM.from_pretrained(model_dir, dtype=model_dtype(spec)), spec.lora, spec.seed)
    records_by_lang, held_out_records = held_out_facts(records_by_lang, held_out, spec.seed)
    trainer = build_sft_trainer(model, tokenizer, records_by_lang, spec, facts_per_step, held_out_records, target)
    stats = train_with_resume(trainer, spec)
    dataset = trainer.train_dataset
    mean_row = sum(len(x) for x in dataset["input_ids"]) / len(dataset)
    rows_per_step = facts_per_step * len(records_by_lang) * trainer.args.world_size
    stats |= {
        "method": "sft",
        "target": target,
        "languages": list(records_by_lang),
        "facts": len(dataset) // len(records_by_lang),
        "held_out_facts": len(next(iter(held_out_records.values()), [])),
        "facts_per_step": facts_per_step,
        "rows_per_step": rows_per_step,
        # Over all attempts; a row's tokens (prompt, and answer for the answer target) without
        # padding, from the mean row length.
        "tokens_trained": round(stats["steps"] * rows_per_step * mean_row),
        "objective": objective_summary("sft", stats["log_history"]),
    }
    save_final(trainer.model, tokenizer, spec, stats)
    return stats
