"""Multiple-choice scoring by log-probability (§8): each option is a continuation of
`Question: {q}\\nAnswer:` and is scored by its summed token log-probability, normalised."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

NORMALISATIONS = ("byte", "sum", "token", "char")


def mcq_prompt(question: str) -> str:
    return f"Question: {question}\nAnswer:"


@dataclass
class Scored:
    logprob: float  # summed log-probability of the continuation tokens
    tokens: int  # continuation tokens scored


def continuation_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, option: str) -> tuple[list[int], int]:
    """Token ids of prompt+" "+option and where the continuation starts.

    If the tokenizer merges across the boundary, the continuation starts after the longest
    common token prefix of the prompt and the full text. The tokenizer's own special tokens
    (a BOS where the model has one) are added, as the model saw text in training.
    """
    full = tokenizer(prompt + " " + option)["input_ids"]
    head = tokenizer(prompt)["input_ids"]
    common = 0
    while common < min(len(full), len(head)) and full[common] == head[common]:
        common += 1
    return full, max(common, 1)  # the first token has no prediction to score


@torch.no_grad()
def score_sequences(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, pairs: Sequence[tuple[str, str]], batch_size: int = 64
) -> list[Scored]:
    """Score (prompt, option) pairs in length-bucketed batches (sorted by length: little padding)."""
    encoded = [continuation_ids(tokenizer, p, o) for p, o in pairs]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    out: list[Scored | None] = [None] * len(encoded)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc="scoring", unit="batch", disable=None):
        width = max(len(encoded[i][0]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            seq = encoded[i][0]
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
        for row, i in enumerate(batch):
            seq, start = encoded[i]
            out[i] = Scored(float(logprobs[row, start - 1 : len(seq) - 1].sum()), len(seq) - start)
    return out  # type: ignore[return-value]


def normalise(scored: Scored, option: str, how: str) -> float:
    """Normalised score: per UTF-8 byte (default), raw sum, per token, or per character."""
    if how == "sum":
        return scored.logprob
    if how == "token":
        return scored.logprob / max(scored.tokens, 1)
    if how == "char":
        return scored.logprob / max(len(option), 1)
    if how == "byte":
        return scored.logprob / max(len(option.encode("utf-8")), 1)
    raise ValueError(f"unknown normalisation {how!r}; choose from {NORMALISATIONS}")
