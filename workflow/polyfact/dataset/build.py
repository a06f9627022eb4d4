"""Facts table -> PolyFact: questions, quality filters, options, splits, records (§6)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from polyfact.dataset import filters
from polyfact.dataset.items import Item, items_from_facts
from polyfact.dataset.options import (
    DISTRACTOR_MODES,
    TIERS,
    build_pools,
    candidate_tiers,
    choose_distractors,
    choose_uniform_same_type,
    shuffle_options,
)
from polyfact.dataset.questions import summarise
from polyfact.dataset.splits import SPLITS, assign_splits
from polyfact.dataset.templates import Templates, check_templates, render_question
from polyfact.dataset.translate import translated_fact_counts
from polyfact.errors import PolyfactError
from polyfact.io import write_json, write_jsonl
from polyfact.records import OPTION_KEYS
from polyfact.relations import relation_name

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    records: dict[str, dict[str, list[dict[str, Any]]]]  # split -> lang -> rows
    parallel: dict[str, list[dict[str, Any]]]  # split -> rows
    stats: dict[str, Any] = field(default_factory=dict)


class Removals:
    """Ordered bookkeeping of which filter removed how many facts (each fact counted once)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def apply(self, name: str, items: list[Item], removed: set[str]) -> list[Item]:
        kept = [i for i in items if i.fact_id not in removed]
        self.counts[name] = len(items) - len(kept)
        log.info("filter %-22s removed %6d facts, %6d remain", name, self.counts[name], len(kept))
        return kept

    def predicate(
        self, name: str, items: list[Item], pred: filters.ItemPredicate, languages: Sequence[str]
    ) -> list[Item]:
        return self.apply(name, items, {i.fact_id for i in items if pred(i, languages)})


def labelled_items(
    facts: pd.DataFrame, languages: Sequence[str], relations: Sequence[str], removals: Removals
) -> tuple[list[Item], dict[str, int]]:
    """The facts of `relations` with a usable label in every language: the items questions
    are written for (by templates or by the LLM stage), and the missing labels per language."""
    items = items_from_facts(facts[facts["property_id"].isin(relations)], languages)
    missing_per_language = filters.missing_label_counts(items, languages)
    items = removals.predicate("missing_labels", items, filters.missing_labels, languages)
    items = removals.predicate("foreign_script", items, filters.foreign_script, languages)
    return items, missing_per_language


def build_dataset(
    facts: pd.DataFrame,
    templates: Templates | None,
    languages: Sequence[str],
    relations: Sequence[str],
    fractions: Mapping[str, float],
    max_answer_share: float | None,
    seed: int,
    distractors: str = "frequency",
    generated: Mapping[str, Mapping[str, Any]] | None = None,
) -> BuildResult:
    """Build the dataset; `max_answer_share` None = no cap, `distractors` one of DISTRACTOR_MODES.

    Questions come from `templates`, or from the LLM stage's rows by fact id (`generated`,
    see questions.write_questions): a fact the stage dropped is removed here, counted."""
    if distractors not in DISTRACTOR_MODES:
        raise PolyfactError(f"dataset.distractors: {distractors!r} is not one of {list(DISTRACTOR_MODES)}")
    if (templates is None) == (generated is None):
        raise PolyfactError("build_dataset: give question templates or generated questions, not both")
    if templates is not None:
        check_templates(templates, languages, relations)
    languages = list(languages)
    removals = Removals()
    n_input = int(facts["property_id"].isin(relations).sum())
    items, missing_per_language = labelled_items(facts, languages, relations, removals)
    if generated is not None:
        items = removals.apply("question_generation", items, llm_questions(items, generated))
    else:
        for item in tqdm(items, desc="questions", unit="fact", disable=None):
            item.question = {
                lang: render_question(templates, lang, item.property_id, item.subject[lang], item.fact_id, seed)  # type: ignore[arg-type]
                for lang in languages
            }
    items = removals.predicate("subject_not_mentioned", items, filters.subject_not_mentioned, languages)
    items = removals.predicate("answer_leakage", items, filters.answer_leakage, languages)
    ambiguous_ids, duplicate_ids = filters.ambiguous(items, languages)
    items = removals.apply("ambiguous", items, ambiguous_ids)
    items = removals.apply("duplicate_question", items, duplicate_ids)
    over = set() if max_answer_share is None else filters.over_represented(items, max_answer_share, seed)
    items = removals.apply("over_represented", items, over)

    pools = build_pools(items)
    no_options = set()
    tiers_of: dict[tuple[str, str], list[tuple[str, list[str]]]] = {}  # (relation, gold) -> tiers
    tier_used: Counter[str] = Counter()
    for item in tqdm(items, desc="options", unit="fact", disable=None):
        pool = pools[item.property_id]
        if distractors == "frequency":
            chosen = choose_distractors(item, pool, languages, seed)
        else:
            key = (item.property_id, item.object_id)
            if key not in tiers_of:
                tiers_of[key] = candidate_tiers(item.object_id, pool, languages)
            chosen, tier = choose_uniform_same_type(item, pool, languages, seed, tiers_of[key])
            if tier is not None:
                tier_used[tier] += 1
        if chosen is None:
            no_options.add(item.fact_id)
        else:
            item.option_ids = shuffle_options(item, chosen, languages, seed)
    items = removals.apply("duplicate_options", items, no_options)

    split_of = assign_splits([(i.fact_id, i.property_id) for i in items], fractions, seed)
    labels_of = {pid: pool.labels for pid, pool in pools.items()}
    records: dict[str, dict[str, list[dict[str, Any]]]] = {s: {lang: [] for lang in languages} for s in SPLITS}
    parallel: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for item in items:
        rows = {lang: make_record(item, lang, labels_of[item.property_id]) for lang in languages}
        split = split_of[item.fact_id]
        for lang, row in rows.items():
            records[split][lang].append(row)
        parallel[split].append(make_parallel_row(item, rows))

    per_relation = Counter((i.property_id, split_of[i.fact_id]) for i in items)
    stats = {
        "languages": languages,
        "relations": list(relations),
        "seed": seed,
        "facts_in": n_input,
        "facts_out": len(items),
        "max_answer_share": max_answer_share,
        "distractors": distractors,
        "removed": [{"filter": k, "facts": v} for k, v in removals.counts.items()],
        # facts lacking a subject or object label per eval language (one fact may count in
        # several); all of them are removed as missing_labels (after label translation, if any)
        "missing_labels_per_language": missing_per_language,
        # kept facts whose subject or object label in a language is a machine translation
        "translated_labels_per_language": translated_fact_counts(facts, {i.fact_id for i in items}, languages),
        "questions": "templates" if generated is None else "llm",
        "per_relation": {pid: {s: per_relation[(pid, s)] for s in SPLITS} for pid in relations},
        "per_split": {s: len(parallel[s]) for s in SPLITS},
    }
    if generated is not None:
        stats["question_generation"] = summarise(list(generated.values()), languages)
    if distractors == "uniform_same_type":
        # facts kept, by the candidate tier their distractors came from (all but same_type are fallbacks)
        stats["distractor_tiers"] = {t: tier_used[t] for t in TIERS}
    return BuildResult(records, parallel, stats)


