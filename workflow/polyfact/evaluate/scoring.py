"""Continuation scoring by log-probability (§8), with the shared context computed once.

An MCQ option is a continuation of `Question: {q}\\nAnswer:`; a KLAR candidate is a
continuation of a cloze prompt. Each is scored by the summed log-probability of its tokens,
then normalised. An item is packed as one sequence, its context followed by every
continuation's tail, with an attention mask and positions under which each tail sees only
the context and itself: the context is computed once, with no KV cache to copy, and the
vocabulary projection runs only where a token is scored. Four options thus cost about one
context plus four short tails instead of four full sequences; `benchmarks/eval_throughput.py`
measures the difference against full padded sequences.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.errors import PolyfactError
from polyfact.models.padding import pad_id

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
    """Items grouped by continuation count and sorted by packed length (little padding);
    `batch_size` counts sequences, i.e. continuations (a batch holds at least one item)."""
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i].tails), _packed_length(encoded[i])))
    batches: list[list[int]] = []
    for i in order:
        n = len(encoded[i].tails)
        if batches and len(encoded[batches[-1][0]].tails) == n and (len(batches[-1]) + 1) * n <= batch_size:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _packed_length(e: Encoded) -> int:
    return len(e.context) + sum(len(t) for t in e.tails)


@dataclass(frozen=True)
class _Packed:
    """A batch of items, each packed as one row `context + tail_1 + ... + tail_n` (right-padded),
    and, per scored token, where its prediction is and what it is."""

    ids: torch.Tensor  # (rows, width)
    positions: torch.Tensor  # (rows, width): the context from 0, every tail from the context's length
    mask: torch.Tensor  # (rows, 1, width, width) additive: 0 where a query may attend a key, else dtype min
    keep: torch.Tensor  # (rows, width) bool: positions whose next-token logits are needed
    at: torch.Tensor  # per scored token: its prediction's index among the kept positions (row-major)
    targets: torch.Tensor  # per scored token: its id
    sequence: torch.Tensor  # per scored token: row * n + continuation


def _pack(items: Sequence[Encoded], pad: int, dtype: torch.dtype) -> _Packed:
    """Each context token attends causally to the context; each tail token to its item's
    context and causally to its own tail, never to another tail or to padding; positions as
    if every tail followed the context alone, so each row scores like n separate sequences.
    A tail's first token is predicted at the context's last position, every later one at the
    token before it; tokens a boundary merge moved into a tail (its skips) are fed, not scored."""
    n = len(items[0].tails)
    width = max(_packed_length(e) for e in items)
    ids = torch.full((len(items), width), pad, dtype=torch.long)
    positions = torch.zeros((len(items), width), dtype=torch.long)
    segment = torch.full((len(items), width), -1, dtype=torch.long)  # 0 context, j + 1 tail j, -1 padding
    keep = torch.zeros((len(items), width), dtype=torch.bool)
    where: list[int] = []  # row * width + position of each scored token's prediction
    targets: list[int] = []
    sequence: list[int] = []
    for r, e in enumerate(items):
        c = len(e.context)
        ids[r, :c] = torch.tensor(e.context)
        positions[r, :c] = torch.arange(c)
        segment[r, :c] = 0
        start = c
        for j, (tail, skip) in enumerate(zip(e.tails, e.skips, strict=True)):
            length = len(tail)
            if length:
                ids[r, start : start + length] = torch.tensor(tail)
                positions[r, start : start + length] = torch.arange(c, c + length)
                segment[r, start : start + length] = j + 1
            for k in range(skip, length):
                where.append(r * width + (c - 1 if k == 0 else start + k - 1))
                targets.append(tail[k])
                sequence.append(r * n + j)
            start += length
    where_t = torch.tensor(where, dtype=torch.long)
    keep.view(-1)[where_t] = True
    at = keep.view(-1).cumsum(0)[where_t] - 1
    index = torch.arange(width)
    causal = index[:, None] >= index[None, :]
    allowed = causal & ((segment[:, None, :] == 0) | (segment[:, None, :] == segment[:, :, None]))
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]
    return _Packed(
        ids,
        positions,
        mask,
        keep,
        at,
        torch.tensor(targets, dtype=torch.long),
        torch.tensor(sequence, dtype=torch.long),
    )


def _keeps_rows(model: PreTrainedModel) -> bool:
    """Whether the forward takes a 2-D boolean `logits_to_keep` (per-row positions, flattened):
    models whose module imports transformers' `slice_logits_to_keep` (5.24); the GPU set's
    5.17 takes only an int or a 1-D tensor of positions shared by every row."""
    return getattr(sys.modules.get(type(model).__module__), "slice_logits_to_keep", None) is not None


ATTENTION = ("sdpa", "eager")  # implementations that apply a custom 4-D mask as given
LSE_CHUNK = 1024  # kept positions normalised at a time: a float copy of 1024 × vocabulary at most


def _sums(model: PreTrainedModel, packed: _Packed, sequences: int) -> list[float]:
    """The summed log-probability of each sequence's scored tokens, from one forward pass."""
    device = next(model.parameters()).device
    keep = packed.keep.to(device)
    if _keeps_rows(model):
        logits_to_keep, select = keep, None
    else:
        columns = keep.any(0).nonzero().squeeze(1)
        logits_to_keep, select = columns, keep[:, columns]
    logits = model(
        input_ids=packed.ids.to(device),
        attention_mask=packed.mask.to(device),
        position_ids=packed.positions.to(device),
        logits_to_keep=logits_to_keep,
        use_cache=False,
    ).logits
    logits = logits if select is None else logits[select]  # (kept positions, vocabulary)
    if logits.ndim != 2 or logits.shape[0] != int(packed.keep.sum()):
        raise PolyfactError(f"{type(model).__name__}: logits_to_keep gave logits of shape {tuple(logits.shape)}")
    exact = torch.promote_types(logits.dtype, torch.float32)
    norm = torch.cat([torch.logsumexp(chunk.to(exact), dim=-1) for chunk in logits.split(LSE_CHUNK)])
    at = packed.at.to(device)
    token = logits[at, packed.targets.to(device)].to(exact) - norm[at]
    sums = torch.zeros(sequences, dtype=exact, device=device).index_add_(0, packed.sequence.to(device), token)
    return sums.tolist()


def _score_batch(model: PreTrainedModel, items: Sequence[Encoded], pad: int) -> list[list[Scored]]:
    """One forward pass over the packed rows; the LM head only where a token is scored."""
    implementation = getattr(model.config, "_attn_implementation", None)
    if implementation not in ATTENTION:
        raise PolyfactError(
            f"scoring packs continuations with a custom mask: needs attention {ATTENTION}, not {implementation!r}"
        )
    n = len(items[0].tails)
    packed = _pack(items, pad, model.dtype)
    sums = _sums(model, packed, len(items) * n) if len(packed.targets) else [0.0] * (len(items) * n)
    return [
        [Scored(sums[r * n + j], len(t) - skip) for j, (t, skip) in enumerate(zip(e.tails, e.skips, strict=True))]
        for r, e in enumerate(items)
    ]


@torch.inference_mode()
def score_continuations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[tuple[str, Sequence[str]]],
    batch_size: int = 64,
) -> list[list[Scored]]:
    """Score (context, [continuations appended verbatim, e.g. " Paris"]) items, in order;
    `batch_size` continuations (whole items) per forward pass."""
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
