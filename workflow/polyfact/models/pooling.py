"""Mean-pooled hidden states of texts and their cosine similarity: MEXA's sentence retrieval
(§9) and the released-PolyFact option alignment (§8) are the same computation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.models.padding import batches


@torch.no_grad()
def mean_pooled_states(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int = 16,
    max_length: int = 128,
    layers: slice = slice(1, None),
) -> np.ndarray:
    """states × texts × hidden: the entries `layers` of `hidden_states` (0 = the embeddings, k =
    the output of decoder layer k; by default every decoder layer) averaged over each text's
    tokens. Special tokens (a BOS) are left out: their state is the same for every text and
    would pull all texts together."""
    device = next(model.parameters()).device
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
    pooled = []
    for ids, mask in batches(tokenizer, texts, batch_size, max_length):
        keep = mask.bool() & ~torch.isin(ids, special)
        keep = torch.where(keep.any(dim=1, keepdim=True), keep, mask.bool())  # a text of specials only
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True)
        weights = keep.to(device).unsqueeze(-1).float()
        states = torch.stack(out.hidden_states[layers]).float()
        pooled.append(((states * weights).sum(dim=2) / weights.sum(dim=1)).cpu())
    return torch.cat(pooled, dim=1).numpy()


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of `a` with every row of `b` (zero rows give 0)."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T
