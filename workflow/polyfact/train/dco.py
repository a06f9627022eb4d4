"""DCO, direct consistency optimisation (Liu, Qi et al., "Post-Training Language Models for
Crosslingual Consistency", ICML 2026), on TRL's `DPOTrainer`.

An *instance* is one fact in two languages with a chosen and a rejected option picked by the
same index in both, the options being aligned across languages by `option_ids`. The chosen
option is drawn at random, not the gold one: the objective rewards the two languages for
preferring the same option (agreement), not for being right.

With reward_i = (π_chosen,i − ref_chosen,i) − (π_rejected,i − ref_rejected,i) and
offset_i = ref_chosen,i − ref_rejected,i, the loss of an instance is

    |reward_1 − offset_2 / β| + |reward_2 − β · offset_1|

over sequence log-probabilities summed over the completion tokens. Each language is pulled
toward the reference preference of the other.

TRL does the tokenisation, the padded [chosen; rejected] batches, the reference
log-probabilities (with LoRA: the policy with its adapter disabled; `precompute_ref_log_probs`
works too) and the optimisation; only the loss is DCO's. The two languages of an instance are
consecutive rows, kept together by the sampler.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from torch.utils.data import Sampler
from trl import DPOConfig, DPOTrainer
from trl.data_utils import common_prefix_length

from polyfact.errors import PolyfactError
from polyfact.prompts import mcq_prompt
from polyfact.records import OPTION_KEYS
from polyfact.train.settings import RunSpec

INSTANCE_ROWS = 2
"""Dataset rows per DCO instance: its two languages, consecutive."""


def dco_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Per-instance DCO loss. Each argument is (instances, 2): the sequence log-probabilities
    of the chosen / rejected option in the instance's first and second language, under the
    policy and the reference."""
    reward = (chosen - ref_chosen) - (rejected - ref_rejected)
    offset = ref_chosen - ref_rejected
    return torch.abs(reward[:, 0] - offset[:, 1] / beta) + torch.abs(reward[:, 1] - beta * offset[:, 0])


def aligned_options(record: Mapping[str, Any], order: Sequence[str]) -> list[str]:
    """The record's option texts in the entity order `order` (another language's option_ids)."""
    by_id = dict(zip(record["option_ids"], (record[k] for k in OPTION_KEYS), strict=True))
    return [by_id[entity] for entity in order]


def dco_instances(
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]], max_instances: int | None, seed: int
) -> list[dict[str, Any]]:
    """Rows of DCO instances, two per instance (its languages, consecutive). One instance per
    fact, in a seeded order (at most `max_instances`): two distinct
    languages drawn at random, and a chosen and a rejected option index drawn at random in the
    first language's option order, the second language's options re-ordered to match through
    option_ids. A fact whose languages do not share the same four entities is skipped."""
    languages = list(records_by_lang)
    if len(languages) < INSTANCE_ROWS:
        raise PolyfactError(f"DCO needs at least two training languages, got {languages}")
    by_fact: dict[str, dict[str, Mapping[str, Any]]] = {}
    for lang, records in records_by_lang.items():
        for r in records:
            by_fact.setdefault(r["fact_id"], {})[lang] = r
    rng = random.Random(seed)
    facts = sorted(by_fact)
    rng.shuffle(facts)
    instances = []
    for fact in facts:
        if max_instances is not None and len(instances) >= INSTANCE_ROWS * max_instances:
            break
        present = [lang for lang in languages if lang in by_fact[fact]]
        if len(present) < INSTANCE_ROWS:
            continue
        lang_1, lang_2 = rng.sample(present, INSTANCE_ROWS)
        first, second = by_fact[fact][lang_1], by_fact[fact][lang_2]
        order = list(first["option_ids"])
        if len(set(order)) != len(OPTION_KEYS) or set(second["option_ids"]) != set(order):
            continue
        chosen, rejected = rng.sample(range(len(OPTION_KEYS)), 2)
        for lang, record in ((lang_1, first), (lang_2, second)):
            options = aligned_options(record, order)
            instances.append(
                {
                    "prompt": mcq_prompt(record["question"]),
                    "chosen": " " + options[chosen],
                    "rejected": " " + options[rejected],
                    "fact_id": fact,
                    "language": lang,
                }
            )
    return instances


def tokenize_continuations(example: Mapping[str, str], tokenizer: Any) -> dict[str, list[int]]:
    """prompt_ids, chosen_ids and rejected_ids of one row: each option's ids are where the
    tokenised prompt + option departs from the tokenised prompt (TRL's rule, without its EOS)."""
    prompt = tokenizer(example["prompt"])["input_ids"]
    full = {k: tokenizer(example["prompt"] + example[k])["input_ids"] for k in ("chosen", "rejected")}
    shared = min(common_prefix_length(prompt, ids) for ids in full.values())
    return {"prompt_ids": prompt[:shared], **{f"{k}_ids": ids[shared:] for k, ids in full.items()}}


