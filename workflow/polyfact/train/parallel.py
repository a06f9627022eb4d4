"""The parallel corpus for continued pretraining (CPT, §7): rows of translations, rendered
as `lang: text` lines in a shuffled language order and packed into fixed-length blocks.

A row maps language code → text. CPT only teaches the model that the same content has
several surface forms; rows therefore hold translations only, never a fact's answer.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from transformers import PreTrainedTokenizerBase

from polyfact.errors import PolyfactError
from polyfact.facts import label_column

log = logging.getLogger(__name__)

ParallelRow = dict[str, str]
MIN_LANGS = 2  # a row in one language teaches no correspondence


def _clean(text: Any) -> str | None:
    """A usable text or None (missing, NaN, empty). Newlines become spaces: one line per language."""
    if not isinstance(text, str):
        return None
    text = " ".join(text.split())
    return text or None


def _row(texts: Mapping[str, Any], languages: Sequence[str]) -> ParallelRow | None:
    row = {lang: t for lang in languages if (t := _clean(texts.get(lang))) is not None}
    return row if len(row) >= MIN_LANGS else None


def toy_parallel_rows(
    facts: pd.DataFrame, parallel_rows: Sequence[Mapping[str, Any]], languages: Sequence[str]
) -> list[ParallelRow]:
    """The toy world's parallel text: entity names (subjects and objects, one row per entity id,
    sorted by id), then each question in the order given.

    Only `question_{lang}` is read from the parallel view: options and answers stay out, so CPT
    teaches translations, not the facts SFT/GRPO are measured on.
    """
    entities: dict[str, ParallelRow] = {}
    for role in ("subject", "object"):
        for record in facts.to_dict("records"):
            entity_id = record[f"{role}_id"]
            if entity_id in entities:
                continue
            row = _row({lang: record.get(label_column(role, lang)) for lang in languages}, languages)
            if row is not None:
                entities[entity_id] = row
    questions = [
        row
        for record in parallel_rows
        if (row := _row({lang: record.get(f"question_{lang}") for lang in languages}, languages)) is not None
    ]
    return [entities[k] for k in sorted(entities)] + questions


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
        row = _row(_texts_of(record, languages, codes, text_field), languages)
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


def render_parallel(row: Mapping[str, str], rng: random.Random) -> str:
    """`lang: text` lines in a shuffled order, so no language is always the one translated from."""
    langs = list(row)
    rng.shuffle(langs)
    return "\n".join(f"{lang}: {row[lang]}" for lang in langs)


def pack(texts: Iterable[str], tokenizer: PreTrainedTokenizerBase, block_size: int) -> list[list[int]]:
    """Token blocks of exactly `block_size`: each text's tokens then EOS, concatenated and cut.

    EOS after every text keeps rows from running together (the model learns where a row ends).
    The last partial block is dropped, so every block is full and needs no padding or mask;
    at most `block_size - 1` tokens are lost. A row may straddle two blocks.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise PolyfactError("tokenizer has no EOS token; packing needs one to separate rows")
    items = list(texts)
    stream: list[int] = []
    for ids in tokenizer(items, add_special_tokens=False)["input_ids"] if items else []:
        stream.extend(ids)
        stream.append(eos)
    return [stream[i : i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]
