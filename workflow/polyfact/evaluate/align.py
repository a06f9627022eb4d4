"""Align the options of one fact across languages, so RankC and pairwise agreement compare option
*entities*, not letters (§8 "Released PolyFact").

Every row needs `option_ids` that name the same entity identically in every language. Our pipeline
writes them (they are checked here for consistency); the released dataset does not, so they are
reconstructed per fact by matching each language's options to a pivot language's (gold ↔ gold,
then exact text, then elimination). Facts that cannot be aligned keep `option_ids = None`: they
still count for accuracy and TotCons, not for RankC/agreement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from polyfact.errors import PolyfactError
from polyfact.records import OPTION_KEYS
from polyfact.text import clean_text, nfc

PIVOT = "en"


def align_fact(
    options: Mapping[str, Sequence[str]], answers: Mapping[str, int], pivot: str
) -> dict[str, list[int] | None]:
    """For each language, the pivot position of each of its options, or None for a language
    whose options cannot all be matched (the others still align, so their pairs count).

    Per language, matched in this order so that a weaker rule only sees what the stronger left:
    (1) gold ↔ gold (the answer is the same entity by construction); (2) equal text after NFC +
    casefold, only where the text is unique among the still unmatched options on both sides
    (Latin-script names, codes, numbers are often written identically); (3) elimination: one
    option left on each side must be the same entity. Anything else (e.g. two transliterated
    distractors left) is ambiguous, and a wrong match would corrupt RankC, so that language
    stays unaligned.
    """
    keys = [_match_key(o) for o in options[pivot]]
    out: dict[str, list[int] | None] = {}
    for lang, opts in options.items():
        if lang == pivot:
            out[lang] = [0, 1, 2, 3]
            continue
        mapping = {answers[lang]: answers[pivot]}
        free_mine = [k for k in range(4) if k not in mapping]
        free_pivot = [k for k in range(4) if k != answers[pivot]]
        mine_keys = {k: _match_key(opts[k]) for k in free_mine}
        for k in free_mine:
            same_mine = [j for j in free_mine if mine_keys[j] == mine_keys[k]]
            same_pivot = [j for j in free_pivot if keys[j] == mine_keys[k]]
            if len(same_mine) == 1 and len(same_pivot) == 1:
                mapping[k] = same_pivot[0]
        left_mine = [k for k in range(4) if k not in mapping]
        left_pivot = [k for k in range(4) if k not in mapping.values()]
        if len(left_mine) == 1 and len(left_pivot) == 1:
            mapping[left_mine[0]] = left_pivot[0]
        out[lang] = [mapping[k] for k in range(4)] if len(mapping) == 4 else None
    return out


def _match_key(text: str) -> str:
    return nfc(clean_text(text).casefold())


def choose_pivot(present: Iterable[str], languages: Sequence[str], preferred: str = PIVOT) -> str:
    """The preferred pivot if the fact has it, else the first requested language it has (so the
    choice, and with it the synthetic ids, does not depend on file order)."""
    have = set(present)
    if preferred in have:
        return preferred
    return next(lang for lang in languages if lang in have)


def assign_option_ids(rows: list[dict[str, Any]], languages: Sequence[str], pivot: str = PIVOT) -> dict[str, int]:
    """Fill `option_ids` in place per fact: keep given ids (checked for consistency), else align
    each language to the pivot and give synthetic ids `{fact_id}#{k}` (k = the pivot's
    position); a language that does not align gets None (and the pivot too when none does).
    Counts facts by how they aligned: given ids, every language, some languages, none."""
    by_fact: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_fact.setdefault(row["fact_id"], {})[row["language"]] = row
    counts = {"given_ids": 0, "aligned_by_text": 0, "partially_aligned": 0, "unaligned": 0}
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
        piv = choose_pivot(per_lang, languages, pivot)
        positions = align_fact(
            {lang: [row[k] for k in OPTION_KEYS] for lang, row in per_lang.items()},
            {lang: row["answer_index"] for lang, row in per_lang.items()},
            piv,
        )
        if all(positions[lang] is None for lang in per_lang if lang != piv):
            positions = dict.fromkeys(per_lang)  # the pivot alone compares with nothing
        for lang, row in per_lang.items():
            row["option_ids"] = None if positions[lang] is None else [f"{fact_id}#{k}" for k in positions[lang]]
        aligned = sum(p is not None for p in positions.values())
        counts[
            "unaligned" if not aligned else "aligned_by_text" if aligned == len(per_lang) else "partially_aligned"
        ] += 1
    return counts


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
