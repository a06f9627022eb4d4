"""Quality filters (§6). Each removes whole facts (all languages), and is counted in the report.

Per-item predicates are pure functions of one item; set filters look across items.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from polyfact.dataset.items import Item
from polyfact.dataset.matching import mentions, normalize
from polyfact.languages import foreign_letters


def missing_labels(item: Item, languages: Sequence[str]) -> bool:
    """Subject or object has no label in some language."""
    return any(not item.subject.get(lang) or not item.object.get(lang) for lang in languages)


def missing_label_counts(items: Sequence[Item], languages: Sequence[str]) -> dict[str, int]:
    """Facts lacking a subject or object label, per language: shows which languages need the
    labels that extraction let through with `facts.min_label_langs` below the eval languages."""
    return {lang: sum(1 for i in items if not i.subject.get(lang) or not i.object.get(lang)) for lang in languages}


def foreign_script(item: Item, languages: Sequence[str]) -> bool:
    """Subject or gold label holds letters of a script foreign to the language (Latin in Bengali)."""
    return any(
        foreign_letters(item.subject[lang], lang) or foreign_letters(item.object[lang], lang) for lang in languages
    )


def subject_not_mentioned(item: Item, languages: Sequence[str]) -> bool:
    """The question does not contain the subject (a template or generator lost it)."""
    return any(not mentions(item.question[lang], item.subject[lang], lang) for lang in languages)


def answer_leakage(item: Item, languages: Sequence[str]) -> bool:
    """The gold label appears in the question (e.g. 'Luxembourg' asked about Luxembourg city)."""
    return any(mentions(item.question[lang], item.object[lang], lang) for lang in languages)


def question_problems(question: str, subject: str, answer: str, lang: str) -> list[str]:
    """Why one generated question fails the filters above (none: it passes): the same subject
    and leakage tests, and letters of a foreign script outside the subject's name (a question
    written in the wrong language)."""
    problems = []
    if not mentions(question, subject, lang):
        problems.append("subject_not_mentioned")
    if mentions(question, answer, lang):
        problems.append("answer_leakage")
    if foreign_letters(question.replace(subject, " "), lang):
        problems.append("foreign_script")
    return problems


ItemPredicate = Callable[[Item, Sequence[str]], bool]


def ambiguous(items: Sequence[Item], languages: Sequence[str]) -> tuple[set[str], set[str]]:
    """Facts whose question cannot be told apart from another fact's in some language.

    Keyed by (relation, subject label) so it does not depend on the template drawn. If the
    same question has several golds, all those facts go (ambiguous); if they share the gold,
    the first fact_id stays and the rest go as duplicates.
    """
    groups: dict[tuple[str, str, str], list[Item]] = defaultdict(list)
    for item in items:
        for lang in languages:
            groups[(lang, item.property_id, normalize(item.subject[lang]))].append(item)
    ambiguous_ids: set[str] = set()
    duplicate_ids: set[str] = set()
    for group in groups.values():
        if len(group) < 2:
            continue
        if len({i.object_id for i in group}) > 1:
            ambiguous_ids.update(i.fact_id for i in group)
        else:
            duplicate_ids.update(sorted(i.fact_id for i in group)[1:])
    return ambiguous_ids, duplicate_ids - ambiguous_ids


def answer_caps(counts: Counter[str], max_share: float) -> dict[str, int]:
    """Largest per-answer counts such that no answer exceeds `max_share` of what remains.

    Capping one answer shrinks the total and so the cap: iterate to the fixed point.
    """
    caps = dict(counts)
    while True:
        total = sum(caps.values())
        limit = int(max_share * total)
        over = {obj: limit for obj, n in caps.items() if n > limit}
        if not over:
            return caps
        caps.update(over)


def over_represented(items: Sequence[Item], max_share: float, seed: int) -> set[str]:
    """Facts removed so that no answer is the gold of more than `max_share` of its relation."""
    by_relation: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_relation[item.property_id].append(item)
    removed: set[str] = set()
    for pid, rel_items in sorted(by_relation.items()):
        caps = answer_caps(Counter(i.object_id for i in rel_items), max_share)
        by_object: dict[str, list[str]] = defaultdict(list)
        for item in rel_items:
            by_object[item.object_id].append(item.fact_id)
        for obj, fact_ids in sorted(by_object.items()):
            if len(fact_ids) > caps[obj]:
                ids = sorted(fact_ids)
                random.Random(f"{seed}|cap|{pid}|{obj}").shuffle(ids)
                removed.update(ids[caps[obj] :])
    return removed
