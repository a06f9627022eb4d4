"""Missing entity labels translated by the question model (facts.min_label_langs below the
number of languages; the paper's PolyFact required labels in 5 of 12 and translated the rest).

Each (entity, language) without a label is translated once, from the entity's English label
or else from the first language that has one, and the answer must pass the checks a label
would (non-empty, one line, no foreign script). A label still failing after `tries` stays
missing, and the build drops its facts as missing_labels. The facts table gains one
provenance column per label column, `{role}_label_source_{lang}`: `extracted` (from the
facts source), `translated`, or null where the label is still missing, so analyses can
separate Wikidata labels from machine translations.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from polyfact.dataset.llm_cache import AnswerStore, generate_validated
from polyfact.dataset.llm_prompts import prompt_version, request_seed
from polyfact.facts import label_column
from polyfact.languages import LANGUAGES, foreign_letters
from polyfact.models.chat import ChatRequest, Generator, Sampling

log = logging.getLogger(__name__)

EXTRACTED, TRANSLATED = "extracted", "translated"
QUOTES = "\"'“”‘’«»「」『』"


def source_column(role: str, lang: str) -> str:
    """Provenance column of the `role` label in `lang`."""
    return f"{role}_label_source_{lang}"


def entity_labels(df: pd.DataFrame, languages: Sequence[str]) -> dict[str, dict[str, str]]:
    """Known labels per entity (subject or object, in any fact) and language."""
    labels: dict[str, dict[str, str]] = {}
    for role in ("subject", "object"):
        for lang in languages:
            col = df[[f"{role}_id", label_column(role, lang)]].dropna()
            for entity, label in zip(col[f"{role}_id"], col[label_column(role, lang)], strict=True):
                labels.setdefault(entity, {}).setdefault(lang, label)
    for role in ("subject", "object"):
        for entity in df[f"{role}_id"]:
            labels.setdefault(entity, {})
    return labels


def missing(labels: Mapping[str, Mapping[str, str]], languages: Sequence[str]) -> list[tuple[str, str, str]]:
    """(entity, language, source language) of every label to translate, sorted; an entity
    without any label cannot be translated and is left out."""
    out = []
    for entity in sorted(labels):
        known = labels[entity]
        source = "en" if "en" in known else next((lang for lang in languages if lang in known), None)
        if source is None:
            continue
        out += [(entity, lang, source) for lang in languages if lang not in known]
    return out


def check_translation(text: str, lang: str, source_label: str) -> tuple[str | None, list[str]]:
    """The label an answer holds and why it fails (empty list: it passes)."""
    label = text.strip().strip(QUOTES).strip()
    if not label:
        return None, ["empty"]
    if len(label) > 3 * len(source_label) + 20:
        return label, ["too_long"]
    if foreign_letters(label, lang):
        return label, ["foreign_script"]
    return label, []


def translation_request(prompts: Mapping[str, Any], label: str, source: str, lang: str, seed: int) -> ChatRequest:
    t = prompts["translation"]
    user = t["user"].format(source_language=LANGUAGES[source].name, language=LANGUAGES[lang].name, label=label)
    return ChatRequest(messages=(("system", t["system"]), ("user", user)), seed=seed)


def translate_labels(
    df: pd.DataFrame,
    languages: Sequence[str],
    generator: Generator,
    model: str,
    prompts: Mapping[str, Any],
    sampling: Sampling,
    retry_sampling: Sampling,
    tries: int,
    store: AnswerStore,
    chunk: int,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The facts table with missing labels filled where a translation passed, the provenance
    columns, and per-language counts."""
    labels = entity_labels(df, languages)
    todo = missing(labels, languages)
    source_of = {(entity, lang): source for entity, lang, source in todo}

    def request(unit: tuple[str, str], attempt: int) -> ChatRequest:
        entity, lang = unit
        seed_ = request_seed(seed, "label", entity, lang, attempt)
        return translation_request(prompts, labels[entity][source_of[unit]], source_of[unit], lang, seed_)

    result = generate_validated(
        generator,
        model,
        list(source_of),
        request,
        lambda unit, text: check_translation(text, unit[1], labels[unit[0]][source_of[unit]]),
        sampling,
        retry_sampling,
        tries,
        store,
        chunk,
        "labels",
    )
    translated, attempts, problems = result.accepted, result.attempts, result.problems

    out = df.copy()
    for role in ("subject", "object"):
        for lang in languages:
            col = label_column(role, lang)
            had = out[col].notna()
            fill = out[f"{role}_id"].map(lambda e, lang=lang: translated.get((e, lang)))
            out[col] = out[col].where(had, fill)
            out[source_column(role, lang)] = pd.Series(
                [EXTRACTED if h else (TRANSLATED if f is not None else None) for h, f in zip(had, fill, strict=True)],
                index=out.index,
                dtype=object,
            )
    per_language = {
        lang: {
            "needed": sum(1 for _, lg, _ in todo if lg == lang),
            "translated": sum(1 for (_, lg) in translated if lg == lang),
            "regenerated": sum(1 for (_, lg), n in attempts.items() if lg == lang and n > 1),
            "failed": sum(1 for (_, lg) in problems if lg == lang),
        }
        for lang in languages
    }
    reasons = Counter(p for why in problems.values() for p in why)
    stats = {
        "model": model,
        "prompt_version": prompt_version(prompts["translation"]["system"], prompts["translation"]["user"]),
        "entities": len(labels),
        "labels_needed": len(todo),
        "per_language": per_language,
        "failure_reasons": dict(sorted(reasons.items())),
        "tries": tries,
        **result.usage,
    }
    return out, stats


def translated_fact_counts(df: pd.DataFrame, fact_ids: set[str], languages: Sequence[str]) -> dict[str, int] | None:
    """Facts of `fact_ids` with a translated subject or object label, per language; None for
    a facts table without provenance columns (no translation ran)."""
    if source_column("subject", languages[0]) not in df.columns:
        return None
    kept = df[df["fact_id"].isin(fact_ids)]
    return {
        lang: int(
            (
                (kept[source_column("subject", lang)] == TRANSLATED)
                | (kept[source_column("object", lang)] == TRANSLATED)
            ).sum()
        )
        for lang in languages
    }
