"""Global-MMLU and Global-MMLU-Lite (CohereLabs) as MCQ records, for `polyfact evaluate mcq
--format global-mmlu` (§8; the paper's Global-MMLU(-Lite) columns, §11).

A set is one table per language and split with the release's columns `sample_id, subject,
subject_category, question, option_a..option_d, answer` (a letter A-D), plus annotations
(`cultural_sensitivity_label` CA/CS, `required_knowledge`, ...). It is read from the layout the
acquisition writes (`{split}/{lang}.jsonl`, rows as published) or from the release itself
(`{lang}/{split}-00000-of-00001.parquet`, also `{lang}/{split}.<ext>`).

As in the authors' evaluator (jvonrad/Lost-in-Mistranslation
evaluate/evaluate_crosslingual_consistency.py@20dda20, `load_gmmlu_facts`): languages are
joined on `sample_id`; the options keep their order in every language, so an option's letter
is its identity across languages (`option_ids` A-D: RankC and agreement compare letters); text
is only stripped; a row with an empty question or option is left out (counted here). Only the
questions every evaluated language has are kept, so accuracy, TotCons and RankC are over the
same questions; `max_questions` then keeps a seeded sample of them.
"""

from __future__ import annotations

import logging
import random
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from polyfact.errors import PolyfactError
from polyfact.evaluate.layouts import FORMATS, read_records
from polyfact.records import OPTION_KEYS

log = logging.getLogger(__name__)

# Benchmark name (data/mcq/{name}, results/eval/.../{name}.json) -> the Hub set.
SETS = {"global-mmlu": "CohereLabs/Global-MMLU", "global-mmlu-lite": "CohereLabs/Global-MMLU-Lite"}
LETTERS = ("A", "B", "C", "D")  # the answer letters, and the options' identity across languages
REQUIRED_COLUMNS = ("sample_id", "question", *OPTION_KEYS, "answer")
BREAKDOWNS = ("cultural_sensitivity_label", "subject_category")  # accuracy per value, per language


def language_files(root: Path, lang: str, split: str) -> list[Path]:
    """The files of one language's split: the acquired `{split}/{lang}.<ext>` or the release's
    `{lang}/{split}[-NNNNN-of-NNNNN].<ext>` shards; none when the set lacks the language."""
    acquired = [root / split / f"{lang}{ext}" for ext in FORMATS]
    acquired = [p for p in acquired if p.is_file()]
    shard = re.compile(rf"{re.escape(split)}(?:-\d+-of-\d+)?")
    release = []
    if (root / lang).is_dir():
        release = sorted(
            p for p in (root / lang).iterdir() if p.is_file() and p.suffix in FORMATS and shard.fullmatch(p.stem)
        )
    if acquired and release:
        found = ", ".join(str(p) for p in acquired + release)
        raise PolyfactError(f"{root}: language {lang!r} is there twice ({found}); keep one layout")
    if len(acquired) > 1:
        raise PolyfactError(f"{root}: several files for language {lang!r}: {', '.join(map(str, acquired))}")
    return acquired or release


