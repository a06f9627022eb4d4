"""GRPO with a cross-lingual consistency reward (§7), on TRL's `GRPOTrainer`.

A *rollout* is one generation for every training language of one fact. The pooled
("fact") reward needs every language of a fact in the same reward call, so training runs on
a fact-grouped sampler: each generation batch is one fact, laid out language by language,
each language row repeated G times consecutively::

    [f/l0 ×G][f/l1 ×G] … [f/l(L-1) ×G]      (L·G sequences = one optimizer step)

Generation k of every language forms rollout k. TRL normalises rewards per group of G
consecutive completions, i.e. per (fact, language). With pooling "fact" every completion
of rollout k gets the same pooled value R_k, so every language group holds the same G
values R_1..R_G, has the same mean and std, and the advantage of rollout k is identical
across its languages: the rollout's advantage is shared by all its sequences, as in the
paper (tests/unit/test_grpo.py checks this through TRL's own code path).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from datasets import Dataset
from torch.utils.data import Sampler
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from trl import GRPOConfig, GRPOTrainer

from polyfact.errors import PolyfactError
from polyfact.prompts import GRPO_PROMPTS, styled_grpo_prompt
from polyfact.records import OPTION_KEYS
from polyfact.train.common import (
    apply_lora,
    model_dtype,
    save_final,
    train_with_resume,
    trainer_value,
    training_arguments,
)
from polyfact.train.grouping import FactGroupSampler, rows_by_fact
from polyfact.train.objectives import objective_summary
from polyfact.train.rewards import Outcome, RewardSpec, judge, rollout_rewards
from polyfact.train.settings import RunSpec

GENERATION_FIELDS = (
    "num_generations",
    "temperature",
    "top_p",
    "max_completion_length",
    "beta",
    "loss_type",
    "scale_rewards",
    "use_vllm",
    "repetition_penalty",
    "max_grad_norm",
)
"""GRPOConfig fields recorded in train_stats.json (paper runs: G=8, T=0.7, top-p 0.95,
repetition penalty 1.3, 32 new tokens, KL 0, clip 1.0)."""


def grpo_dataset(
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
    scaffolds: Mapping[str, str],
    prompt: str = "native",
) -> tuple[Dataset, list[list[int]]]:
    """Prompt rows fact by fact (see `rows_by_fact`) and, per fact, the row indices of its
    languages (the sampler's groups). `prompt` is the style (`grpo.prompt`): `native` (the
    scaffold in the question's language) or `paper` (the paper runs' English instruction)."""
    if prompt not in GRPO_PROMPTS:
        raise PolyfactError(f"grpo.prompt: unknown style {prompt!r}; expected one of {GRPO_PROMPTS}")
    missing = [lang for lang in records_by_lang if lang not in scaffolds]
    if prompt == "native" and missing:
        raise PolyfactError(f"no answer scaffold for {missing}")
    rows, groups = rows_by_fact(records_by_lang)
    languages = list(records_by_lang)  # row i is in languages[i % len(languages)]
    prompts = [
        {
            "prompt": styled_grpo_prompt(r, lang, prompt, scaffolds),
            "fact_id": r["fact_id"],
            "language": lang,
            "options": [r[k] for k in OPTION_KEYS],
            "answer_index": int(r["answer_index"]),
        }
        for r, lang in zip(rows, languages * len(groups), strict=True)
    ]
    return Dataset.from_list(prompts), groups


class FactRolloutReward:
    """TRL reward function: judges each completion, regroups completions into rollouts
    (the k-th completion of every language of a fact is rollout k) and returns
    `rollout_rewards`. Also counts generated tokens and logs outcome fractions."""

    def __init__(self, spec: RewardSpec, n_langs: int) -> None:
        self.spec = spec
        self.n_langs = n_langs
        self.tokens_generated = 0

    def __call__(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        completion_ids: Sequence[Sequence[int]],
        fact_id: Sequence[str],
        language: Sequence[str],
        options: Sequence[Sequence[str]],
        answer_index: Sequence[int],
        log_metric: Any = None,
        **_: Any,
    ) -> list[float]:
        self.tokens_generated += sum(len(ids) for ids in completion_ids)
        rule = self.spec.bare_letter
        outcomes = [judge(c, o, a, rule) for c, o, a in zip(completions, options, answer_index, strict=True)]
        positions: dict[str, dict[str, list[int]]] = {}
        for i, (fact, lang) in enumerate(zip(fact_id, language, strict=True)):
            positions.setdefault(fact, {}).setdefault(lang, []).append(i)
        rewards = [0.0] * len(completions)
        n_rollouts = n_consistent = 0
        for fact, per_lang in positions.items():
            counts = {len(v) for v in per_lang.values()}
            if len(per_lang) != self.n_langs or len(counts) != 1:
                raise ValueError(f"batch does not hold every language × G generations of fact {fact}")
            for k in range(counts.pop()):
                idx = [v[k] for v in per_lang.values()]
                rollout = [outcomes[i] for i in idx]
                for i, r in zip(idx, rollout_rewards(rollout, self.spec), strict=True):
                    rewards[i] = r
                n_rollouts += 1
                n_consistent += all(o is Outcome.CORRECT for o in rollout)
        if log_metric is not None:
            log_metric("rollouts/all_correct", n_consistent / n_rollouts)
            freq = Counter(outcomes)
            for o in Outcome:
                log_metric(f"outcomes/{o.value}", freq[o] / len(outcomes))
        return rewards


class FactGroupedGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose generation batches are whole facts (see the module docstring)."""

    def __init__(self, *args: Any, fact_groups: Sequence[Sequence[int]], **kwargs: Any) -> None:
        self.fact_groups = [list(g) for g in fact_groups]
        super().__init__(*args, **kwargs)
        per_fact = len(self.fact_groups[0]) * self.num_generations
        local = self.args.per_device_train_batch_size * self.args.steps_per_generation
        if local != per_fact:
            raise ValueError(f"per-device generation batch ({local}) must equal languages × generations ({per_fact})")

    def _get_train_sampler(self, dataset: Dataset | None = None) -> Sampler[int]:
        return FactGroupSampler(
            self.fact_groups,
            self.args.seed,
            num_generations=self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            facts_per_batch=self.accelerator.num_processes,
            shuffle=self.shuffle_dataset,
        )