class InstanceSampler(Sampler[int]):
    """Instances shuffled per epoch by an RNG seeded with (seed, epoch), each yielding its two
    consecutive rows; the Trainer calls `set_epoch`, so a resumed run replays the same order."""

    def __init__(self, n_rows: int, seed: int) -> None:
        if n_rows % INSTANCE_ROWS:
            raise PolyfactError(f"DCO rows come in pairs; got {n_rows}")
        self.n_rows = n_rows
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_rows

    def __iter__(self) -> Iterator[int]:
        order = list(range(self.n_rows // INSTANCE_ROWS))
        random.Random(f"{self.seed}:{self.epoch}").shuffle(order)
        for i in order:
            yield from range(i * INSTANCE_ROWS, (i + 1) * INSTANCE_ROWS)


class DCOTrainer(DPOTrainer):
    """`DPOTrainer` with the DCO loss over instance pairs of rows (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.args.per_device_train_batch_size % INSTANCE_ROWS:
            raise PolyfactError("DCO's per-device batch must hold whole instances (an even number of rows)")

    def _prepare_dataset(self, dataset: Dataset, processing_class: Any, args: DPOConfig, dataset_name: str) -> Dataset:
        """Tokenised rows, each option a continuation of its prompt without EOS: DCO scores an
        option as the evaluation does (TRL's DPO appends EOS to every plain-text completion)."""
        return dataset.map(
            tokenize_continuations,
            fn_kwargs={"tokenizer": processing_class},
            desc=f"Tokenizing {dataset_name} dataset",
        )

    def _get_train_sampler(self, dataset: Dataset | None = None) -> Sampler[int]:
        return InstanceSampler(len(dataset if dataset is not None else self.train_dataset), self.args.seed)

    def _compute_loss(self, model: Any, inputs: dict[str, torch.Tensor], return_outputs: bool) -> torch.Tensor:
        mode = "train" if self.model.training else "eval"
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        outputs = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            labels=labels,
            use_cache=False,
            fused_lm_head=True,
        )
        seq_len = completion_mask.size(1) - 1
        chosen, rejected = outputs.log_probs[:, -seq_len:].sum(dim=1).chunk(2, dim=0)
        if self.precompute_ref_logps:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:  # TRL's reference pass: the frozen copy, or the policy with its adapter disabled
            ref_chosen, ref_rejected = self.compute_ref_log_probs(self.ref_model or self.model, inputs)
        pairs = [t.view(-1, INSTANCE_ROWS) for t in (chosen, rejected, ref_chosen, ref_rejected)]
        loss = dco_loss(*pairs, beta=self.beta).mean()

        with torch.no_grad():
            margin = (pairs[0] - pairs[1]).detach()  # policy preference of chosen over rejected
            reward = margin - (pairs[2] - pairs[3])
            metrics = {
                # both languages prefer the same option: what DCO optimises
                "dco/agreement": ((margin[:, 0] > 0) == (margin[:, 1] > 0)).float().mean(),
                "rewards/accuracies": (reward > 0).float().mean(),
                "rewards/margins": reward.mean(),
            }
        for name, value in metrics.items():
            self._metrics[mode][name].append(self.accelerator.gather_for_metrics(value).mean().item())
        return loss


def dco_arguments(spec: RunSpec, instances_per_step: int) -> DPOConfig:
    """The trainer's arguments with a step of `instances_per_step` instances: the micro-batch
    (per_device_train_batch_size, derived) is 2 × instances_per_step ÷
    gradient_accumulation_steps rows."""
    from polyfact.train.common import trainer_value, training_arguments

    grad_accum = trainer_value(spec, DPOConfig, "gradient_accumulation_steps")
    if instances_per_step < 1 or instances_per_step % grad_accum:
        raise PolyfactError(
            f"dco.instances_per_step={instances_per_step} must be a positive multiple of "
            f"gradient_accumulation_steps={grad_accum}"
        )
    derived = {"per_device_train_batch_size": INSTANCE_ROWS * instances_per_step // grad_accum}
    return training_arguments(spec, DPOConfig, derived)


def train_dco(
    model_dir: str | Path,
    out_dir: str | Path,
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
    spec: RunSpec,
    instances_per_step: int,
    max_instances: int | None,
) -> dict[str, Any]:
    """Train DCO from `model_dir` on the training split's facts; save merged weights and
    train_stats.json to `out_dir` (resuming from `spec.checkpoint_dir` when interrupted)."""
    from polyfact.train.preference import train_preference

    instances = dco_instances(records_by_lang, max_instances, spec.seed)
    if not instances:
        raise PolyfactError("no DCO instance: no fact has the same four option entities in two languages")
    extra = {
        "method": "dco",
        "languages": list(records_by_lang),
        "instances": len(instances) // INSTANCE_ROWS,
        "instances_per_step": instances_per_step,
        "settings": {"max_instances": max_instances},
    }
    args = dco_arguments(spec, instances_per_step)
    return train_preference(DCOTrainer, model_dir, out_dir, Dataset.from_list(instances), spec, args, extra)
