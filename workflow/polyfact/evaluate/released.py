"""Load PolyFact-layout MCQ data — our own test split and the released PolyFact — into one
record form, with options aligned across languages (§6, §8 "Released PolyFact").

RankC and pairwise agreement compare option *entities* across languages, not letters, so every
row needs `option_ids` that name the same entity identically in every language. Our pipeline
writes them; the released dataset does not, so they are reconstructed per fact by aligning each
language's options to a pivot language's (gold ↔ gold, then exact text, then elimination).
Facts that cannot be aligned keep `option_ids = None`: they still count for accuracy and
TotCons, not for RankC/agreement.

Inputs (`load_mcq(source, languages)`):
- a directory with `{lang}.jsonl`, `{lang}.json` (a JSON list) or `{lang}.parquet`; also
  `{split}/{lang}.<ext>`, `{lang}/{split}.<ext>` (a Hub snapshot's `data/` folder) and
  `{lang}/` written by `save_to_disk` (our `results/data/hf/{lang}`: the `split` is taken);
- a list of files `{lang}.<ext>` (or `save_to_disk` directories); a row's `language` field
  wins over the file stem;
- a directory written by `datasets` `save_to_disk`: a DatasetDict with one split per language,
  or a Dataset / DatasetDict split with a `language` column;
- a string that is not an existing path: a Hugging Face Hub dataset id with one config per
  language (needs the network).
"""

from __future__ import annotations

import json
import logging
import math
import os
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyfact.dataset.build import LETTERS, OPTION_KEYS
from polyfact.errors import PolyfactError
from polyfact.io import iter_jsonl

log = logging.getLogger(__name__)

FORMATS = (".jsonl", ".json", ".parquet")
PIVOT = "en"
ANSWER_LETTERS = LETTERS.upper()  # "ABCD": the released layout's option keys and answer letters
TEXT_FIELDS = ("subject", "relation", "object")  # English labels, kept when a source has them
ID_FIELDS = ("subject_id", "object_id")

Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class RawRow:
    """One input row before normalisation, with where it came from (for error messages).

    `language` is what the container says (file stem, split name), None when only the row can
    say; `fixed` means the container decides (a directory's `{lang}.jsonl`), so a row that
    claims another language is an error rather than silently moved.
    """

    where: str
    data: Mapping[str, Any]
    language: str | None
    fixed: bool


class _RowError(ValueError):
    """A defect in one row; `normalise_row` adds the file, line and fact to the message."""


# ---------------------------------------------------------------------------------------------
# Public entry point


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


# ---------------------------------------------------------------------------------------------
# Reading: every layout becomes a list of RawRow