def grpo_config(spec: RunSpec, n_langs: int) -> GRPOConfig:
    """One fact per optimizer step on each process: its L·G sequences are generated at once
    and split into gradient_accumulation_steps micro-batches (per_device_train_batch_size and
    steps_per_generation are derived, never configured)."""
    grad_accum = trainer_value(spec, GRPOConfig, "gradient_accumulation_steps")
    per_fact = n_langs * trainer_value(spec, GRPOConfig, "num_generations")
    if per_fact % grad_accum:
        raise PolyfactError(
            f"grpo.gradient_accumulation_steps={grad_accum} must divide languages × num_generations = {per_fact}"
        )
    derived = {"per_device_train_batch_size": per_fact // grad_accum, "steps_per_generation": grad_accum}
    return training_arguments(spec, GRPOConfig, derived)


def build_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
    scaffolds: Mapping[str, str],
    spec: RunSpec,
    reward_spec: RewardSpec,
    prompt: str = "native",
) -> tuple[FactGroupedGRPOTrainer, FactRolloutReward]:
    """The trainer and its reward function (kept to read the token count afterwards)."""
    dataset, groups = grpo_dataset(records_by_lang, scaffolds, prompt)
    reward = FactRolloutReward(reward_spec, n_langs=len(records_by_lang))
    trainer = FactGroupedGRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=grpo_config(spec, len(records_by_lang)),
        train_dataset=dataset,
        processing_class=tokenizer,
        fact_groups=groups,
    )
    return trainer, reward


def _summary(log_history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Reward history and the last logged fraction of fully correct rollouts."""
    rewards = [{"step": e["step"], "reward": e["reward"]} for e in log_history if "reward" in e]
    consistent = [e["rollouts/all_correct"] for e in log_history if "rollouts/all_correct" in e]
    return {"reward_history": rewards, "final_rollouts_all_correct": consistent[-1] if consistent else None}


def train_grpo(
    model_dir: Path | str,
    out_dir: Path | str,
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
    scaffolds: Mapping[str, str],
    spec: RunSpec,
    reward_spec: RewardSpec,
    prompt: str = "native",
) -> dict[str, Any]:
    """Train GRPO from `model_dir`, save merged weights + train_stats.json to `out_dir`
    (which replaces `spec.out_dir`); resumes from `spec.checkpoint_dir` when interrupted.
    `prompt` is the prompt style (`grpo.prompt`, see `grpo_dataset`)."""
    spec = replace(spec, out_dir=Path(out_dir))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=model_dtype(spec))
    model = apply_lora(model, spec.lora, spec.seed)
    trainer, reward = build_trainer(model, tokenizer, records_by_lang, scaffolds, spec, reward_spec, prompt)
    stats = train_with_resume(trainer, spec)
    stats |= {
        "method": "grpo",
        "languages": list(records_by_lang),
        "n_facts": len(trainer.fact_groups),
        "settings": {k: getattr(trainer.args, k) for k in GENERATION_FIELDS}
        | {"reward": asdict(reward_spec), "prompt": prompt},
        "tokens_generated_this_attempt": reward.tokens_generated,
        **_summary(stats["log_history"]),
        "objective": objective_summary("grpo", stats["log_history"]),
    }
    save_final(trainer.model, tokenizer, spec, stats)
    return stats
