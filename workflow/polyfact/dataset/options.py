"""Multiple-choice options: gold + 3 distractors drawn from the relation's pool of golds.

Two ways to draw them (`dataset.distractors`):
- `frequency` (PolyFact-Clean, the authors' resample_distractors.py): weighted by how often
  each object is a gold, so golds and distractors follow one distribution.
- `uniform_same_type` (the original PolyFact, build_seed_facts_from_wiki.py): uniformly among
  the relation's objects that share a P31 type with the gold and whose reference label is
  within LENGTH_WINDOW characters of the gold's; when that tier cannot supply three acceptable
  distractors, uniformly among the length-similar objects of the relation, then among all of
  them. Facts without types (CLDR) always fall back; the tier used is counted per fact.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from polyfact.dataset.items import Item
from polyfact.dataset.matching import mentions, normalize
from polyfact.languages import foreign_letters

NUM_OPTIONS = 4
MAX_DRAWS = 200  # weighted draws tried per fact before it is dropped as lacking distinct options
DISTRACTOR_MODES = ("frequency", "uniform_same_type")
# The authors' max_len_diff: distractor and gold (English) labels differ by at most 15 characters.
LENGTH_WINDOW = 15
# Candidate tiers of uniform_same_type, in the order tried; all but the first are fallbacks.
TIERS = ("same_type", "length_similar", "relation")


@dataclass
class Pool:
    """Gold objects of one relation, weighted by how often each is a gold answer."""

    object_ids: list[str]
    cumulative: list[int]
    labels: dict[str, dict[str, str]]  # object_id -> lang -> label
    types: dict[str, frozenset[str]] = field(default_factory=dict)  # object_id -> P31 ids

    def draw(self, rng: random.Random) -> str:
        x = rng.randrange(self.cumulative[-1])
        return self.object_ids[bisect.bisect_right(self.cumulative, x)]


def build_pools(items: Sequence[Item]) -> dict[str, Pool]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    labels: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    types: dict[str, dict[str, frozenset[str]]] = defaultdict(dict)
    for item in items:
        counts[item.property_id][item.object_id] += 1
        labels[item.property_id][item.object_id] = item.object  # type: ignore[assignment]
        types[item.property_id][item.object_id] = item.object_types
    pools = {}
    for pid, counter in counts.items():
        ids = sorted(counter)
        pools[pid] = Pool(ids, list(itertools.accumulate(counter[i] for i in ids)), labels[pid], types[pid])
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


def first_acceptable(item: Item, pool: Pool, languages: Sequence[str], candidates: Iterable[str]) -> list[str] | None:
    """The first three `candidates` (in order) acceptable beside the gold and each other, or None
    when the candidates run out first. Both distractor modes differ only in the candidates."""
    chosen_ids: list[str] = []
    chosen_labels = [item.object]  # type: ignore[list-item]
    for candidate in candidates:
        labels = pool.labels[candidate]
        if acceptable(labels, chosen_labels, item, languages):  # type: ignore[arg-type]
            chosen_ids.append(candidate)
            chosen_labels.append(labels)
            if len(chosen_ids) == NUM_OPTIONS - 1:
                return chosen_ids
    return None


def weighted_draws(item: Item, pool: Pool, rng: random.Random) -> Iterator[str]:
    """Up to MAX_DRAWS frequency-weighted draws, each object once, never the gold or subject."""
    rejected = {item.object_id, item.subject_id}
    for _ in range(MAX_DRAWS):
        candidate = pool.draw(rng)
        if candidate in rejected:
            continue
        rejected.add(candidate)
        yield candidate
        if len(rejected) >= len(pool.object_ids):
            return


def choose_distractors(item: Item, pool: Pool, languages: Sequence[str], seed: int) -> list[str] | None:
    """Three distractor object ids, or None when the pool cannot supply distinct ones."""
    rng = random.Random(f"{seed}|distractors|{item.fact_id}")
    return first_acceptable(item, pool, languages, weighted_draws(item, pool, rng))


def reference_language(languages: Sequence[str]) -> str:
    """Language whose label lengths are compared: English as the authors did, else the first."""
    return "en" if "en" in languages else languages[0]


def candidate_tiers(gold_id: str, pool: Pool, languages: Sequence[str]) -> list[tuple[str, list[str]]]:
    """uniform_same_type's candidate lists for a gold object, best tier first (sorted ids).

    Same type means sharing at least one P31 class with the gold (the authors' type index is
    keyed by each P31 id); a gold without types has no same-type candidates.
    """
    ref = reference_language(languages)
    gold_len = len(pool.labels[gold_id][ref])
    gold_types = pool.types.get(gold_id, frozenset())
    others = [o for o in pool.object_ids if o != gold_id]
    similar = [o for o in others if abs(len(pool.labels[o][ref]) - gold_len) <= LENGTH_WINDOW]
    same_type = [o for o in similar if gold_types & pool.types.get(o, frozenset())] if gold_types else []
    return list(zip(TIERS, (same_type, similar, others), strict=True))


def uniform_order(candidates: Sequence[str], rng: random.Random) -> Iterator[str]:
    """The candidates in uniformly random order, lazily (partial Fisher-Yates: cheap for big pools)."""
    order = list(candidates)
    for i in range(len(order)):
        j = rng.randrange(i, len(order))
        order[i], order[j] = order[j], order[i]
        yield order[i]


def choose_uniform_same_type(
    item: Item, pool: Pool, languages: Sequence[str], seed: int, tiers: list[tuple[str, list[str]]] | None = None
) -> tuple[list[str] | None, str | None]:
    """Three distractors drawn uniformly from the first tier that can supply them, and that tier.

    Returns (None, None) when no tier yields three acceptable distractors. `tiers` may be passed
    precomputed (they depend only on the gold object), which keeps big relations fast.
    """
    rng = random.Random(f"{seed}|distractors|{item.fact_id}")
    for tier, candidates in tiers if tiers is not None else candidate_tiers(item.object_id, pool, languages):
        tried = itertools.islice(uniform_order(candidates, rng), MAX_DRAWS)
        chosen = first_acceptable(item, pool, languages, (c for c in tried if c != item.subject_id))
        if chosen is not None:
            return chosen, tier
    return None, None


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