def gather(source: Source, languages: Sequence[str], split: str) -> list[RawRow]:
    """Raw rows of the requested languages from any supported layout (see the module doc)."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            if _is_saved_dataset(path):
                return _read_saved(path, languages, split)
            return _read_directory(path, languages, split)
        if path.is_file():
            return _read_listed([path], languages, split)
        return _read_hub(os.fspath(source), languages, split)
    return _read_listed([Path(p) for p in source], languages, split)


def _read_directory(root: Path, languages: Sequence[str], split: str) -> list[RawRow]:
    """One source per requested language; a language with none, or two, is an error."""
    out: list[RawRow] = []
    for lang in languages:
        sub = root / lang
        candidates = [root / f"{lang}{ext}" for ext in FORMATS] + [root / split / f"{lang}{ext}" for ext in FORMATS]
        if sub.is_dir():
            candidates += [sub / f"{split}{ext}" for ext in FORMATS]
            if _is_saved_dataset(sub):
                candidates.append(sub)
        found = [c for c in candidates if c.exists()]
        if not found:
            raise PolyfactError(
                f"{root}: no data for language {lang!r} (looked for {lang}.jsonl/.json/.parquet, "
                f"{split}/{lang}.<ext>, {lang}/{split}.<ext> and a save_to_disk directory {lang}/)"
            )
        if len(found) > 1:
            raise PolyfactError(f"{root}: several sources for language {lang!r}: {', '.join(map(str, found))}")
        if found[0].is_dir():
            out += _read_saved(found[0], [lang], split, language=lang)
        else:
            out += [RawRow(where, data, lang, True) for where, data in read_records(found[0])]
    return out


def _read_listed(paths: Sequence[Path], languages: Sequence[str], split: str) -> list[RawRow]:
    """Files named `{lang}.<ext>` (or save_to_disk directories); rows of other languages skipped."""
    out: list[RawRow] = []
    for path in paths:
        if not path.exists():
            raise PolyfactError(f"{path}: no such file or directory")
        if path.is_dir():
            if not _is_saved_dataset(path):
                raise PolyfactError(f"{path}: a directory in a file list must be written by save_to_disk")
            out += _read_saved(path, languages, split)
            continue
        rows = [RawRow(where, data, path.stem, False) for where, data in read_records(path)]
        out += [r for r in rows if _row_language(r) in languages]
    return out


def read_records(path: Path) -> list[tuple[str, Mapping[str, Any]]]:
    """(location, record) pairs from one JSONL / JSON-list / Parquet file; location names the line
    or item so that a later validation error can point at it."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix == ".json":
        return _read_json_list(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as err:  # pyarrow raises several types for a broken file
            raise PolyfactError(f"{path}: unreadable Parquet file: {err}") from None
        return [(f"{path}: row {n}", row) for n, row in enumerate(table.to_pylist(), 1)]
    raise PolyfactError(f"{path}: unsupported file type {path.suffix!r} (use {', '.join(FORMATS)})")


def _read_jsonl(path: Path) -> list[tuple[str, Mapping[str, Any]]]:
    out = []
    for lineno, record in iter_jsonl(path):
        if not isinstance(record, dict):
            raise PolyfactError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        out.append((f"{path}:{lineno}", record))
    return out


def _read_json_list(path: Path) -> list[tuple[str, Mapping[str, Any]]]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise PolyfactError(f"{path}: malformed JSON: {err}") from None
    if not isinstance(records, list):
        raise PolyfactError(f"{path}: expected a JSON list of rows, got {type(records).__name__}")
    out = []
    for n, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise PolyfactError(f"{path}: item {n}: expected a JSON object, got {type(record).__name__}")
        out.append((f"{path}: item {n}", record))
    return out


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _read_saved(path: Path, languages: Sequence[str], split: str, language: str | None = None) -> list[RawRow]:
    """Rows from a save_to_disk directory.

    With `language` (a per-language directory such as our `hf/{lang}`) the DatasetDict's splits
    are train/val/test and `split` is taken. Otherwise a DatasetDict keyed by language gives one
    split per language, and a Dataset (or the DatasetDict's `split`) needs a `language` column.
    """
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if language is None and any(lang in loaded for lang in languages):
            return [
                RawRow(f"{path} [{lang}] row {n}", data, lang, True)
                for lang in languages
                if lang in loaded
                for n, data in enumerate(loaded[lang], 1)
            ]
        if split not in loaded:
            wanted = f"split {split!r}" if language else f"a split per language ({', '.join(languages)}) or {split!r}"
            raise PolyfactError(f"{path}: saved DatasetDict has splits {sorted(loaded)}, no {wanted}")
        loaded, where = loaded[split], f"{path} [{split}]"
    else:
        where = str(path)
    if language is None and "language" not in loaded.column_names:
        raise PolyfactError(f"{path}: saved dataset has no 'language' column and no split per language")
    rows = [RawRow(f"{where} row {n}", data, language, language is not None) for n, data in enumerate(loaded, 1)]
    return [r for r in rows if _row_language(r) in languages]


def _read_hub(name: str, languages: Sequence[str], split: str) -> list[RawRow]:
    """A Hub dataset id with one config per language; any failure reads as 'not found anywhere'."""
    if _is_path_like(name):
        raise PolyfactError(f"{name}: no such file or directory")
    out: list[RawRow] = []
    try:
        import datasets

        for lang in languages:
            loaded = datasets.load_dataset(name, lang, split=split)
            out += [RawRow(f"{name} [{lang}/{split}] row {n}", data, lang, True) for n, data in enumerate(loaded, 1)]
    except Exception as err:  # offline, unknown id, no such config: all mean "cannot use this source"
        raise PolyfactError(
            f"{name}: no such file or directory, and the Hugging Face Hub could not be reached or has no "
            f"such dataset with a config per language ({type(err).__name__}: {err})"
        ) from None
    return out


def _is_path_like(name: str) -> bool:
    """A Hub id is `name` or `owner/name`; anything else that does not exist is a missing path."""
    return (
        os.path.isabs(name)
        or name.startswith(".")
        or "\\" in name
        or name.count("/") > 1
        or Path(name).suffix.lower() in FORMATS
    )


def _row_language(raw: RawRow) -> str | None:
    given = raw.data.get("language")
    return str(given).strip() if given is not None else raw.language


def _label(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return ", ".join(os.fspath(p) for p in source)


# ---------------------------------------------------------------------------------------------
# Row normalisation (pure; each failure names the row)


def normalise_rows(raws: Iterable[RawRow], languages: Sequence[str]) -> list[dict[str, Any]]:
    """Normalised rows in `languages` order; a repeated (fact_id, language) is an error."""
    seen: dict[tuple[str, str], str] = {}
    by_lang: dict[str, list[dict[str, Any]]] = {lang: [] for lang in languages}
    for raw in raws:
        row = normalise_row(raw.data, where=raw.where, language=raw.language, fixed=raw.fixed)
        key = (row["fact_id"], row["language"])
        if key in seen:
            raise PolyfactError(
                f"{raw.where}: duplicate fact {row['fact_id']} in language {row['language']} (first at {seen[key]})"
            )
        seen[key] = raw.where
        if row["language"] in by_lang:
            by_lang[row["language"]].append(row)
    return [row for lang in languages for row in by_lang[lang]]


def normalise_row(
    raw: Mapping[str, Any], *, where: str, language: str | None = None, fixed: bool = False
) -> dict[str, Any]:
    """One input row in our record form (see `load_mcq`), or a PolyfactError naming the row.

    `language` is the container's language, used when the row has no `language` field; with
    `fixed` a row naming a different language is an error (it sits in the wrong file).
    """
    fact_id = raw.get("fact_id")
    fact_id = None if fact_id is None else str(fact_id).strip() or None
    try:
        if fact_id is None:
            raise _RowError("missing fact_id")
        lang = _language(raw.get("language"), language, fixed)
        options = parse_options(raw)
        answer_index = resolve_answer(raw, options)
        option_ids = parse_option_ids(raw.get("option_ids"))
        row: dict[str, Any] = {"fact_id": fact_id, "language": lang}
        row.update({k: _text(raw[k], k) for k in TEXT_FIELDS if raw.get(k) is not None})
        row["question"] = _text(raw.get("question"), "question")
        row.update(zip(OPTION_KEYS, options, strict=True))
        row["answer_text"] = options[answer_index]
        row["answer_index"] = answer_index
        row["option_ids"] = option_ids
        if raw.get("subject_id") is not None:
            row["subject_id"] = str(raw["subject_id"])
        row["property_id"] = None if raw.get("property_id") is None else str(raw["property_id"])
        if raw.get("object_id") is not None:
            row["object_id"] = str(raw["object_id"])
    except _RowError as err:
        fact = f" (fact {fact_id})" if fact_id else ""
        raise PolyfactError(f"{where}{fact}: {err}") from None
    return row


def _language(given: Any, container: str | None, fixed: bool) -> str:
    if given is None:
        if container is None:
            raise _RowError("missing language (no 'language' field and none implied by the file or split)")
        return container
    lang = str(given).strip()
    if fixed and container is not None and lang != container:
        raise _RowError(f"row says language {lang!r} but sits in the data for {container!r}")
    return lang


def nfc(text: str) -> str:
    """NFC + strip: the one text normal form for comparing and storing labels."""
    return unicodedata.normalize("NFC", text).strip()


def _text(value: Any, name: str) -> str:
    # Numbers are accepted because JSON writers turn option labels such as years into ints.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        if value is None:
            raise _RowError(f"missing {name}")
        raise _RowError(f"{name} must be text, got {type(value).__name__}")
    text = nfc(str(value))
    if not text:
        raise _RowError(f"empty {name}")
    return text


def parse_options(raw: Mapping[str, Any]) -> list[str]:
    """The four option texts in display order, from `option_a..option_d` (ours) or `options` as a
    dict {A..D} or a list of 4 (released layouts); anything else is an error, not a guess."""
    flat = [k for k in OPTION_KEYS if raw.get(k) is not None]
    if flat:
        if len(flat) != 4:
            raise _RowError(f"{len(flat)} options ({', '.join(flat)}), expected 4 (option_a..option_d)")
        return [_text(raw[k], k) for k in OPTION_KEYS]
    options = raw.get("options")
    if options is None:
        raise _RowError("missing options (option_a..option_d or options)")
    if isinstance(options, str):  # some exports stringify nested columns
        try:
            options = json.loads(options)
        except json.JSONDecodeError:
            raise _RowError("options is a string that is not a JSON dict or list") from None
    if isinstance(options, Mapping):
        given = {str(k).strip().upper(): v for k, v in options.items() if v is not None}
        if len(given) != 4:
            raise _RowError(f"{len(given)} options ({', '.join(sorted(given))}), expected 4 (A-D)")
        if set(given) != set(ANSWER_LETTERS):
            raise _RowError(f"options keys are {', '.join(sorted(given))}, expected A, B, C, D")
        return [_text(given[c], f"option {c}") for c in ANSWER_LETTERS]
    if isinstance(options, list | tuple):
        if len(options) != 4:
            raise _RowError(f"{len(options)} options, expected 4")
        return [_text(v, f"option {c}") for c, v in zip(ANSWER_LETTERS, options, strict=True)]
    raise _RowError(f"options must be a dict {{A..D}} or a list of 4, got {type(options).__name__}")


def resolve_answer(raw: Mapping[str, Any], options: Sequence[str]) -> int:
    """The gold position 0-3, from `answer_index` (int or numeric string), else an `answer` letter,
    else the one option equal to `answer_text`; every given form must agree with it."""
    index = _as_index(raw.get("answer_index"))
    letter = _as_letter(raw.get("answer"))
    text = raw.get("answer_text")
    text = None if text is None else _text(text, "answer_text")
    if index is not None:
        if not 0 <= index < 4:
            raise _RowError(f"answer_index {index} out of range 0-3")
        if letter is not None and letter != index:
            raise _RowError(f"answer {ANSWER_LETTERS[letter]!r} disagrees with answer_index {index}")
    elif letter is not None:
        index = letter
    elif text is not None:
        hits = [k for k, option in enumerate(options) if option == text]
        if len(hits) != 1:
            raise _RowError(f"answer_text {text!r} matches {len(hits)} options, expected exactly 1")
        index = hits[0]
    else:
        raise _RowError("missing answer (answer_index, answer letter A-D or answer_text)")
    if text is not None and text != options[index]:
        raise _RowError(
            f"answer_text {text!r} is not option {ANSWER_LETTERS[index]} {options[index]!r} (answer_index {index})"
        )
    return index


def _as_index(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):  # NaN: a missing cell
        return None
    if isinstance(value, bool):
        raise _RowError(f"answer_index must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        stripped = value.strip()
        try:
            return int(stripped)
        except ValueError:
            pass
    raise _RowError(f"answer_index must be an integer, got {value!r}")


def _as_letter(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper() in ANSWER_LETTERS:
        return ANSWER_LETTERS.index(value.strip().upper())
    raise _RowError(f"answer must be a letter A-D, got {value!r}")


def parse_option_ids(value: Any) -> list[str] | None:
    """Four distinct entity ids, or None when the source has none (they are aligned later)."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise _RowError(f"option_ids must be a list of 4, got {type(value).__name__}")
    if len(value) != 4:
        raise _RowError(f"option_ids has {len(value)} entries, expected 4")
    if any(v is None or str(v).strip() == "" for v in value):
        raise _RowError("option_ids has an empty entry")
    ids = [str(v) for v in value]
    if len(set(ids)) != 4:
        raise _RowError(f"option_ids are not distinct: {ids}")
    return ids


# ---------------------------------------------------------------------------------------------
# Alignment across languages


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
    return unicodedata.normalize("NFC", nfc(text).casefold())


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
