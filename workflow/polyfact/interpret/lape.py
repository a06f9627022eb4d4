"""LAPE: language-specific MLP neurons by language activation probability entropy (Tang et
al., 2024; §9).

A neuron's activation is `act_fn(gate_proj(x))`. Per language, its activation probability is
the share of tokens on which that activation is > 0; normalised across languages, a
low-entropy distribution means the neuron fires for one language far more than for the
others. Counts are accumulated in a forward hook per layer, so memory does not grow with the
amount of text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.interpret.arch import DecoderLayout, decoder_layout
from polyfact.interpret.text import ParallelText
from polyfact.models.padding import batches


class FiringCounter:
    """Per layer and neuron, how many (non-padding) tokens fired; `mask` is set per batch."""

    def __init__(self, layout: DecoderLayout, device: torch.device) -> None:
        self.counts = torch.zeros((layout.num_layers, layout.intermediate_size), dtype=torch.long, device=device)
        self.mask: torch.Tensor | None = None

    def hook(self, layer: int, act_fn: torch.nn.Module) -> Any:
        def count(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            fired = act_fn(output) > 0  # (batch, tokens, neurons)
            self.counts[layer] += fired[self.mask.bool()].sum(dim=0)  # type: ignore[union-attr]

        return count


@contextlib.contextmanager
def firing_hooks(model: PreTrainedModel) -> Iterator[FiringCounter]:
    """Hook every layer's gate_proj output (then apply the layer's act_fn: that is
    `act_fn(gate_proj(x))` without relying on act_fn modules being distinct per layer)."""
    layout = decoder_layout(model)
    counter = FiringCounter(layout, next(model.parameters()).device)
    handles = [
        layout.gate_proj(k).register_forward_hook(counter.hook(k, layout.act_fn(k))) for k in range(layout.num_layers)
    ]
    try:
        yield counter
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def firing_counts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: ParallelText,
    batch_size: int = 16,
    max_length: int = 128,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per language: layers × neurons counts of tokens with activation > 0, and token counts."""
    device = next(model.parameters()).device
    counts, tokens = {}, {}
    for lang, sentences in texts.items():
        with firing_hooks(model) as counter:
            n = 0
            for ids, mask in batches(tokenizer, sentences, batch_size, max_length, desc=f"LAPE {lang}"):
                counter.mask = mask.to(device)
                model(input_ids=ids.to(device), attention_mask=counter.mask)
                n += int(mask.sum())
        counts[lang], tokens[lang] = counter.counts.cpu().numpy(), n
    return counts, tokens


def activation_probabilities(counts: Mapping[str, np.ndarray], tokens: Mapping[str, int]) -> np.ndarray:
    """languages × layers × neurons: share of each language's tokens on which a neuron fired."""
    return np.stack([counts[lang] / max(tokens[lang], 1) for lang in counts])


def lape_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Entropy over languages of each neuron's normalised activation probabilities (NaN for a
    neuron that never fires)."""
    total = probabilities.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = probabilities / total
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return np.where(total > 0, terms.sum(axis=0), np.nan)


def language_specific_neurons(
    probabilities: np.ndarray, top_fraction: float = 0.01, filter_quantile: float = 0.95
) -> list[tuple[int, int, int, float]]:
    """(layer, neuron, language index, entropy) of the lowest-entropy `top_fraction` of all
    neurons, each assigned to the language where it fires most.

    As in Tang et al., neurons that never fire often in any language (their highest
    probability below the `filter_quantile` of all probabilities) are not candidates: a
    neuron firing on 0.1% of one language's tokens and never elsewhere has zero entropy but
    says little. `filter_quantile=0` keeps every neuron that fires at all.
    """
    entropy = lape_entropy(probabilities)
    peak = probabilities.max(axis=0)
    threshold = np.quantile(probabilities, filter_quantile) if filter_quantile > 0 else 0.0
    candidates = np.argwhere(~np.isnan(entropy) & (peak >= threshold) & (peak > 0))
    k = max(1, round(top_fraction * entropy.size))
    order = sorted(candidates.tolist(), key=lambda c: (entropy[c[0], c[1]], c[0], c[1]))[:k]
    return [
        (layer, neuron, int(probabilities[:, layer, neuron].argmax()), float(entropy[layer, neuron]))
        for layer, neuron in order
    ]


def counts_by_language_and_layer(
    neurons: Sequence[tuple[int, int, int, float]], languages: Sequence[str], num_layers: int
) -> dict[str, list[int]]:
    """language -> number of its language-specific neurons in each layer."""
    table = {lang: [0] * num_layers for lang in languages}
    for layer, _neuron, lang, _entropy in neurons:
        table[languages[lang]][layer] += 1
    return table


def lape(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: ParallelText,
    *,
    top_fraction: float = 0.01,
    filter_quantile: float = 0.95,
    batch_size: int = 16,
    max_length: int = 128,
) -> dict[str, Any]:
    """The LAPE analysis of one model, JSON-ready."""
    languages = list(texts)
    counts, tokens = firing_counts(model, tokenizer, texts, batch_size, max_length)
    probabilities = activation_probabilities(counts, tokens)
    neurons = language_specific_neurons(probabilities, top_fraction, filter_quantile)
    by_layer = counts_by_language_and_layer(neurons, languages, probabilities.shape[1])
    return {
        "languages": languages,
        "num_layers": int(probabilities.shape[1]),
        "neurons_per_layer": int(probabilities.shape[2]),
        "top_fraction": top_fraction,
        "filter_quantile": filter_quantile,
        "tokens": tokens,
        "sentences": {lang: len(s) for lang, s in texts.items()},
        "counts": by_layer,
        "counts_total": {lang: sum(v) for lang, v in by_layer.items()},
        "neurons": [
            {"layer": layer, "neuron": neuron, "language": languages[lang], "entropy": entropy}
            for layer, neuron, lang, entropy in neurons
        ],
        "mean_activation_probability": {lang: float(probabilities[k].mean()) for k, lang in enumerate(languages)},
    }
