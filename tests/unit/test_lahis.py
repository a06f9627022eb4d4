"""LAHIS (§9): the head mask hook, its gradient, and the score / top-k / overlap arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from polyfact.errors import PolyfactError
from polyfact.interpret.arch import decoder_layout
from polyfact.interpret.lahis import (
    frozen_eval,
    head_mask,
    head_scores,
    heads_by_layer,
    lahis,
    lm_loss,
    mean_off_diagonal,
    overlap_matrix,
    top_heads,
    top_k_count,
)
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from tests.conftest import ARCHITECTURES, tiny_decoder

IDS = torch.tensor([[5, 17, 42, 99, 3, 250, 8], [7, 300, 12, 64, 0, 0, 0]])
ATTN = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]])

TEXTS = {
    "en": ["Question: On which continent is France?", "Answer: Europe", "A B C D"],
    "de": ["Frage: Auf welchem Kontinent liegt Frankreich?", "Antwort: Europa", "A B C D"],
    "ru": ["Вопрос: На каком континенте находится Франция?", "Ответ: Европа", "A B C D"],
}


def logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS, attention_mask=ATTN, use_cache=False).logits


# --------------------------------------------------------------------------- hooks


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_ones_mask_leaves_logits_unchanged(arch: str) -> None:
    model = tiny_decoder(arch)
    plain = logits(model)
    with head_mask(model) as mask:
        assert mask.shape == (2, 4) and mask.requires_grad and bool((mask == 1).all())
        masked = logits(model)
    torch.testing.assert_close(masked, plain, rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_zeroing_a_head_changes_output_and_hooks_are_removed(arch: str) -> None:
    model = tiny_decoder(arch)
    plain = logits(model)
    with head_mask(model) as mask:
        with torch.no_grad():
            mask[1, 2] = 0.0
        changed = logits(model)
    assert (changed - plain).abs().max() > 1e-4
    layout = decoder_layout(model)
    for layer in range(layout.num_layers):
        assert len(layout.o_proj(layer)._forward_pre_hooks) == 0
    torch.testing.assert_close(logits(model), plain, rtol=0, atol=0)


def test_hooks_removed_after_error() -> None:
    model = tiny_decoder("llama")
    with pytest.raises(RuntimeError, match="boom"), head_mask(model):
        raise RuntimeError("boom")
    assert all(len(layer.self_attn.o_proj._forward_pre_hooks) == 0 for layer in model.model.layers)


def test_mask_of_wrong_shape_is_refused() -> None:
    model = tiny_decoder("qwen2")
    with pytest.raises(PolyfactError, match="shape"), head_mask(model, torch.ones(3, 4)):
        pass


def float64_throughout(model: torch.nn.Module) -> torch.nn.Module:
    """The model in float64 with its RMSNorms computed in float64 too: transformers' RMSNorm
    upcasts to float32 only, whose rounding (~1e-9 in the loss) would swamp a finite difference
    at eps = 1e-4. Same arithmetic otherwise (weight × x / rms)."""
    model = model.double()
    for module in model.modules():
        if type(module).__name__.endswith("RMSNorm"):
            module.forward = lambda x, m=module: m.weight * (
                x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + m.variance_epsilon)
            )
    return model


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_mask_gradient_matches_finite_difference(arch: str) -> None:
    model = float64_throughout(tiny_decoder(arch))
    mask = torch.ones(2, 4, dtype=torch.float64, requires_grad=True)
    eps = 1e-4
    with frozen_eval(model), head_mask(model, mask):
        (grad,) = torch.autograd.grad(lm_loss(model, IDS, ATTN), mask)
        for layer in range(2):
            for head in range(4):
                with torch.no_grad():
                    mask[layer, head] = 1 + eps
                    up = lm_loss(model, IDS, ATTN).item()
                    mask[layer, head] = 1 - eps
                    down = lm_loss(model, IDS, ATTN).item()
                    mask[layer, head] = 1.0
                numeric = (up - down) / (2 * eps)
                assert abs(numeric) > 1e-6  # a real, non-vanishing gradient is being checked
                assert grad[layer, head].item() == pytest.approx(numeric, rel=1e-6)  # observed ~1e-8


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_parameters_get_no_gradient_and_keep_flags(arch: str) -> None:
    model = tiny_decoder(arch)
    model.lm_head.weight.requires_grad_(False)  # a mixed state that must come back as it was
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    with frozen_eval(model), head_mask(model) as mask:
        assert not any(p.requires_grad for p in model.parameters())
        lm_loss(model, IDS, ATTN).backward()
        assert mask.grad is not None and mask.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())
    assert {name: p.requires_grad for name, p in model.named_parameters()} == before
    assert not model.training


def test_frozen_eval_restores_training_mode() -> None:
    model = tiny_decoder("olmo2").train()
    with frozen_eval(model):
        assert not model.training
    assert model.training


# --------------------------------------------------------------------------- pure functions


def test_head_scores_is_importance_times_negative_frequency() -> None:
    importance = np.array([[2.0, 1.0], [0.5, 4.0]])
    negative = np.array([[0.5, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(head_scores(importance, negative), [[1.0, 1.0], [0.5, 0.0]])
    with pytest.raises(ValueError):
        head_scores(importance, negative[:1])


def test_top_k_count() -> None:
    assert top_k_count(784, 0.02) == 16  # 15.68 → 16 (Qwen2.5-7B: 28 layers × 28 heads)
    assert top_k_count(576, 0.02) == 12  # 11.52 → 12
    assert top_k_count(8, 0.02) == 1  # at least one head
    assert top_k_count(8, 1.0) == 8
    assert top_k_count(100, 0.025) == 3  # 2.5 rounds half up
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(PolyfactError):
            top_k_count(8, bad)


def test_top_heads_breaks_ties_by_layer_then_head() -> None:
    scores = np.array(
        [
            [0.1, 0.5, 0.5, 0.0],
            [0.5, 0.9, 0.2, 0.5],
        ]
    )
    assert top_heads(scores, 1) == [(1, 1)]
    assert top_heads(scores, 4) == [(1, 1), (0, 1), (0, 2), (1, 0)]
    assert top_heads(scores, 5) == [(1, 1), (0, 1), (0, 2), (1, 0), (1, 3)]
    assert top_heads(np.zeros((2, 2)), 3) == [(0, 0), (0, 1), (1, 0)]
    with pytest.raises(ValueError):
        top_heads(np.array([[np.nan, 1.0]]), 1)


def test_overlap_matrix_and_off_diagonal_mean() -> None:
    tops = {
        "en": [(0, 0), (0, 1), (1, 2), (1, 3)],
        "de": [(0, 0), (0, 1), (1, 0), (1, 1)],
        "zh": [(2, 0), (2, 1), (2, 2), (1, 3)],
    }
    matrix = overlap_matrix(tops, ["en", "de", "zh"], k=4)
    expected = np.array(
        [
            [1.0, 0.5, 0.25],
            [0.5, 1.0, 0.0],
            [0.25, 0.0, 1.0],
        ]
    )
    np.testing.assert_array_equal(matrix, expected)
    # off-diagonal: (0.5 + 0.25 + 0.5 + 0 + 0.25 + 0) / 6 = 0.25
    assert mean_off_diagonal(matrix) == pytest.approx(0.25)
    assert mean_off_diagonal(np.ones((1, 1))) is None
    # the order of `languages` sets the matrix order
    np.testing.assert_array_equal(overlap_matrix(tops, ["zh", "en"], k=4), [[1.0, 0.25], [0.25, 1.0]])


def test_heads_by_layer() -> None:
    assert heads_by_layer([(0, 0), (2, 1), (2, 3), (0, 2)], 4) == [2, 0, 2, 0]
    assert heads_by_layer([], 2) == [0, 0]


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_lahis_end_to_end_keys_shapes_and_determinism(arch: str, tokenizer: PreTrainedTokenizerBase) -> None:
    model = tiny_decoder(arch)
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    result = lahis(model, tokenizer, TEXTS, top_fraction=0.25, batch_size=2, max_length=32)
    assert result == lahis(model, tokenizer, TEXTS, top_fraction=0.25, batch_size=2, max_length=32)
    json.dumps(result)  # JSON-ready

    languages = ["en", "de", "ru"]
    assert result["languages"] == languages
    assert (result["num_layers"], result["num_heads"], result["top_k"]) == (2, 4, 2)
    for key in ("scores", "importance", "negative_frequency"):
        assert set(result[key]) == set(languages)
        assert all(np.asarray(result[key][lang]).shape == (2, 4) for lang in languages)
    for lang in languages:
        importance = np.asarray(result["importance"][lang])
        negative = np.asarray(result["negative_frequency"][lang])
        assert (importance >= 0).all() and importance.sum() > 0
        assert ((negative >= 0) & (negative <= 1)).all()
        # 2 batches per language (3 texts, batch size 2): frequencies are multiples of 1/2
        np.testing.assert_array_equal(negative * 2, np.round(negative * 2))
        np.testing.assert_allclose(result["scores"][lang], importance * negative)
        top = result["top_heads"][lang]
        assert len(top) == 2 and len({tuple(h) for h in top}) == 2
        assert [tuple(h) for h in top] == top_heads(np.asarray(result["scores"][lang]), 2)
        assert sum(result["heads_by_layer_per_language"][lang]) == 2
        assert result["batches"][lang] == 2 and result["tokens"][lang] > 0
    overlap = np.asarray(result["overlap"])
    assert overlap.shape == (3, 3)
    np.testing.assert_array_equal(np.diag(overlap), 1.0)
    np.testing.assert_array_equal(overlap, overlap.T)
    assert result["mean_overlap_off_diagonal"] == pytest.approx(mean_off_diagonal(overlap))
    assert result["heads_by_layer"] == [
        sum(result["heads_by_layer_per_language"][lang][layer] for lang in languages) for layer in range(2)
    ]
    assert sum(result["heads_by_layer"]) == 6
    # the model comes back untouched: no hooks, same flags, eval mode, no gradients
    assert all(len(layer.self_attn.o_proj._forward_pre_hooks) == 0 for layer in model.model.layers)
    assert {name: p.requires_grad for name, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


def test_lahis_refuses_empty_language(tokenizer: PreTrainedTokenizerBase) -> None:
    model = tiny_decoder("qwen2")
    with pytest.raises(PolyfactError, match="'de'"):
        lahis(model, tokenizer, {"en": ["Answer: Europe"], "de": []})
    with pytest.raises(PolyfactError, match="top_fraction"):
        lahis(model, tokenizer, {"en": ["Answer: Europe"]}, top_fraction=0)


def test_lahis_under_no_grad_gives_the_same_result(tokenizer: PreTrainedTokenizerBase) -> None:
    model = tiny_decoder("llama")
    texts = {lang: TEXTS[lang] for lang in ("en", "de")}
    with torch.no_grad():
        inside = lahis(model, tokenizer, texts, batch_size=2)
    assert inside == lahis(model, tokenizer, texts, batch_size=2)
    assert inside["top_k"] == 1 and inside["mean_overlap_off_diagonal"] in (0.0, 1.0)