def _text(value: Any, column: str, where: str) -> str:
    """A cell as stripped text ('' for a missing cell); numbers are text written by a JSON writer."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PolyfactError(f"{where}: {column} must be text, got {type(value).__name__}")
    return str(value).strip()


def adapt_row(raw: Mapping[str, Any], where: str, lang: str) -> dict[str, Any] | None:
    """One release row as our MCQ record (`polyfact.evaluate.released.load_mcq`'s fields), or
    None for a row the authors' evaluator skips (an empty question or option). A missing
    column, a missing id or an answer that is not a letter A-D is an error naming the row."""
    missing = [c for c in REQUIRED_COLUMNS if c not in raw]
    if missing:
        raise PolyfactError(
            f"{where}: missing column(s) {', '.join(missing)} (a Global-MMLU row has {', '.join(REQUIRED_COLUMNS)})"
        )
    sample_id = _text(raw["sample_id"], "sample_id", where)
    if not sample_id:
        raise PolyfactError(f"{where}: empty sample_id")
    answer = raw["answer"]
    letter = answer.strip().upper() if isinstance(answer, str) else None
    if letter not in LETTERS:
        raise PolyfactError(f"{where} (sample {sample_id}): answer must be a letter A-D, got {answer!r}")
    question = _text(raw["question"], "question", where)
    options = [_text(raw[k], k, where) for k in OPTION_KEYS]
    if not question or not all(options):
        return None
    index = LETTERS.index(letter)
    row: dict[str, Any] = {"fact_id": sample_id, "language": lang, "question": question}
    row.update(zip(OPTION_KEYS, options, strict=True))
    row |= {"answer_text": options[index], "answer_index": index, "option_ids": list(LETTERS), "property_id": None}
    row |= {key: raw.get(key) for key in ("subject", *BREAKDOWNS)}
    return row


def _read_language(files: Sequence[Path], lang: str) -> tuple[dict[str, dict[str, Any]], int, int]:
    """sample_id -> record of one language, with the rows read and the rows skipped."""
    rows: dict[str, dict[str, Any]] = {}
    first: dict[str, str] = {}
    read = skipped = 0
    for path in files:
        for where, raw in read_records(path):
            read += 1
            row = adapt_row(raw, where, lang)
            if row is None:
                skipped += 1
                continue
            key = row["fact_id"]
            if key in rows:
                raise PolyfactError(f"{where}: duplicate sample_id {key!r} in {lang} (first at {first[key]})")
            rows[key], first[key] = row, where
    return rows, read, skipped


def load_global_mmlu(
    root: str | Path,
    languages: Sequence[str],
    *,
    split: str = "test",
    max_questions: int | None = None,
    seed: int = 0,
    skip_missing: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Records of the questions every evaluated language has, in `languages` order, and loading
    statistics (`languages` {lang: questions}, `missing_languages`, per language `rows`,
    `skipped` and `not_shared`, `shared_questions`, `questions`).

    A requested language without data is an error, unless `skip_missing` (languages that came
    from the config's defaults: Global-MMLU-Lite has no Russian), which leaves it out with a
    warning. `max_questions` keeps a sample of the shared question ids drawn with `seed`.
    """
    root = Path(root)
    languages = list(dict.fromkeys(languages))
    if not languages:
        raise PolyfactError("no languages requested")
    if not root.is_dir():
        raise PolyfactError(
            f"{root}: not a directory (Global-MMLU as acquired, {split}/{{lang}}.jsonl, or as released, "
            f"{{lang}}/{split}-*.parquet)"
        )
    per_language: dict[str, dict[str, dict[str, Any]]] = {}
    counts: dict[str, dict[str, int]] = {}
    missing = []
    for lang in languages:
        files = language_files(root, lang, split)
        if not files:
            missing.append(lang)
            continue
        rows, read, skipped = _read_language(files, lang)
        if not rows:
            raise PolyfactError(
                f"{root}: no usable {split} rows for {lang} ({read} read, {skipped} with an empty cell)"
            )
        per_language[lang] = rows
        counts[lang] = {"rows": read, "skipped": skipped}
        if skipped:
            log.warning("%s %s: %d of %d rows have an empty question or option; left out", root, lang, skipped, read)
    if missing:
        where = f"{split}/{{lang}}.jsonl or {{lang}}/{split}-*.parquet"
        if not skip_missing or not per_language:
            raise PolyfactError(
                f"{root}: no {split} data for language(s) {', '.join(missing)} (looked for {where}); "
                "acquire them or leave them out of the evaluated languages"
            )
        log.warning("%s: the set has no %s; evaluating %s", root, ", ".join(missing), ", ".join(per_language))
    present = [lang for lang in languages if lang in per_language]
    shared = sorted(set.intersection(*(set(rows) for rows in per_language.values())))
    if not shared:
        raise PolyfactError(f"{root}: no question (sample_id) is in every language of {', '.join(present)}")
    ids = shared
    if max_questions is not None and len(shared) > max_questions:
        ids = sorted(random.Random(seed).sample(shared, max_questions))
    records = [per_language[lang][key] for lang in present for key in ids]
    stats = {
        "source": str(root),
        "format": "global-mmlu",
        "split": split,
        "languages": {lang: len(ids) for lang in present},
        "missing_languages": missing,
        "per_language": {
            lang: counts[lang] | {"not_shared": len(per_language[lang]) - len(shared)} for lang in present
        },
        "shared_questions": len(shared),
        "questions": len(ids),
        "max_questions": max_questions,
        "sample_seed": seed if len(ids) < len(shared) else None,
    }
    log.info(
        "%s [%s]: %d questions in every one of %d languages (%d shared%s)",
        root,
        split,
        len(ids),
        len(present),
        len(shared),
        f", a sample of {len(ids)} with seed {seed}" if len(ids) < len(shared) else "",
    )
    return records, stats


def accuracy_breakdowns(
    rows: Sequence[Mapping[str, Any]], predictions: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, dict[str, float]]]:
    """Accuracy per value of each release annotation (CA/CS, subject category) and language,
    with the mean over languages: {annotation: {value: {lang: accuracy, "mean": ...}}}."""
    hits: dict[str, dict[str, dict[str, list[bool]]]] = {k: defaultdict(lambda: defaultdict(list)) for k in BREAKDOWNS}
    for row, p in zip(rows, predictions, strict=True):
        for key in BREAKDOWNS:
            if row.get(key) not in (None, ""):
                hits[key][str(row[key])][p["language"]].append(bool(p["correct"]))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key, values in hits.items():
        out[key] = {}
        for value, langs in sorted(values.items()):
            accuracy = {lang: sum(v) / len(v) for lang, v in langs.items()}
            out[key][value] = accuracy | {"mean": sum(accuracy.values()) / len(accuracy)}
    return out
