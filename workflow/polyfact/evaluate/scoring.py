"""Continuation scoring by log-probability (§8), with the shared context computed once.

An MCQ option is a continuation of `Question: {q}\\nAnswer:`; a KLAR candidate is a
continuation of a cloze prompt. Each is scored by the summed log-probability of its tokens,
then normalised. The context is run once per item and its KV cache is repeated for the
item's continuations, so four options cost one context pass plus four short tail passes
instead of four full passes (`benchmarks/eval_throughput.py` measures the difference).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from polyfact.errors import PolyfactError
from polyfact.models.padding import pad_batch, pad_id

NORMALISATIONS = ("byte", "sum", "token", "char")


@dataclass
class Scored:
    logprob: float  # summed log-probability of the continuation tokens
    tokens: int  # continuation tokens scored


@dataclass(frozen=True)
class Encoded:
    """One item tokenised: the shared context ids and, per continuation, the ids after it
    (`tails`) and how many leading tail ids still belong to the prompt (`skips`)."""

    context: list[int]
    tails: list[list[int]]
    skips: list[int]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def continuation_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, continuation: str) -> tuple[list[int], int]:
    """Token ids of prompt+continuation and where the scored continuation starts.

    If the tokenizer merges across the boundary, the continuation starts after the longest
    common token prefix of the prompt and the full text. The tokenizer's own special tokens
    (a BOS where the model has one) are added, as the model saw text in training.
    """
    return _continuations(tokenizer, prompt, [continuation])[0]


def _continuations(
    tokenizer: PreTrainedTokenizerBase, prompt: str, continuations: Sequence[str]
) -> list[tuple[list[int], int]]:
    """`continuation_ids` for several continuations of one prompt (tokenised once)."""
    head = tokenizer(prompt)["input_ids"]
    out = []
    for continuation in continuations:
        full = tokenizer(prompt + continuation)["input_ids"]
        out.append((full, max(_common_prefix(full, head), 1)))  # the first token has no prediction to score
    return out


def encode_item(tokenizer: PreTrainedTokenizerBase, context: str, continuations: Sequence[str]) -> Encoded:
    """Split every context+continuation into the ids all of them share (run once) and tails.

    The shared part is the longest prefix common to the context and every full text, so a
    boundary merge in one option only moves that option's split; tokens between the shared
    part and an option's own split point are prompt tokens, fed but not scored.
    """
    encoded = _continuations(tokenizer, context, continuations)
    shared = min(min(_common_prefix(full, encoded[0][0]), start) for full, start in encoded)
    if shared < 1:
        raise PolyfactError(f"cannot score continuations of {context!r}: their first tokens differ")
    return Encoded(encoded[0][0][:shared], [full[shared:] for full, _ in encoded], [s - shared for _, s in encoded])


def _batches(encoded: Sequence[Encoded], batch_size: int) -> list[list[int]]:
    """Items grouped by continuation count and sorted by context length (little padding);
    `batch_size` counts sequences, i.e. continuations."""
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i].tails), len(encoded[i].context)))
    batches: list[list[int]] = []
    for i in order:
        n = len(encoded[i].tails)
        if batches and len(encoded[batches[-1][0]].tails) == n and (len(batches[-1]) + 1) * n <= batch_size:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _cache_kwarg(model: PreTrainedModel) -> str:
    """The forward's cache keyword: `cache` in transformers 5.24, `past_key_values` in the GPU
    set's 5.17 (which ignores an unknown `cache=` silently)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _score_batch(model: PreTrainedModel, items: Sequence[Encoded], pad: int) -> list[list[Scored]]:
    """Context pass (left-padded, with cache) then one pass over every item's tails."""
    device = next(model.parameters()).device
    n = len(items[0].tails)
    ids, mask = pad_batch([e.context for e in items], pad, left=True)
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    key = _cache_kwarg(model)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, **{key: cache}, use_cache=True)
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1).repeat_interleave(n, dim=0)  # predicts tail[0]

    tails = [t for e in items for t in e.tails]
    tail_width = max(max(len(t) for t in tails), 1)
    tail_ids, tail_mask = pad_batch(tails, pad, width=tail_width)
    tail_ids, tail_mask = tail_ids.to(device), tail_mask.to(device)
    logprobs = first.gather(-1, tail_ids[:, :1]).squeeze(-1).unsqueeze(-1)
    if tail_width > 1:
        cache.batch_repeat_interleave(n)
        lengths = mask.sum(-1).repeat_interleave(n).unsqueeze(-1)
        tail_positions = lengths + torch.arange(tail_width, device=device).unsqueeze(0)
        logits = model(
            input_ids=tail_ids,
            attention_mask=torch.cat([mask.repeat_interleave(n, dim=0), tail_mask], dim=-1),
            position_ids=tail_positions,
            **{key: cache},
            use_cache=True,
        ).logits
        rest = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, tail_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        logprobs = torch.cat([logprobs, rest], dim=-1)
    logprobs = logprobs.cpu()
    scored: list[list[Scored]] = []
    for k, e in enumerate(items):
        row = []
        for j, (t, skip) in enumerate(zip(e.tails, e.skips, strict=True)):
            row.append(Scored(float(logprobs[k * n + j, skip : len(t)].sum()), len(t) - skip))
        scored.append(row)
    return scored


@torch.no_grad()
def score_continuations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[tuple[str, Sequence[str]]],
    batch_size: int = 64,
) -> list[list[Scored]]:
    """Score (context, [continuations appended verbatim, e.g. " Paris"]) items, in order."""
    encoded = [encode_item(tokenizer, context, conts) for context, conts in items]
    pad = pad_id(tokenizer)
    out: list[list[Scored] | None] = [None] * len(encoded)
    for batch in tqdm(_batches(encoded, batch_size), desc="scoring", unit="batch", disable=None):
        for i, scored in zip(batch, _score_batch(model, [encoded[i] for i in batch], pad), strict=True):
            out[i] = scored
    return out  # type: ignore[return-value]


@torch.no_grad()
def score_one(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, context: str, continuation: str) -> Scored:
    """One full forward pass per (context, continuation), no batching or reuse: the reference
    the batched scorer is tested and benchmarked against."""
    full, start = continuation_ids(tokenizer, context, continuation)
    device = next(model.parameters()).device
    logits = model(input_ids=torch.tensor([full], device=device)).logits[0].float()
    logprobs = torch.log_softmax(logits[:-1], dim=-1).gather(-1, torch.tensor(full[1:], device=device)[:, None])
    return Scored(float(logprobs[start - 1 :].sum()), len(full) - start)


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
