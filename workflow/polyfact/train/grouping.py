"""Training rows grouped by fact, and the sampler that keeps a fact's rows together.

SFT and GRPO both need every training language of a fact in the same optimizer step (SFT: the
letter loss over all languages of a fact; GRPO: the reward pooled over a rollout, one
generation per language), so both order their rows fact by fact and draw whole facts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from torch.utils.data import Sampler

from polyfact.errors import PolyfactError


def rows_by_fact(
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
) -> tuple[list[Mapping[str, Any]], list[list[int]]]:
    """The records ordered fact by fact (facts sorted by id, languages in the mapping's order)
    and, per fact, the indices of its rows. Every language must hold the same facts (the §6
    splits guarantee it): a step needs every language of a fact."""
    languages = list(records_by_lang)
    if not languages:
        raise PolyfactError("no training languages")
    by_lang = {lang: {r["fact_id"]: r for r in rows} for lang, rows in records_by_lang.items()}
    fact_ids = sorted(by_lang[languages[0]])
    for lang in languages[1:]:
        if set(by_lang[lang]) != set(fact_ids):
            diff = sorted(set(by_lang[lang]) ^ set(fact_ids))
            raise PolyfactError(
                f"training languages hold different facts: {languages[0]} and {lang} differ on {diff[:3]}"
            )
    rows = [by_lang[lang][fid] for fid in fact_ids for lang in languages]
    n = len(languages)
    return rows, [list(range(i * n, (i + 1) * n)) for i in range(len(fact_ids))]


class FactGroupSampler(Sampler[int]):
    """Yields whole facts: each fact's rows in order, each row `num_generations` times (GRPO's
    G; 1 for SFT).

    Facts are shuffled per epoch by an RNG seeded with (seed, epoch) (the Trainer calls
    `set_epoch`, so a resumed run replays the same order and skips exactly the batches it had
    seen). As with TRL's RepeatSampler, each chunk of `facts_per_batch` facts (GRPO: one per
    process) is repeated `repeat_count` times (GRPO: num_iterations × steps_per_generation): the
    trainer generates on the first copy and consumes buffered completions on the others.
    """

    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        seed: int,
        *,
        num_generations: int = 1,
        repeat_count: int = 1,
        facts_per_batch: int = 1,
        shuffle: bool = True,
    ) -> None:
        if not groups or len({len(g) for g in groups}) != 1:
            raise ValueError("every fact group must hold the same (non-zero) number of languages")
        self.groups = [list(g) for g in groups]
        self.seed = seed
        self.num_generations = num_generations
        self.repeat_count = repeat_count
        self.facts_per_batch = facts_per_batch
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
