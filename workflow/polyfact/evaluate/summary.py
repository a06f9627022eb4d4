"""The summary of one evaluation (§8): accuracy per language, group and relation; TotCons;
RankC; pairwise agreement; seen vs unseen languages. Also the per-fact metric vectors the
significance tests resample."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from polyfact.evaluate.metrics import (
    FactTable,
    agreement_matrix,
    fact_table,
    language_pairs,
    nanmean,
    rankc_matrix,
    row_mean,
    totcons,
)


@dataclass(frozen=True)
class Groups:
    """Language groups of one evaluation: resource (high/low) and training (seen/unseen)."""

    high: list[str]
    low: list[str]
    seen: list[str]
    unseen: list[str]


def language_groups(
    languages: Sequence[str], low_resource: Sequence[str] = (), seen: Sequence[str] | None = None
) -> Groups:
    """Split the evaluated languages; `seen=None` means every language was trained on."""
    seen_set = set(languages if seen is None else seen)
    return Groups(
        high=[lang for lang in languages if lang not in low_resource],
        low=[lang for lang in languages if lang in low_resource],
        seen=[lang for lang in languages if lang in seen_set],
        unseen=[lang for lang in languages if lang not in seen_set],
    )


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _columns(table: FactTable, languages: Sequence[str]) -> list[int]:
    return [table.languages.index(lang) for lang in languages]


def _en_pairs(languages: Sequence[str], others: Sequence[str]) -> list[tuple[str, str]]:
    return [("en", x) for x in others if x != "en"] if "en" in languages else []


def per_fact_metrics(table: FactTable, groups: Groups) -> dict[str, np.ndarray]:
    """Per-fact values whose mean over facts is each headline metric (NaN = undefined)."""
    correct = table.correct.astype(float)
    out = {"accuracy": correct.mean(axis=1), "totcons": table.correct.all(axis=1).astype(float)}
    non_english = [lang for lang in table.languages if lang != "en"]
    if "en" in table.languages and non_english:
        out["accuracy_non_en"] = correct[:, _columns(table, non_english)].mean(axis=1)
    for name, langs in (("high", groups.high), ("low", groups.low), ("seen", groups.seen), ("unseen", groups.unseen)):
        if langs and len(langs) < len(table.languages):
            out[f"accuracy_{name}"] = correct[:, _columns(table, langs)].mean(axis=1)
    pairs = language_pairs(table.languages)
    if pairs:
        out["rankc"] = row_mean(rankc_matrix(table, pairs))
        out["rankc_rescaled"] = row_mean(rankc_matrix(table, pairs, rescaled=True))
        out["agreement"] = row_mean(agreement_matrix(table, pairs))
    en_pairs = _en_pairs(table.languages, table.languages)
    if en_pairs:
        out["rankc_en_x"] = row_mean(rankc_matrix(table, en_pairs))
    return out


def _pair_summary(table: FactTable, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    if not pairs:
        return {"mean": None, "rescaled": None, "agreement": None, "per_pair": {}}
    raw, scaled, agree = rankc_matrix(table, pairs), rankc_matrix(table, pairs, True), agreement_matrix(table, pairs)
    return {
        "mean": nanmean(row_mean(raw)),
        "rescaled": nanmean(row_mean(scaled)),
        "agreement": nanmean(row_mean(agree)),
        "per_pair": {f"{a}-{b}": nanmean(raw[:, k]) for k, (a, b) in enumerate(pairs)},
        "agreement_per_pair": {f"{a}-{b}": nanmean(agree[:, k]) for k, (a, b) in enumerate(pairs)},
    }


def _en_x_of(table: FactTable, languages: Sequence[str], group: Sequence[str]) -> dict[str, float | None]:
    """RankC and agreement between English and a group's languages (the unseen-language result)."""
    pairs = _pair_summary(table, _en_pairs(languages, group))
    return {"rankc_en_x": pairs["mean"], "agreement_en_x": pairs["agreement"]}


def accuracy_table(predictions: Sequence[Mapping[str, Any]], key: str = "correct") -> dict[str, dict[str, float]]:
    """relation -> language -> accuracy (relation `all` over every row)."""
    hits: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for p in predictions:
        hits["all"][p["language"]].append(bool(p[key]))
        if p.get("property_id"):
            hits[p["property_id"]][p["language"]].append(bool(p[key]))
    return {rel: {lang: sum(v) / len(v) for lang, v in langs.items()} for rel, langs in hits.items()}


def accuracy_by_language(predictions: Sequence[Mapping[str, Any]], key: str = "correct") -> dict[str, float]:
    """language -> share of rows whose `key` is true (the `all` row of `accuracy_table`)."""
    return accuracy_table(predictions, key).get("all", {})


def summarise(
    predictions: Sequence[Mapping[str, Any]],
    languages: Sequence[str],
    low_resource: Sequence[str] = (),
    seen: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every §8 metric of one model on one benchmark, from per fact × language predictions."""
    groups = language_groups(languages, low_resource, seen)
    by_relation = accuracy_table(predictions)
    accuracy = {lang: by_relation["all"][lang] for lang in languages if lang in by_relation["all"]}
    missing = [lang for lang in languages if lang not in accuracy]
    if missing:
        raise ValueError(f"no predictions for languages {missing}")
    group_mean = lambda langs: _mean([accuracy[lang] for lang in langs])  # noqa: E731
    table = fact_table(predictions, languages)
    cons = totcons(table.correct)
    all_pairs = _pair_summary(table, language_pairs(languages))
    en_x = _pair_summary(table, _en_pairs(languages, languages))
    return {
        "languages": list(languages),
        "accuracy": accuracy,
        "accuracy_mean": group_mean(languages),
        "accuracy_high": group_mean(groups.high),
        "accuracy_low": group_mean(groups.low),
        "accuracy_en": accuracy.get("en"),
        "accuracy_non_en_mean": group_mean([lang for lang in languages if lang != "en"]),
        "accuracy_by_relation": {
            rel: {**langs, "mean": _mean(list(langs.values()))}
            for rel, langs in sorted(by_relation.items())
            if rel != "all"
        },
        "groups": {
            name: {"languages": langs, "accuracy": group_mean(langs), **_en_x_of(table, languages, langs)}
            for name, langs in vars(groups).items()
        },
        "totcons": cons["totcons"],
        "totcons_histogram": cons["histogram"],
        "totcons_mean_correct": cons["mean_correct"],
        "rankc": {
            "all_pairs": all_pairs["mean"],
            "all_pairs_rescaled": all_pairs["rescaled"],
            "en_x": en_x["mean"],
            "en_x_rescaled": en_x["rescaled"],
            "per_pair": all_pairs["per_pair"],
        },
        "agreement": all_pairs["agreement"],
        "agreement_per_pair": all_pairs.get("agreement_per_pair", {}),
        "facts": {
            "complete": len(table.facts),
            "incomplete": table.incomplete,
            "aligned": sum(all(r) for r in table.rankings),
            "partially_aligned": sum(any(r) and not all(r) for r in table.rankings),
        },
    }
