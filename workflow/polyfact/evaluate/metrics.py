"""Cross-lingual metrics over per-fact, per-language predictions (§8): accuracy, TotCons,
RankC and pairwise agreement, plus a paired bootstrap over facts. Pure functions on numpy.

A prediction table is a mapping fact_id -> language -> ranking, where a ranking lists the
option *entities* (option_ids) from best to worst score, so languages compare entities, not
letters; `correct[f][lang]` says whether the top entity is the gold.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

Rankings = Mapping[str, Mapping[str, Sequence[str]]]  # fact -> language -> entities best-first


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


def rankc_floor(n: int) -> float:
    """The lowest RankC two rankings of n entities can have (one the reverse of the other)."""
    items = [str(k) for k in range(n)]
    return rankc_pair(items, items[::-1])


def rescale_rankc(value: float, n: int) -> float:
    """Map [floor, 1] to [0, 1] so RankC values of different N compare."""
    floor = rankc_floor(n)
    return (value - floor) / (1 - floor)


def rankc(rankings: Rankings, languages: Sequence[str]) -> dict[str, float]:
    """Mean over facts of RankC, over all language pairs and over en–x pairs, plus rescaled."""
    pairs = list(itertools.combinations(languages, 2))
    per_pair = {p: float(np.mean([rankc_pair(r[p[0]], r[p[1]]) for r in rankings.values()])) for p in pairs}
    n = len(next(iter(next(iter(rankings.values())).values())))
    mean_all = float(np.mean(list(per_pair.values())))
    en_pairs = [v for (a, b), v in per_pair.items() if "en" in (a, b)]
    mean_en = float(np.mean(en_pairs)) if en_pairs else math.nan
    return {
        "all_pairs": mean_all,
        "en_x": mean_en,
        "all_pairs_rescaled": rescale_rankc(mean_all, n),
        "en_x_rescaled": rescale_rankc(mean_en, n) if en_pairs else math.nan,
    }


def correctness_matrix(correct: Mapping[str, Mapping[str, bool]], languages: Sequence[str]) -> np.ndarray:
    """facts × languages boolean matrix (facts in sorted order)."""
    return np.array([[bool(correct[f][lang]) for lang in languages] for f in sorted(correct)], dtype=bool)


def totcons(matrix: np.ndarray) -> dict[str, object]:
    """Share of facts right in every language, the k-of-n histogram and its mean."""
    k = matrix.sum(axis=1)
    n = matrix.shape[1]
    hist = np.bincount(k, minlength=n + 1) / max(len(k), 1)
    return {"totcons": float((k == n).mean()), "histogram": hist.tolist(), "mean_correct": float(k.mean())}


def agreement(rankings: Rankings, languages: Sequence[str]) -> float:
    """Share of facts whose top-1 entity is the same in both languages, averaged over pairs."""
    pairs = list(itertools.combinations(languages, 2))
    return float(np.mean([np.mean([r[a][0] == r[b][0] for r in rankings.values()]) for a, b in pairs]))


def paired_bootstrap(
    metric: Callable[[np.ndarray], float],
    a: np.ndarray,
    b: np.ndarray,
    resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, float]:
    """Paired bootstrap over facts (rows; all languages of a fact move together) of
    metric(b) − metric(a): the observed difference, 95% percentile CI and two-sided p."""
    if a.shape[0] != b.shape[0]:
        raise ValueError("paired bootstrap needs the same facts in both systems")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.shape[0], size=(resamples, a.shape[0]))
    diffs = np.array([metric(b[i]) - metric(a[i]) for i in idx])
    observed = metric(b) - metric(a)
    p = 2 * min((diffs <= 0).mean(), (diffs >= 0).mean())
    return {
        "difference": float(observed),
        "ci_low": float(np.percentile(diffs, 2.5)),
        "ci_high": float(np.percentile(diffs, 97.5)),
        "p_value": float(min(1.0, p)),
    }
