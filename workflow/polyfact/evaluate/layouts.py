"""Read PolyFact-layout MCQ data — our own test split and the released PolyFact — into validated
rows in our record form (§6, §8 "Released PolyFact"). Reading is kept apart from the cross-language
option alignment (`polyfact.evaluate.align`) because the released dataset comes in many layouts
while the alignment works on rows alone.

Accepted layouts (`gather(source, languages, split)`):
- a directory with `{lang}.jsonl`, `{lang}.json` (a JSON list) or `{lang}.parquet`; also
  `{split}/{lang}.<ext>`, `{lang}/{split}.<ext>` (a Hub snapshot's `data/` folder) and
  `{lang}/` written by `save_to_disk` (our `results/data/hf/{lang}`: the `split` is taken);
- a list of files `{lang}.<ext>` (or `save_to_disk` directories); a row's `language` field
  wins over the file stem;
- a directory written by `datasets` `save_to_disk`: a DatasetDict with one split per language,
  or a Dataset / DatasetDict split with a `language` column;
- a string that is not an existing path: a Hugging Face Hub dataset id with one config per
  language (needs the network).

Each row is then normalised by `normalise_row` (pure; every failure names the file, line and fact).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyfact.errors import PolyfactError
from polyfact.io import iter_jsonl
from polyfact.records import OPTION_KEYS, OPTION_LETTERS
from polyfact.text import clean_text

FORMATS = (".jsonl", ".json", ".parquet")
ANSWER_LETTERS = OPTION_LETTERS.upper()  # "ABCD": the released layout's option keys and answer letters
TEXT_FIELDS = ("subject", "relation", "object")  # English labels, kept when a source has them

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
    """One input row in our record form (see `polyfact.evaluate.released.load_mcq`), or a PolyfactError naming the row.

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


def _text(value: Any, name: str) -> str:
    # Numbers are accepted because JSON writers turn option labels such as years into ints.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        if value is None:
            raise _RowError(f"missing {name}")
        raise _RowError(f"{name} must be text, got {type(value).__name__}")
    text = clean_text(str(value))
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
