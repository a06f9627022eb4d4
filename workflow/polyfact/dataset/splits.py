"""Seeded train/val/test splits by fact, stratified by relation."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction

from polyfact.errors import PolyfactError

SPLITS = ("train", "val", "test")


def stratified_sizes(counts: Mapping[str, int], fractions: Mapping[str, float]) -> dict[str, dict[str, int]]:
    """Per-relation split sizes: each the floor or ceiling of its exact share, summing to the
    relation's count, with the rounding carried across relations so that the splits' totals stay
    within about one fact of their overall share.

    Rounding each relation on its own (largest remainder) starves small splits: at 95/2.5/2.5 a
    relation of 10 facts rounds to 10/0/0, so nineteen such relations give no val or test at
    all. Here the leftover units of a relation go to the splits that are owed most so far
    (carry + remainder), so small relations take turns supplying val and test.
    """
    exact_fractions = {s: Fraction(fractions[s]).limit_denominator(10**6) for s in SPLITS}
    if sum(exact_fractions.values()) != 1 or any(f < 0 for f in exact_fractions.values()):
        raise PolyfactError(f"dataset.splits: fractions must be >= 0 and sum to 1, got {dict(fractions)}")
    carry = {s: Fraction(0) for s in SPLITS}
    out: dict[str, dict[str, int]] = {}
    for relation in sorted(counts):
        n = counts[relation]
        exact = {s: n * exact_fractions[s] for s in SPLITS}
        sizes = {s: math.floor(exact[s]) for s in SPLITS}
        owed = [s for s in SPLITS if exact[s] > sizes[s]]
        owed.sort(key=lambda s: (-(carry[s] + exact[s] - sizes[s]), SPLITS.index(s)))
        for s in owed[: n - sum(sizes.values())]:
            sizes[s] += 1
        for s in SPLITS:
            carry[s] += exact[s] - sizes[s]
        out[relation] = sizes
    return out


def assign_splits(facts: Sequence[tuple[str, str]], fractions: Mapping[str, float], seed: int) -> dict[str, str]:
    """Map fact_id -> split for (fact_id, relation) pairs; the same inputs give the same splits."""
    by_relation: dict[str, list[str]] = defaultdict(list)
    for fact_id, relation in facts:
        by_relation[relation].append(fact_id)
    ids_of = {relation: sorted(set(ids)) for relation, ids in by_relation.items()}
    sizes_of = stratified_sizes({relation: len(ids) for relation, ids in ids_of.items()}, fractions)
    out: dict[str, str] = {}
    for relation, ids in sorted(ids_of.items()):
        random.Random(f"{seed}|split|{relation}").shuffle(ids)
        start = 0
        for split in SPLITS:
            for fact_id in ids[start : start + sizes_of[relation][split]]:
                out[fact_id] = split
            start += sizes_of[relation][split]
    return out