def llm_questions(items: Sequence[Item], generated: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Give each item its generated questions; returns the facts the LLM stage dropped. A fact
    the stage never saw means its shards were written from another facts table: fail."""
    unseen = [i.fact_id for i in items if i.fact_id not in generated]
    if unseen:
        raise PolyfactError(
            f"no generated questions for {len(unseen)} facts (e.g. {unseen[0]!r}): the question shards"
            " were written from another facts table; rerun generate_questions"
        )
    dropped = set()
    for item in items:
        row = generated[item.fact_id]
        if row["dropped"]:
            dropped.add(item.fact_id)
        else:
            item.question = dict(row["questions"])
    return dropped


def make_record(item: Item, lang: str, labels: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """One PolyFact row (§6 field order); subject/relation/object are English labels."""
    option_ids = item.option_ids[lang]
    options = [labels[oid][lang] for oid in option_ids]
    answer_index = option_ids.index(item.object_id)
    return {
        "fact_id": item.fact_id,
        "language": lang,
        "subject": item.subject.get("en") or item.subject[lang],
        "relation": relation_name(item.property_id),
        "object": item.object.get("en") or item.object[lang],
        "question": item.question[lang],
        **dict(zip(OPTION_KEYS, options, strict=True)),
        "answer_text": options[answer_index],
        "answer_index": answer_index,
        "option_ids": option_ids,
        "subject_id": item.subject_id,
        "property_id": item.property_id,
        "object_id": item.object_id,
    }


def make_parallel_row(item: Item, rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One row per fact with every language's question, options and answer."""
    out: dict[str, Any] = {
        "fact_id": item.fact_id,
        "subject_id": item.subject_id,
        "property_id": item.property_id,
        "object_id": item.object_id,
        "relation": relation_name(item.property_id),
    }
    for lang, row in rows.items():
        out[f"question_{lang}"] = row["question"]
        out[f"options_{lang}"] = [row[k] for k in OPTION_KEYS]
        out[f"answer_index_{lang}"] = row["answer_index"]
        out[f"option_ids_{lang}"] = row["option_ids"]
    return out


def write_dataset(result: BuildResult, out_dir: str | Path) -> None:
    """JSONL per split and language, parallel JSONL per split, and stats.json (written last)."""
    out = Path(out_dir)
    for split, by_lang in result.records.items():
        for lang, rows in by_lang.items():
            write_jsonl(out / split / f"{lang}.jsonl", rows)
        write_jsonl(out / "parallel" / f"{split}.jsonl", result.parallel[split])
    write_json(out / "stats.json", result.stats)
