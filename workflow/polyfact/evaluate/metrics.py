"""Cross-lingual metrics over per-fact, per-language predictions (§8): accuracy, TotCons,
RankC and pairwise agreement, plus a paired bootstrap over facts. Pure functions on numpy.

Every cross-lingual metric is a mean over facts of a per-fact value (a fact's correctness
across languages, its RankC averaged over language pairs, ...). Keeping those per-fact
vectors makes the paired bootstrap exact and cheap: resampling facts resamples the vectors.
Rankings list option *entities* (option_ids) best-first, so languages compare entities, not
letters.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

BOOTSTRAP_CHUNK = 500  # resamples drawn per chunk: bounded memory, same draws for any total


def ranking(option_ids: Sequence[str], scores: Sequence[float]) -> list[str]:
    """Entities ordered by score, best first (ties keep the option order)."""
    order = sorted(range(len(scores)), key=lambda k: -scores[k])
    return [option_ids[k] for k in order]


def rankc_weights(n: int) -> np.ndarray:
    """w_j = e^{N-j} / Σ_k e^{N-k}, j = 1..N (Qi et al., 2023)."""
    w = np.exp(np.arange(n - 1, -1, -1, dtype=float))
    return w / w.sum()


def rankc_pair(a: Sequence[str], b: Sequence[str]) -> float:
    """RankC of two rankings of the same N entities: Σ_j w_j · |top_j(a) ∩ top_j(b)| / j."""
    if sorted(a) != sorted(b):
        raise ValueError(f"rankings over different entities: {a} vs {b}")
    w = rankc_weights(len(a))
    return float(sum(w[j - 1] * len(set(a[:j]) & set(b[:j])) / j for j in range(1, len(a) + 1)))


@lru_cache(maxsize=64)
def rankc_floor(n: int) -> float:
    """The lowest RankC two rankings of n entities can have (one the reverse of the other)."""
    items = [str(k) for k in range(n)]
    return rankc_pair(items, items[::-1])


def rescale_rankc(value: float, n: int) -> float:
    """Map [floor, 1] to [0, 1] so RankC values of different N compare."""
    floor = rankc_floor(n)
    return (value - floor) / (1 - floor)


def language_pairs(languages: Sequence[str]) -> list[tuple[str, str]]:
    return list(itertools.combinations(languages, 2))


@dataclass(frozen=True)
class FactTable:
    """Facts answered in every evaluated language, in sorted order, with per-language
    correctness (facts × languages) and rankings (None in a language whose options are not
    aligned with the others: pairs with it are undefined); `incomplete` counts facts
    missing some language."""

    facts: list[str]
    languages: list[str]
    correct: np.ndarray
    rankings: list[list[list[str] | None]]
    incomplete: int


def fact_table(predictions: Sequence[Mapping[str, Any]], languages: Sequence[str]) -> FactTable:
    """Pivot prediction rows (fact_id, language, correct, ranking) into a FactTable."""
    by_fact: dict[str, dict[str, Mapping[str, Any]]] = {}
    for p in predictions:
        by_fact.setdefault(p["fact_id"], {})[p["language"]] = p
    complete = sorted(f for f, rows in by_fact.items() if all(lang in rows for lang in languages))
    correct = np.array([[bool(by_fact[f][lang]["correct"]) for lang in languages] for f in complete], dtype=bool)
    rankings = [[by_fact[f][lang].get("ranking") for lang in languages] for f in complete]
    return FactTable(
        complete,
        list(languages),
        correct.reshape(len(complete), len(languages)),
        rankings,
        len(by_fact) - len(complete),
    )


def _pair_values(table: FactTable, pairs: Sequence[tuple[str, str]], fn: Any) -> np.ndarray:
    """facts × pairs matrix of fn(ranking_a, ranking_b); NaN where either language of the
    pair is not aligned for that fact."""
    index = {lang: k for k, lang in enumerate(table.languages)}
    out = np.full((len(table.facts), len(pairs)), np.nan)
    for f, ranks in enumerate(table.rankings):
        for k, (a, b) in enumerate(pairs):
            if ranks[index[a]] and ranks[index[b]]:
                out[f, k] = fn(ranks[index[a]], ranks[index[b]])
    return out


def row_mean(matrix: np.ndarray) -> np.ndarray:
    """Per-row mean over the defined (non-NaN) entries; NaN for a row with none."""
    defined = ~np.isnan(matrix)
    counts = defined.sum(axis=1)
    sums = np.where(defined, matrix, 0.0).sum(axis=1)
    return np.divide(sums, counts, out=np.full(len(matrix), np.nan), where=counts > 0)


def rankc_matrix(table: FactTable, pairs: Sequence[tuple[str, str]], rescaled: bool = False) -> np.ndarray:
    """Per fact and language pair RankC (optionally rescaled by the fact's own N floor)."""

    def value(a: Sequence[str], b: Sequence[str]) -> float:
        v = rankc_pair(a, b)
        return rescale_rankc(v, len(a)) if rescaled else v

    return _pair_values(table, pairs, value)


def agreement_matrix(table: FactTable, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Per fact and language pair: 1 if the top-1 entity is the same in both languages."""
    return _pair_values(table, pairs, lambda a, b: float(a[0] == b[0]))


def totcons(correct: np.ndarray) -> dict[str, Any]:
    """Share of facts right in every language, the k-of-n histogram and its mean."""
    k = correct.sum(axis=1)
    n = correct.shape[1]
    hist = np.bincount(k, minlength=n + 1) / max(len(k), 1)
    return {"totcons": float((k == n).mean()), "histogram": hist.tolist(), "mean_correct": float(k.mean())}


def nanmean(values: np.ndarray) -> float | None:
    """Mean over defined entries; None (JSON null) when nothing is defined."""
    values = np.asarray(values, dtype=float)
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else None


def bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of `resamples` seeded resamples (with replacement) of `values`, drawn in chunks of
    BOOTSTRAP_CHUNK: bounded memory, and the same draws whatever the total."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            values[rng.integers(0, values.size, size=(min(BOOTSTRAP_CHUNK, resamples - start), values.size))].mean(
                axis=1
            )
            for start in range(0, resamples, BOOTSTRAP_CHUNK)
        ]
    )


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 10_000, seed: int = 0) -> dict[str, float | int]:
    """Paired bootstrap over facts of mean(b) − mean(a) for per-fact values (all languages
    of a fact move together because each value already summarises the fact's languages).

    Facts where the value is undefined (NaN in either system, e.g. unaligned options) are
    left out. Returns the observed difference, the 95% percentile CI and a two-sided p
    (twice the smaller tail of the resampled differences around 0).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired bootstrap needs the same facts in both systems")
    diff = (b - a)[~(np.isnan(a) | np.isnan(b))]
    if diff.size == 0:
        raise ValueError("paired bootstrap: no fact has the metric defined in both systems")
    means = bootstrap_means(diff, resamples, seed)
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return {
        "difference": float(diff.mean()),
        "ci_low": float(np.percentile(means, 2.5)),
        "ci_high": float(np.percentile(means, 97.5)),
        "p_value": float(min(1.0, p)),
        "facts": int(diff.size),
        "resamples": resamples,
    }
