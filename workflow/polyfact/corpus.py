"""Reading parallel corpora (rows of translations: language code → text), for continued
pretraining (train/parallel.py) and the mechanistic analyses (interpret/text.py) alike.

Kept apart from the CPT trainer so the analyses do not depend on its code.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from polyfact.errors import PolyfactError

log = logging.getLogger(__name__)

ParallelRow = dict[str, str]
MIN_LANGS = 2  # a row in one language teaches no correspondence


def _clean(text: Any) -> str | None:
    """A usable text or None (missing, NaN, empty). Newlines become spaces: one line per language."""
    if not isinstance(text, str):
        return None
    text = " ".join(text.split())
    return text or None


def parallel_row(texts: Mapping[str, Any], languages: Sequence[str]) -> ParallelRow | None:
    """The cleaned texts of `languages` (in that order), or None when fewer than MIN_LANGS remain."""
    row = {lang: t for lang in languages if (t := _clean(texts.get(lang))) is not None}
    return row if len(row) >= MIN_LANGS else None


def _texts_of(record: Any, languages: Sequence[str], codes: Mapping[str, str], text_field: str) -> dict[str, Any]:
    """Map our language codes to texts, from a `translation` dict or from flat columns."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    source = record["translation"] if isinstance(record.get("translation"), dict) else record
    flat = source is record
    out = {}
    for lang in languages:
        code = codes.get(lang, lang)
        out[lang] = source.get(text_field.format(lang=code) if flat else code)
    return out


def load_parallel_corpus(
    path_or_name: str | os.PathLike[str],
    languages: Sequence[str],
    *,
    fmt: Literal["jsonl", "hf"] = "jsonl",
    split: str = "train",
    text_field: str = "{lang}",
    lang_codes: Mapping[str, str] | None = None,
) -> list[ParallelRow]:
    """Read a parallel corpus into rows restricted to `languages`.

    Layouts: a `translation` dict per record (HF translation datasets), or flat columns named
    by `text_field` (e.g. "{lang}" or FLORES' "sentence_{lang}"). `lang_codes` maps our codes
    to the source's (FLORES: bn → ben_Beng). `fmt="hf"`: a directory written by
    `save_to_disk`, else anything `datasets.load_dataset(path)` reads. A row missing some
    languages keeps the others; rows with fewer than two are dropped (counted in the log).
    """
    codes = lang_codes or {}
    rows: list[ParallelRow] = []
    dropped = 0

    def add(record: Any) -> None:
        nonlocal dropped
        row = parallel_row(_texts_of(record, languages, codes, text_field), languages)
        if row is None:
            dropped += 1
        else:
            rows.append(row)

    if fmt == "jsonl":
        with open(path_or_name, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    add(json.loads(line))
                except (json.JSONDecodeError, ValueError) as err:
                    raise PolyfactError(f"{path_or_name}:{lineno}: malformed parallel row: {err}") from None
    elif fmt == "hf":
        for record in _hf_split(path_or_name, split):
            add(record)
    else:
        raise PolyfactError(f"unknown parallel corpus format {fmt!r} (jsonl or hf)")
    log.info("%s: %d parallel rows, %d dropped with < %d languages", path_or_name, len(rows), dropped, MIN_LANGS)
    return rows


def _hf_split(path_or_name: str | os.PathLike[str], split: str) -> Iterable[dict[str, Any]]:
    import datasets

    path = Path(path_or_name)
    if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
        loaded = datasets.load_from_disk(str(path))
        return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    return datasets.load_dataset(str(path_or_name), split=split)
