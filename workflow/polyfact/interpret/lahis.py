"""LAHIS, language-specific attention heads (§9).

A mask m (layers × heads, all ones) scales each head's output just before `o_proj`. At m = 1
the model is unchanged, but ∂loss/∂m[l, h] · m[l, h] is the first-order change in a language's
LM loss if head (l, h) were removed: large |g·m| means the head matters for that language, and
g·m < 0 means removing it would *raise* the loss, i.e. the head helps. A head scores high for a
language when it is both important and consistently helpful there (DESIGN §9):

    score = mean_batches |g·m|  ×  fraction of batches with g·m < 0

By default the mask is never updated; only the gradient at m = 1 is read. With `mask_lr` the
mask is trained as in the authors' code (jvonrad/Lost-in-Mistranslation,
mechanistic-interpretability/src/attn_matrix_ted.py, the paper's LAHIS): per language it starts
at ones and AdamW (lr `mask_lr`, torch defaults otherwise) steps on the LM loss after each
sample; each sample's statistics are read *before* that step, at the current mask, with the
importance term |g|·m (signed if the unclamped mask crosses zero). At m = 1 that is |g·m|, so
both modes share one formula. The science (scores, top-k, overlap, distribution by layer) lives
in small pure functions on arrays, separate from the code that runs the model, so it can be
checked on hand-worked inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.errors import PolyfactError
from polyfact.interpret.arch import decoder_layout
from polyfact.interpret.text import ParallelText
from polyfact.models.padding import batches

Head = tuple[int, int]  # (layer, head)
MASK_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}  # the mask's own precision


# --------------------------------------------------------------------------- pure science


def sample_statistics(grad: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One sample's (|g|·m, g·m < 0) per head, in float64 on the CPU.

    |g|·m rather than |g·m|: the authors' trained mask is never clamped and may turn negative,
    where their importance term turns negative too. At m = 1 the two are the same number."""
    g = grad.detach().to("cpu", torch.float64)
    m = mask.detach().to("cpu", torch.float64)
    return g.abs() * m, (g * m) < 0


