"""MEXA-style cross-lingual alignment (§9): mean-pooled hidden states of parallel sentences per
layer, and top-1 retrieval of a sentence's translation among all sentences of the other
language (cosine similarity), en–x and x–y, per layer."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.interpret.arch import decoder_layout
from polyfact.interpret.text import ParallelText
from polyfact.models.pooling import cosine_matrix, mean_pooled_states


def retrieval_accuracy(a: np.ndarray, b: np.ndarray) -> float:
    """Sentences × hidden in two languages (row k parallel): the share whose most cosine-similar
    row on the other side is its translation, averaged over both directions."""
    sim = cosine_matrix(a, b)
    gold = np.arange(len(a))
    return float(((sim.argmax(axis=1) == gold).mean() + (sim.argmax(axis=0) == gold).mean()) / 2)


def retrieval_by_layer(states: Mapping[str, np.ndarray]) -> dict[str, list[float]]:
    """ "a-b" -> retrieval accuracy per layer, for every language pair."""
    langs = list(states)
    layers = next(iter(states.values())).shape[0]
    return {
        f"{a}-{b}": [retrieval_accuracy(states[a][k], states[b][k]) for k in range(layers)]
        for a, b in itertools.combinations(langs, 2)
    }


def _mean_curve(curves: Sequence[Sequence[float]]) -> list[float] | None:
    return np.mean(np.asarray(curves), axis=0).tolist() if curves else None


def mexa(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: ParallelText,
    *,
    batch_size: int = 16,
    max_length: int = 128,
) -> dict[str, Any]:
    """The alignment analysis of one model, JSON-ready; `middle_layer` is num_layers // 2."""
    num_layers = decoder_layout(model).num_layers
    states = {
        lang: mean_pooled_states(model, tokenizer, s, batch_size, max_length)
        for lang, s in tqdm(texts.items(), desc="MEXA", disable=None)
    }
    pairs = retrieval_by_layer(states)
    en_x = {p.split("-")[1]: v for p, v in pairs.items() if p.startswith("en-")}
    x_y = [v for p, v in pairs.items() if "en" not in p.split("-")]
    all_pairs = _mean_curve(list(pairs.values()))
    middle = num_layers // 2
    return {
        "languages": list(texts),
        "num_layers": num_layers,
        "sentences": len(next(iter(texts.values()))),
        "pairs": pairs,
        "en_x": en_x,
        "en_x_mean": _mean_curve(list(en_x.values())),
        "x_y_mean": _mean_curve(x_y),
        "all_pairs_mean": all_pairs,
        "middle_layer": middle,
        "middle_layer_all_pairs": all_pairs[middle] if all_pairs else None,
    }
