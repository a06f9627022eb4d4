"""Align the options of one fact across languages, so RankC and pairwise agreement compare option
*entities*, not letters (§8 "Released PolyFact").

Every row needs `option_ids` that name the same entity identically in every language. Our pipeline
writes them (they are checked here for consistency); the released dataset does not, so they are
reconstructed per fact by matching each language's options to a pivot language's: gold ↔ gold,
then exact text, then elimination (`text`). Across scripts (ar, bn, zh, ... vs en) text rarely
matches, so with an encoder (`embedding`, the authors' default) the distractors still left are
assigned by the optimal one-to-one matching on cosine similarity of their embeddings. Facts that
cannot be aligned keep `option_ids = None`: they still count for accuracy and TotCons, not for
RankC/agreement.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from polyfact.errors import PolyfactError
from polyfact.models.pooling import cosine_matrix
from polyfact.records import OPTION_KEYS
from polyfact.text import clean_text, nfc

PIVOT = "en"
METHODS = ("text", "embedding")
MAX_ASSIGNMENT = 8  # exhaustive search over n! matchings; a fact has 4 options, so 3 are left at most

Encoder = Callable[[Sequence[str]], np.ndarray]
"""Texts -> one embedding row per text (any scale; rows are L2-normalised here)."""


def match_by_text(mine: Sequence[str], my_answer: int, pivot: Sequence[str], pivot_answer: int) -> dict[int, int]:
    """A partial map from my option positions to the pivot's, by the rules that cannot be wrong.

    In this order, so that a weaker rule only sees what the stronger left: (1) gold ↔ gold (the
    answer is the same entity by construction); (2) equal text after NFC + casefold, only where the
    text is unique among the still unmatched options on both sides (Latin-script names, codes,
    numbers are often written identically); (3) elimination: one option left on each side must be
    the same entity.
    """
    pivot_keys = [_match_key(o) for o in pivot]
    mapping = {my_answer: pivot_answer}
    free_mine = [k for k in range(len(mine)) if k != my_answer]
    free_pivot = [k for k in range(len(pivot)) if k != pivot_answer]
    mine_keys = {k: _match_key(mine[k]) for k in free_mine}
    for k in free_mine:
        same_mine = [j for j in free_mine if mine_keys[j] == mine_keys[k]]
        same_pivot = [j for j in free_pivot if pivot_keys[j] == mine_keys[k]]
        if len(same_mine) == 1 and len(same_pivot) == 1:
            mapping[k] = same_pivot[0]
    left_mine, left_pivot = unmatched(mapping, len(mine))
    if len(left_mine) == 1 and len(left_pivot) == 1:
        mapping[left_mine[0]] = left_pivot[0]
    return mapping


def unmatched(mapping: Mapping[int, int], n: int) -> tuple[list[int], list[int]]:
    """My positions and the pivot's that a partial map leaves open, in position order."""
    return [k for k in range(n) if k not in mapping], [k for k in range(n) if k not in mapping.values()]


def best_assignment(similarity: np.ndarray) -> list[int]:
    """The one-to-one matching of rows to columns with the highest total similarity (the optimal
    assignment, not greedy: a greedy first pick can force a bad second one). Exhaustive, since at
    most three distractors are open; ties go to the first matching in lexicographic order, so the
    result is deterministic. Returns the column of each row."""
    sim = np.asarray(similarity, dtype=float)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"similarity must be a square matrix, got shape {sim.shape}")
    n = sim.shape[0]
    if n > MAX_ASSIGNMENT:
        raise ValueError(f"{n} options to assign; at most {MAX_ASSIGNMENT} are supported")
    if not np.isfinite(sim).all():
        raise ValueError("similarity has non-finite entries")
    rows = np.arange(n)
    best, best_total = list(range(n)), -np.inf
    for perm in itertools.permutations(range(n)):
        total = float(sim[rows, list(perm)].sum())
        if total > best_total:
            best, best_total = list(perm), total
    return best


