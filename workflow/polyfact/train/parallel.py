"""The parallel text of continued pretraining (CPT, §7): the toy world's rows, rendered as
`lang: text` lines in a shuffled language order and packed into fixed-length blocks (reading a
corpus from disk is polyfact.corpus).

A row maps language code → text. CPT only teaches the model that the same content has
several surface forms; rows therefore hold translations only, never a fact's answer.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from transformers import PreTrainedTokenizerBase

from polyfact.corpus import ParallelRow, parallel_row
from polyfact.errors import PolyfactError
from polyfact.facts import label_column


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
            row = parallel_row({lang: record.get(label_column(role, lang)) for lang in languages}, languages)
            if row is not None:
                entities[entity_id] = row
    questions = [
        row
        for record in parallel_rows
        if (row := parallel_row({lang: record.get(f"question_{lang}") for lang in languages}, languages)) is not None
    ]
    return [entities[k] for k in sorted(entities)] + questions


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


def held_out_blocks(blocks: Sequence[list[int]], n: int) -> tuple[list[list[int]], list[list[int]]]:
    """(training blocks, held-out blocks): `n` blocks spread evenly over the corpus (at most a
    tenth of it), so CPT's held-out LM loss covers every part of the corpus, not its tail."""
    n = min(n, len(blocks) // 10)
    if n <= 0:
        return list(blocks), []
    picked = {round(i * len(blocks) / n) for i in range(n)}
    return [b for i, b in enumerate(blocks) if i not in picked], [blocks[i] for i in sorted(picked)]
