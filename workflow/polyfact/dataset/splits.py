"""Seeded train/val/test splits by fact, stratified by relation."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence

SPLITS = ("train", "val", "test")


def split_sizes(n: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Split n items by fractions with largest-remainder rounding (sizes always sum to n)."""
    raw = {s: n * fractions[s] for s in SPLITS}
    sizes = {s: int(raw[s]) for s in SPLITS}
    for s in sorted(SPLITS, key=lambda s: (raw[s] - sizes[s], -SPLITS.index(s)), reverse=True)[
        : n - sum(sizes.values())
    ]:
        sizes[s] += 1
    return sizes


def assign_splits(facts: Sequence[tuple[str, str]], fractions: Mapping[str, float], seed: int) -> dict[str, str]:
    """Map fact_id -> split for (fact_id, relation) pairs; the same inputs give the same splits."""
    by_relation: dict[str, list[str]] = defaultdict(list)
    for fact_id, relation in facts:
        by_relation[relation].append(fact_id)
    out: dict[str, str] = {}
    for relation, ids in sorted(by_relation.items()):
        ids = sorted(set(ids))
        random.Random(f"{seed}|split|{relation}").shuffle(ids)
        sizes = split_sizes(len(ids), fractions)
        start = 0
        for split in SPLITS:
            for fact_id in ids[start : start + sizes[split]]:
                out[fact_id] = split
            start += sizes[split]
    return out