def mask_optimizer(mask: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    """AdamW on the head mask alone, with torch's defaults spelled out (betas 0.9/0.999, eps 1e-8,
    weight decay 0.01) because the authors' code relies on them; pinned so a torch release
    changing a default cannot silently change the protocol."""
    if not lr > 0:
        raise PolyfactError(f"LAHIS mask_lr must be > 0, got {lr}")
    if not mask.is_leaf or not mask.requires_grad:
        raise PolyfactError("LAHIS: a trained head mask must be a leaf tensor that requires grad")
    return torch.optim.AdamW([mask], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)


def head_scores(importance: np.ndarray, negative_frequency: np.ndarray) -> np.ndarray:
    """LAHIS score per head: mean importance × negative-gradient frequency (both layers × heads)."""
    importance = np.asarray(importance, dtype=np.float64)
    negative_frequency = np.asarray(negative_frequency, dtype=np.float64)
    if importance.shape != negative_frequency.shape:
        raise ValueError(f"importance {importance.shape} and negative frequency {negative_frequency.shape} differ")
    return importance * negative_frequency


def top_k_count(total_heads: int, top_fraction: float) -> int:
    """How many heads make up the top `top_fraction` of `total_heads`: rounded half up, at least 1
    (so a tiny model still selects a head) and at most all of them."""
    if not 0 < top_fraction <= 1:
        raise PolyfactError(f"LAHIS top_fraction must be in (0, 1], got {top_fraction}")
    return min(total_heads, max(1, math.floor(top_fraction * total_heads + 0.5)))


def top_heads(scores: np.ndarray, k: int) -> list[Head]:
    """The k highest-scoring heads of a layers × heads array, as (layer, head), best first.

    Ties are broken by layer, then head (a stable sort of the row-major flattening), so the
    selection does not depend on floating-point accident or the sort algorithm."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be layers × heads, got shape {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    num_heads = scores.shape[1]
    order = np.argsort(-scores.reshape(-1), kind="stable")[:k]
    return [(int(i) // num_heads, int(i) % num_heads) for i in order]


def overlap_matrix(tops: Mapping[str, Sequence[Head]], languages: Sequence[str], k: int) -> np.ndarray:
    """|top(a) ∩ top(b)| / k for every pair of languages, in `languages` order (diagonal 1)."""
    sets = {lang: {tuple(h) for h in tops[lang]} for lang in languages}
    n = len(languages)
    matrix = np.zeros((n, n), dtype=np.float64)
    for i, a in enumerate(languages):
        for j, b in enumerate(languages):
            matrix[i, j] = len(sets[a] & sets[b]) / k
    return matrix


def mean_off_diagonal(matrix: np.ndarray) -> float | None:
    """Mean of the off-diagonal entries (how much languages share top heads); None with fewer
    than two languages, where there is no pair (None rather than NaN keeps the result valid JSON)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n = matrix.shape[0]
    if n < 2:
        return None
    off = ~np.eye(n, dtype=bool)
    return float(matrix[off].mean())


def heads_by_layer(heads: Sequence[Head], num_layers: int) -> list[int]:
    """How many of `heads` lie in each layer."""
    counts = [0] * num_layers
    for layer, _ in heads:
        counts[layer] += 1
    return counts


# --------------------------------------------------------------------------- model side


@contextmanager
def head_mask(model: PreTrainedModel, mask: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """Scale each attention head's output by `mask[layer, head]` before `o_proj`, for the block.

    The mask defaults to ones (float32, `requires_grad=True`, on the model's device); pass one to
    choose dtype or values. Hooks read the tensor by reference, so in-place edits under
    `torch.no_grad()` take effect on the next forward. The hooks are removed on exit, also on error.
    """
    layout = decoder_layout(model)
    shape = (layout.num_layers, layout.num_heads)
    if mask is None:
        device = next(model.parameters()).device
        mask = torch.ones(shape, dtype=torch.float32, device=device, requires_grad=True)
    elif tuple(mask.shape) != shape:
        raise PolyfactError(f"head mask has shape {tuple(mask.shape)}, the model has layers × heads {shape}")

    def make_hook(layer: int):  # noqa: ANN202 (a hook closure)
        def hook(_module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
            if args:
                x, rest = args[0], args[1:]
            else:
                x, rest = kwargs.pop("input"), ()
            heads = x.unflatten(-1, (layout.num_heads, layout.head_dim))
            scale = mask[layer].to(dtype=x.dtype, device=x.device)[:, None]
            return ((heads * scale).flatten(-2), *rest), kwargs

        return hook

    handles = [
        layout.o_proj(layer).register_forward_pre_hook(make_hook(layer), with_kwargs=True)
        for layer in range(layout.num_layers)
    ]
    try:
        yield mask
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def frozen_eval(model: nn.Module) -> Iterator[None]:
    """The model in eval mode with no parameter requiring grad, so backward reaches only the mask
    (no parameter gradients are stored); the previous flags are restored afterwards."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


def lm_loss(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Causal-LM loss: next-token cross-entropy, mean over the batch's real (non-padding) targets.

    Computed here rather than by the model so the reduction is explicit and the logits are
    upcast to float32 at least (a bf16 loss would make the small gradients noisy)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    logits = logits[:, :-1]
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


def accumulate_language(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    mask: torch.Tensor,
    *,
    batch_size: int,
    max_length: int,
    mask_lr: float | None = None,
    desc: str = "LAHIS",
) -> dict[str, Any]:
    """Per-head sums of |g|·m and counts of g·m < 0 over the batches of one language's text.

    Expects the hooks of `head_mask` installed with `mask` and the model frozen. One batch is
    one sample: its statistics are read at the current mask, then, with `mask_lr`, a fresh
    AdamW (see `mask_optimizer`) steps the mask in place, which the hooks see on the next
    forward. Only per-head accumulators are kept, so memory does not grow with the corpus. A
    batch with no target token (every text a single token) gives no loss and is skipped.
    """
    device = mask.device
    optimizer = mask_optimizer(mask, mask_lr) if mask_lr is not None else None
    abs_sum = torch.zeros(mask.shape, dtype=torch.float64)
    negative = torch.zeros(mask.shape, dtype=torch.int64)
    n_batches = n_tokens = 0
    for input_ids, attention_mask in batches(tokenizer, texts, batch_size, max_length, desc=desc):
        if int(attention_mask[:, 1:].sum()) == 0:
            continue
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        with torch.enable_grad():  # also when the caller runs under no_grad
            loss = lm_loss(model, input_ids, attention_mask)
            (grad,) = torch.autograd.grad(loss, mask)
        importance, helps = sample_statistics(grad, mask)
        abs_sum += importance
        negative += helps
        if optimizer is not None:  # after reading the statistics, as the authors' loop does
            mask.grad = grad
            optimizer.step()
            mask.grad = None
        n_batches += 1
        n_tokens += int(attention_mask.sum())
    return {
        "abs_sum": abs_sum.numpy(),
        "negative_count": negative.numpy(),
        "batches": n_batches,
        "tokens": n_tokens,
        "final_mask": mask.detach().to("cpu", torch.float64).numpy(),
    }


def lahis(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: ParallelText,
    *,
    top_fraction: float = 0.02,
    batch_size: int = 8,
    max_length: int = 128,
    mask_lr: float | None = None,
    mask_dtype: str = "float32",
) -> dict[str, Any]:
    """Language-specific attention heads of `model` on each language's text, as a JSON-ready dict.

    `mask_lr` None keeps the mask at ones; a number trains it per language, from ones, with
    AdamW at that lr after each `batch_size` batch (the authors' protocol with batch_size 1).
    `mask_dtype` is the mask's own precision (the authors keep it in bfloat16).

    Keys: languages, num_layers, num_heads, top_fraction, top_k, mask_lr, mask_dtype, scores /
    importance / negative_frequency (lang -> layers × heads lists), top_heads (lang ->
    [[layer, head], ...], best first), overlap (languages × languages, `languages` order),
    mean_overlap_off_diagonal (None with one language), heads_by_layer (counts over all
    languages), heads_by_layer_per_language, batches and tokens (lang -> count of batches used and
    of non-padding input tokens); with `mask_lr`, final_mask (lang -> the trained mask).
    """
    layout = decoder_layout(model)  # fails on an unsupported architecture before any text is read
    if mask_dtype not in MASK_DTYPES:
        raise PolyfactError(f"LAHIS mask_dtype must be one of {sorted(MASK_DTYPES)}, got {mask_dtype!r}")
    languages = list(texts)
    if not languages:
        raise PolyfactError("LAHIS needs text in at least one language")
    for lang in languages:
        if not texts[lang]:
            raise PolyfactError(f"LAHIS: no text for language {lang!r}")
    k = top_k_count(layout.num_layers * layout.num_heads, top_fraction)

    importance: dict[str, np.ndarray] = {}
    negative_frequency: dict[str, np.ndarray] = {}
    scores: dict[str, np.ndarray] = {}
    tops: dict[str, list[Head]] = {}
    n_batches: dict[str, int] = {}
    n_tokens: dict[str, int] = {}
    final_masks: dict[str, np.ndarray] = {}
    device = next(model.parameters()).device
    ones = torch.ones((layout.num_layers, layout.num_heads), dtype=MASK_DTYPES[mask_dtype], device=device)
    with frozen_eval(model), head_mask(model, ones.requires_grad_()) as mask:
        for lang in languages:
            with torch.no_grad():
                mask.fill_(1.0)  # each language starts from the unmasked model (the hooks hold `mask`)
            acc = accumulate_language(
                model,
                tokenizer,
                texts[lang],
                mask,
                batch_size=batch_size,
                max_length=max_length,
                mask_lr=mask_lr,
                desc=f"LAHIS {lang}",
            )
            if acc["batches"] == 0:
                raise PolyfactError(f"LAHIS: the text for {lang!r} has no sentence of two or more tokens")
            importance[lang] = acc["abs_sum"] / acc["batches"]
            negative_frequency[lang] = acc["negative_count"] / acc["batches"]
            scores[lang] = head_scores(importance[lang], negative_frequency[lang])
            tops[lang] = top_heads(scores[lang], k)
            n_batches[lang], n_tokens[lang] = acc["batches"], acc["tokens"]
            final_masks[lang] = acc["final_mask"]

    overlap = overlap_matrix(tops, languages, k)
    per_language = {lang: heads_by_layer(tops[lang], layout.num_layers) for lang in languages}
    trained = {"final_mask": {lang: final_masks[lang].tolist() for lang in languages}} if mask_lr is not None else {}
    return {
        "languages": languages,
        "num_layers": layout.num_layers,
        "num_heads": layout.num_heads,
        "top_fraction": top_fraction,
        "top_k": k,
        "mask_lr": mask_lr,
        "mask_dtype": mask_dtype,
        "scores": {lang: scores[lang].tolist() for lang in languages},
        "importance": {lang: importance[lang].tolist() for lang in languages},
        "negative_frequency": {lang: negative_frequency[lang].tolist() for lang in languages},
        "top_heads": {lang: [list(h) for h in tops[lang]] for lang in languages},
        "overlap": overlap.tolist(),
        "mean_overlap_off_diagonal": mean_off_diagonal(overlap),
        "heads_by_layer": [sum(col) for col in zip(*per_language.values(), strict=True)],
        "heads_by_layer_per_language": per_language,
        "batches": n_batches,
        "tokens": n_tokens,
        **trained,
    }
