"""The parallel text the analyses read (§9): the same sentences in every analysed language.

Toy world: the held-out PolyFact questions (the dataset's parallel view of the test split).
Paper scale: a local parallel corpus (FLORES+, TED2025) read like the CPT corpus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from polyfact.errors import PolyfactError
from polyfact.io import read_jsonl

ParallelText = dict[str, list[str]]  # language -> sentences; index k is the same sentence


def dataset_texts(parallel_jsonl: str | Path, languages: Sequence[str]) -> list[dict[str, str]]:
    """Parallel rows of the dataset's questions, one per fact, in file order."""
    return [
        {lang: row[f"question_{lang}"] for lang in languages if row.get(f"question_{lang}")}
        for row in read_jsonl(parallel_jsonl)
    ]


def parallel_text(
    rows: Sequence[Mapping[str, str]], languages: Sequence[str], max_sentences: int | None
) -> ParallelText:
    """Rows present in every language (in order), capped; an error if none is left."""
    complete = [row for row in rows if all(row.get(lang) for lang in languages)]
    if max_sentences:
        complete = complete[:max_sentences]
    if not complete:
        raise PolyfactError(f"no parallel sentence has text in every analysed language {list(languages)}")
    return {lang: [row[lang] for row in complete] for lang in languages}


def load_texts(corpus: Mapping[str, Any], languages: Sequence[str], max_sentences: int | None) -> ParallelText:
    """The analyses' text from the config's `interpret.corpus` section."""
    if corpus["source"] == "dataset":
        rows = dataset_texts(corpus["path"], languages)
    else:
        from polyfact.corpus import load_parallel_corpus

        rows = load_parallel_corpus(
            corpus["path"],
            languages,
            fmt=corpus["source"],
            split=corpus["split"],
            text_field=corpus["text_field"],
            lang_codes=corpus["lang_codes"],
        )
    return parallel_text(rows, languages, max_sentences)
