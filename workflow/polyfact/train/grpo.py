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

import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from datasets import Dataset
from torch.utils.data import Sampler
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from trl import GRPOConfig, GRPOTrainer

from polyfact.dataset.build import OPTION_KEYS
from polyfact.train.common import (
    RunSpec,
    apply_lora,
    model_dtype,
    on_gpu,
    save_final,
    train_with_resume,
    trainer_kwargs,
)
from polyfact.train.rewards import Outcome, RewardSpec, judge, rollout_rewards

ANSWER_CUE = "→"
"""Last prompt line: a language-neutral cue after which the base model writes the answer."""


@dataclass
class GrpoSettings:
    """GRPO knobs (paper: G=8, T=0.7, top-p 0.95, 32–48 new tokens, KL 0)."""

    num_generations: int = 8
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 32
    beta: float = 0.0
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    use_vllm: bool = False
    reward: RewardSpec = field(default_factory=RewardSpec)


def grpo_prompt(row: Mapping[str, Any], scaffold: str) -> str:
    """Plain-text prompt in the question's language (base models: no chat template)."""
    options = "\n".join(f"- {row[k]}" for k in OPTION_KEYS)
    return f"{row['question']}\n{options}\n{scaffold}\n{ANSWER_CUE}"


def build_dataset(
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]], scaffolds: Mapping[str, str]
) -> tuple[Dataset, list[list[int]]]:
    """Prompt rows ordered fact by fact (facts sorted by id, languages in the mapping's
    order) and, per fact, the row indices of its languages (the sampler's groups)."""
    langs = list(records_by_lang)
    if not langs:
        raise ValueError("no training languages")
    missing = [lang for lang in langs if lang not in scaffolds]
    if missing:
        raise ValueError(f"no answer scaffold for {missing}")
    by_lang = {lang: {r["fact_id"]: r for r in records_by_lang[lang]} for lang in langs}
    facts = sorted(by_lang[langs[0]])
    for lang in langs[1:]:
        if set(by_lang[lang]) != set(facts):
            raise ValueError(f"fact sets differ between {langs[0]} and {lang}: a rollout needs every language")
    rows = []
    for fact in facts:
        for lang in langs:
            r = by_lang[lang][fact]
            rows.append(
                {
                    "prompt": grpo_prompt(r, scaffolds[lang]),
                    "fact_id": fact,
                    "language": lang,
                    "options": [r[k] for k in OPTION_KEYS],
                    "answer_index": int(r["answer_index"]),
                }
            )
    n = len(langs)
    groups = [list(range(i * n, (i + 1) * n)) for i in range(len(facts))]
    return Dataset.from_list(rows), groups


class FactGroupSampler(Sampler[int]):
    """Yields whole facts: each fact's rows in order, each row `num_generations` times.

    Facts are shuffled per epoch by an RNG seeded with (seed, epoch) (the Trainer calls `set_epoch`, so a
    resumed run replays the same order). As with TRL's RepeatSampler, each chunk of
    `facts_per_batch` facts (one per process) is repeated `repeat_count` times
    (= num_iterations × steps_per_generation): the trainer generates on the first copy and
    consumes buffered completions on the others.
    """

    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        num_generations: int,
        repeat_count: int = 1,
        facts_per_batch: int = 1,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        if not groups or len({len(g) for g in groups}) != 1:
            raise ValueError("every fact group must hold the same (non-zero) number of languages")
        self.groups = [list(g) for g in groups]
        self.num_generations = num_generations
        self.repeat_count = repeat_count
        self.facts_per_batch = facts_per_batch
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        order = list(range(len(self.groups)))
        if self.shuffle:
            random.Random(f"{self.seed}:{self.epoch}").shuffle(order)
        n_chunks = len(order) // self.facts_per_batch
        for c in range(n_chunks):
            chunk = order[c * self.facts_per_batch : (c + 1) * self.facts_per_batch]
            for _ in range(self.repeat_count):
                for fact in chunk:
                    for index in self.groups[fact]:
                        yield from [index] * self.num_generations

    def __len__(self) -> int:
        n_facts = len(self.groups) // self.facts_per_batch * self.facts_per_batch
        return n_facts * len(self.groups[0]) * self.num_generations * self.repeat_count


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
        outcomes = [judge(c, o, a) for c, o, a in zip(completions, options, answer_index, strict=True)]
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
            self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            facts_per_batch=self.accelerator.num_processes,
            seed=self.args.seed,
            shuffle=self.shuffle_dataset,
        )


def grpo_config(spec: RunSpec, settings: GrpoSettings, n_langs: int) -> GRPOConfig:
    """One fact per optimizer step on each process: L·G sequences split into
    `spec.grad_accum` micro-batches (`spec.batch_size` is not used by GRPO).
    `spec.extra` still overrides any key."""
    per_fact = n_langs * settings.num_generations
    if per_fact % spec.grad_accum:
        raise ValueError(f"grad_accum {spec.grad_accum} must divide languages × generations = {per_fact}")
    grpo_keys = {
        "per_device_train_batch_size": per_fact // spec.grad_accum,
        "steps_per_generation": spec.grad_accum,
        "num_generations": settings.num_generations,
        "max_completion_length": settings.max_new_tokens,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "beta": settings.beta,
        "loss_type": settings.loss_type,
        "scale_rewards": settings.scale_rewards,
        "use_vllm": settings.use_vllm and on_gpu(),
    }
    return GRPOConfig(**{**trainer_kwargs(spec), **grpo_keys, **spec.extra})


def build_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
    scaffolds: Mapping[str, str],
    spec: RunSpec,
    settings: GrpoSettings,
) -> tuple[FactGroupedGRPOTrainer, FactRolloutReward]:
    """The trainer and its reward function (kept to read the token count afterwards)."""
    dataset, groups = build_dataset(records_by_lang, scaffolds)
    reward = FactRolloutReward(settings.reward, n_langs=len(records_by_lang))
    trainer = FactGroupedGRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=grpo_config(spec, settings, len(records_by_lang)),
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
    settings: GrpoSettings,
) -> dict[str, Any]:
    """Train GRPO from `model_dir`, save merged weights + train_stats.json to `out_dir`
    (which replaces `spec.out_dir`); resumes from `spec.checkpoint_dir` when interrupted."""
    spec = replace(spec, out_dir=Path(out_dir))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=model_dtype(spec.bf16))
    model = apply_lora(model, spec.lora)
    trainer, reward = build_trainer(model, tokenizer, records_by_lang, scaffolds, spec, settings)
    stats = train_with_resume(trainer, spec)
    stats |= {
        "method": "grpo",
        "languages": list(records_by_lang),
        "n_facts": len(trainer.fact_groups),
        "settings": asdict(settings),
        "tokens_generated_this_attempt": reward.tokens_generated,
        **_summary(stats["log_history"]),
    }
    save_final(trainer.model, tokenizer, spec, stats)
    return stats
