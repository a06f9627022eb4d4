"""Multiple-choice options: gold + 3 distractors drawn from the relation's pool of golds."""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from polyfact.dataset.items import Item
from polyfact.dataset.matching import mentions, normalize
from polyfact.languages import foreign_letters

NUM_OPTIONS = 4
MAX_DRAWS = 200  # weighted draws tried per fact before it is dropped as lacking distinct options


@dataclass
class Pool:
    """Gold objects of one relation, weighted by how often each is a gold answer."""

    object_ids: list[str]
    cumulative: list[int]
    labels: dict[str, dict[str, str]]  # object_id -> lang -> label

    def draw(self, rng: random.Random) -> str:
        x = rng.randrange(self.cumulative[-1])
        return self.object_ids[bisect.bisect_right(self.cumulative, x)]


def build_pools(items: Sequence[Item]) -> dict[str, Pool]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    labels: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for item in items:
        counts[item.property_id][item.object_id] += 1
        labels[item.property_id][item.object_id] = item.object  # type: ignore[assignment]
    pools = {}
    for pid, counter in counts.items():
        ids = sorted(counter)
        pools[pid] = Pool(ids, list(itertools.accumulate(counter[i] for i in ids)), labels[pid])
    return pools


def acceptable(
    candidate: dict[str, str], chosen: Sequence[dict[str, str]], item: Item, languages: Sequence[str]
) -> bool:
    """A distractor must read as a distinct, native, non-leaking option in every language."""
    for lang in languages:
        label = candidate[lang]
        if normalize(label) in {normalize(c[lang]) for c in chosen}:
            return False
        if normalize(label) == normalize(item.subject[lang]):
            return False
        if foreign_letters(label, lang) or mentions(item.question[lang], label, lang):
            return False
    return True


def choose_distractors(item: Item, pool: Pool, languages: Sequence[str], seed: int) -> list[str] | None:
    """Three distractor object ids, or None when the pool cannot supply distinct ones."""
    rng = random.Random(f"{seed}|distractors|{item.fact_id}")
    chosen_ids: list[str] = []
    chosen_labels = [item.object]  # type: ignore[list-item]
    rejected = {item.object_id, item.subject_id}
    for _ in range(MAX_DRAWS):
        candidate = pool.draw(rng)
        if candidate in rejected:
            continue
        rejected.add(candidate)
        labels = pool.labels[candidate]
        if acceptable(labels, chosen_labels, item, languages):  # type: ignore[arg-type]
            chosen_ids.append(candidate)
            chosen_labels.append(labels)
            if len(chosen_ids) == NUM_OPTIONS - 1:
                return chosen_ids
        if len(rejected) >= len(pool.object_ids):
            break
    return None


def shuffle_options(
    item: Item, distractors: Sequence[str], languages: Sequence[str], seed: int
) -> dict[str, list[str]]:
    """The same four entities in every language, in an independent seeded order per language."""
    out = {}
    for lang in languages:
        ids = [item.object_id, *distractors]
        random.Random(f"{seed}|shuffle|{item.fact_id}|{lang}").shuffle(ids)
        out[lang] = ids
    return out