def align_fact(
    options: Mapping[str, Sequence[str]],
    answers: Mapping[str, int],
    pivot: str,
    embed: Mapping[str, np.ndarray] | None = None,
) -> dict[str, list[int] | None]:
    """For each language, the pivot position of each of its options, or None for a language
    whose options cannot all be matched (the others still align, so their pairs count).

    Per language: `match_by_text` first. Without `embed` anything still open (e.g. two
    transliterated distractors) is ambiguous, and a wrong match would corrupt RankC, so that
    language stays unaligned. With `embed` (text -> embedding of every option text) the open
    options are matched to the open pivot options by `best_assignment` on cosine similarity;
    gold and text matches stay pinned.
    """
    out: dict[str, list[int] | None] = {}
    for lang, opts in options.items():
        if lang == pivot:
            out[lang] = list(range(len(opts)))
            continue
        out[lang] = align_language(opts, answers[lang], options[pivot], answers[pivot], embed)[0]
    return out


def align_language(
    mine: Sequence[str],
    my_answer: int,
    pivot: Sequence[str],
    pivot_answer: int,
    embed: Mapping[str, np.ndarray] | None = None,
) -> tuple[list[int] | None, bool]:
    """One language against the pivot: (pivot position of each option or None, whether the
    embedding assignment was needed)."""
    if len(mine) != len(pivot):
        raise ValueError(f"{len(mine)} options against {len(pivot)} in the pivot")
    mapping = match_by_text(mine, my_answer, pivot, pivot_answer)
    left_mine, left_pivot = unmatched(mapping, len(mine))
    used_embedding = False
    if left_mine and embed is not None:
        sim = cosine_matrix(
            np.stack([embed[mine[k]] for k in left_mine]), np.stack([embed[pivot[k]] for k in left_pivot])
        )
        for k, col in zip(left_mine, best_assignment(sim), strict=True):
            mapping[k] = left_pivot[col]
        used_embedding = True
    if len(mapping) < len(mine):
        return None, False
    return [mapping[k] for k in range(len(mine))], used_embedding


def _match_key(text: str) -> str:
    return nfc(clean_text(text).casefold())


def choose_pivot(present: Iterable[str], languages: Sequence[str], preferred: str = PIVOT) -> str:
    """The preferred pivot if the fact has it, else the first requested language it has (so the
    choice, and with it the synthetic ids, does not depend on file order)."""
    have = set(present)
    if preferred in have:
        return preferred
    return next(lang for lang in languages if lang in have)


@dataclass(frozen=True)
class _Pending:
    fact_id: str
    pivot: str
    per_lang: dict[str, dict[str, Any]]


