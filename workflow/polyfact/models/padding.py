"""Padding token id lists into batches: the one place scoring, generation, analysis text and
SFT batches are built from, so left and right padding mean the same thing everywhere."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The tokenizer's pad token, else EOS (attention masks keep it out of every result)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def pad_batch(
    seqs: Sequence[Sequence[int]], pad: int, *, left: bool = False, width: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) of shape (len(seqs), width), padded on the right, or on the
    left so every sequence ends at the last position (generation, next-token scoring).
    `width` defaults to the longest sequence."""
    width = max(len(s) for s in seqs) if width is None else width
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        span = slice(width - len(seq), width) if left else slice(0, len(seq))
        ids[row, span] = torch.tensor(seq, dtype=torch.long)
        mask[row, span] = 1
    return ids, mask


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Positions sorted by length (ties in order), cut into batches: generation batches that
    pad little; the caller puts each result back at its position."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def batches(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int,
    max_length: int,
    desc: str | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(input_ids, attention_mask) right-padded batches, in order, with the tokenizer's own
    special tokens (a BOS where the model has one) as in training. Tokenised one batch at a
    time, so memory does not grow with the text; `desc` shows a progress bar."""
    pad = pad_id(tokenizer)
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=None) if desc else starts:
        encoded = [
            tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in texts[start : start + batch_size]
        ]
        yield pad_batch(encoded, pad)
