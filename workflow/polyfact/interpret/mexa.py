"""MEXA-style cross-lingual alignment (§9): mean-pooled hidden states of parallel sentences per
layer, and top-1 retrieval of a sentence's translation among all sentences of the other
language (cosine similarity), en–x and x–y, per layer."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.interpret.arch import decoder_layout
from polyfact.interpret.text import ParallelText, batches


@torch.no_grad()
def pooled_states(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sentences: Sequence[str],
    batch_size: int = 16,
    max_length: int = 128,
) -> np.ndarray:
    """layers × sentences × hidden: each decoder layer's output averaged over the sentence's
    tokens. Special tokens (the BOS) are left out: their state is the same for every sentence."""
    device = next(model.parameters()).device
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
    pooled = []
    for ids, mask in batches(tokenizer, sentences, batch_size, max_length):
        keep = mask.bool() & ~torch.isin(ids, special)
        keep = torch.where(keep.any(dim=1, keepdim=True), keep, mask.bool())  # a sentence of specials only
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True)
        weights = keep.to(device).unsqueeze(-1).float()
        layers = torch.stack(out.hidden_states[1:]).float()  # skip the embeddings
        pooled.append(((layers * weights).sum(dim=2) / weights.sum(dim=1)).cpu())
    return torch.cat(pooled, dim=1).numpy()


def retrieval_accuracy(a: np.ndarray, b: np.ndarray) -> float:
    """Sentences × hidden in two languages (row k parallel): the share whose most cosine-similar
    row on the other side is its translation, averaged over both directions."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    sim = a @ b.T
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
        lang: pooled_states(model, tokenizer, s, batch_size, max_length)
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