def assign_option_ids(
    rows: list[dict[str, Any]],
    languages: Sequence[str],
    pivot: str = PIVOT,
    encode: Encoder | None = None,
) -> dict[str, Any]:
    """Fill `option_ids` in place per fact: keep given ids (checked for consistency), else align
    each language to the pivot and give synthetic ids `{fact_id}#{k}` (k = the pivot's
    position); a language that does not align gets None (and the pivot too when none does).

    With `encode` the options that text leaves open are matched by embedding (`align_fact`); the
    texts are encoded once, all together (deduplicated, sorted: the same batches every run), and
    only those that need it.

    Counts facts by how they aligned (given ids; every language by text alone; every language
    with the embedding assignment somewhere; some languages; none) and, per language, its rows,
    the rows that carry ids after alignment and those aligned with the embedding assignment.
    """
    by_fact: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_fact.setdefault(row["fact_id"], {})[row["language"]] = row
    counts: dict[str, Any] = {
        "method": "text" if encode is None else "embedding",
        "given_ids": 0,
        "aligned_by_text": 0,
        "aligned_by_embedding": 0,
        "partially_aligned": 0,
        "unaligned": 0,
    }
    per_language = {lang: {"rows": 0, "aligned": 0, "by_embedding": 0} for lang in languages}
    pending: list[_Pending] = []
    for fact_id, per_lang in by_fact.items():
        given = [lang for lang, row in per_lang.items() if row["option_ids"] is not None]
        if given:
            if len(given) != len(per_lang):
                missing = sorted(set(per_lang) - set(given))
                raise PolyfactError(
                    f"fact {fact_id}: option_ids given in {', '.join(sorted(given))} but missing in "
                    f"{', '.join(missing)}; a source must give them in every language or in none"
                )
            check_given_ids(fact_id, per_lang)
            counts["given_ids"] += 1
            continue
        pending.append(_Pending(fact_id, choose_pivot(per_lang, languages, pivot), per_lang))
    embed = _embed_open_options(pending, encode) if encode is not None else None
    for item in pending:
        piv = item.per_lang[item.pivot]
        pivot_opts = [piv[k] for k in OPTION_KEYS]
        positions: dict[str, list[int] | None] = {}
        by_embedding: set[str] = set()
        for lang, row in item.per_lang.items():
            if lang == item.pivot:
                positions[lang] = list(range(len(OPTION_KEYS)))
                continue
            positions[lang], used = align_language(
                [row[k] for k in OPTION_KEYS], row["answer_index"], pivot_opts, piv["answer_index"], embed
            )
            if used:
                by_embedding.add(lang)
        if all(positions[lang] is None for lang in item.per_lang if lang != item.pivot):
            positions = dict.fromkeys(item.per_lang)  # the pivot alone compares with nothing
            by_embedding = set()
        for lang, row in item.per_lang.items():
            pos = positions[lang]
            row["option_ids"] = None if pos is None else [f"{item.fact_id}#{k}" for k in pos]
        aligned = sum(p is not None for p in positions.values())
        if not aligned:
            counts["unaligned"] += 1
        elif aligned < len(item.per_lang):
            counts["partially_aligned"] += 1
        else:
            counts["aligned_by_embedding" if by_embedding else "aligned_by_text"] += 1
        for lang in by_embedding:
            per_language[lang]["by_embedding"] += 1
    for row in rows:
        stats = per_language.setdefault(row["language"], {"rows": 0, "aligned": 0, "by_embedding": 0})
        stats["rows"] += 1
        stats["aligned"] += row["option_ids"] is not None
    counts["per_language"] = per_language
    return counts


def _embed_open_options(pending: Sequence[_Pending], encode: Encoder) -> dict[str, np.ndarray]:
    """Embeddings of every option text (own language and pivot) that text matching leaves open."""
    texts: set[str] = set()
    for item in pending:
        piv = item.per_lang[item.pivot]
        pivot_opts = [piv[k] for k in OPTION_KEYS]
        for lang, row in item.per_lang.items():
            if lang == item.pivot:
                continue
            mine = [row[k] for k in OPTION_KEYS]
            mapping = match_by_text(mine, row["answer_index"], pivot_opts, piv["answer_index"])
            left_mine, left_pivot = unmatched(mapping, len(mine))
            if left_mine:
                texts.update(mine[k] for k in left_mine)
                texts.update(pivot_opts[k] for k in left_pivot)
    if not texts:
        return {}
    ordered = sorted(texts)
    vectors = np.asarray(encode(ordered), dtype=float)
    if vectors.ndim != 2 or vectors.shape[0] != len(ordered):
        raise PolyfactError(
            f"option encoder returned shape {vectors.shape} for {len(ordered)} texts; expected one row per text"
        )
    if not np.isfinite(vectors).all():
        bad = ordered[int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])]
        raise PolyfactError(f"option encoder returned a non-finite embedding for option {bad!r}")
    return dict(zip(ordered, vectors, strict=True))


def check_given_ids(fact_id: str, per_lang: Mapping[str, Mapping[str, Any]]) -> None:
    """Given ids must name the same four entities, and the same gold, in every language —
    otherwise RankC would compare different things under one name."""
    ref_lang, ref = next(iter(per_lang.items()))
    ref_ids = ref["option_ids"]
    for lang, row in per_lang.items():
        ids = row["option_ids"]
        if set(ids) != set(ref_ids):
            raise PolyfactError(f"fact {fact_id}: option_ids in {lang} {ids} differ from {ref_lang} {ref_ids}")
        if ids[row["answer_index"]] != ref_ids[ref["answer_index"]]:
            raise PolyfactError(
                f"fact {fact_id}: gold option id in {lang} ({ids[row['answer_index']]}) differs from "
                f"{ref_lang} ({ref_ids[ref['answer_index']]})"
            )
