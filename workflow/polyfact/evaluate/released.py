"""Load PolyFact-layout MCQ data — our own test split and the released PolyFact — into one
record form, with options aligned across languages (§6, §8 "Released PolyFact").

The one entry point for `polyfact evaluate mcq`: it reads any accepted layout into validated rows
(`polyfact.evaluate.layouts`), aligns option ids across languages (`polyfact.evaluate.align`) and
reports what it loaded and how well it aligned.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

from polyfact.errors import PolyfactError
from polyfact.evaluate.align import PIVOT, assign_option_ids
from polyfact.evaluate.layouts import Source, gather, normalise_rows

log = logging.getLogger(__name__)


def load_mcq(
    source: Source, languages: Sequence[str], *, split: str = "test", pivot: str = PIVOT
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of the requested languages in our record form, plus loading statistics.

    Rows come in `languages` order, each language in input order. Row fields (make_record's
    order; optional ones only when the source has them): `fact_id, language, [subject, relation,
    object], question, option_a..option_d, answer_text, answer_index (int 0-3), option_ids (4 str
    or None), [subject_id], property_id (None if absent), [object_id]`. Text is NFC.

    `split` picks the split where a source holds several (a save_to_disk DatasetDict, a Hub
    dataset, `{lang}/{split}.<ext>`). `pivot` is the preferred alignment pivot; a fact without
    it uses the first requested language it has.

    Stats: `source`, `rows` (total), `facts`, `languages` {lang: rows}, `facts_incomplete` (facts
    missing at least one requested language), `missing` {lang: facts without that language},
    `alignment` {`given_ids`: facts whose rows carried option_ids, `aligned_by_text`: facts
    aligned in every language by gold + exact text + elimination (synthetic ids
    `{fact_id}#{k}`), `partially_aligned`: facts aligned in some languages (the others have
    option_ids None), `unaligned`: facts with option_ids None everywhere}.
    """
    languages = list(dict.fromkeys(languages))
    if not languages:
        raise PolyfactError("no languages requested")
    raws = gather(source, languages, split)
    rows = normalise_rows(raws, languages)
    label = _label(source)
    empty = [lang for lang in languages if not any(r["language"] == lang for r in rows)]
    if empty:
        raise PolyfactError(f"{label}: no rows for requested language(s) {', '.join(empty)}")
    alignment = assign_option_ids(rows, languages, pivot)
    per_lang = Counter(r["language"] for r in rows)
    facts: dict[str, set[str]] = {}
    for r in rows:
        facts.setdefault(r["fact_id"], set()).add(r["language"])
    stats = {
        "source": label,
        "rows": len(rows),
        "facts": len(facts),
        "languages": {lang: per_lang[lang] for lang in languages},
        "facts_incomplete": sum(len(langs) < len(languages) for langs in facts.values()),
        "missing": {lang: sum(lang not in langs for langs in facts.values()) for lang in languages},
        "alignment": alignment,
    }
    log.info(
        "%s: %d rows, %d facts (%d incomplete); option ids given %d, aligned %d, partly %d, unaligned %d",
        label,
        stats["rows"],
        stats["facts"],
        stats["facts_incomplete"],
        alignment["given_ids"],
        alignment["aligned_by_text"],
        alignment["partially_aligned"],
        alignment["unaligned"],
    )
    return rows, stats


def _label(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return ", ".join(os.fspath(p) for p in source)
