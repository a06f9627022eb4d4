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
    accumulate_language,
    frozen_eval,
    head_mask,
    head_scores,
    heads_by_layer,
    lahis,
    lm_loss,
    mask_optimizer,
    mean_off_diagonal,
    overlap_matrix,
    sample_statistics,
    top_heads,
    top_k_count,
)
from polyfact.models.padding import batches
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
            module.forward = lambda x, m=module: (
                m.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + m.variance_epsilon))
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


# --------------------------------------------------------------------------- trained mask (mask_lr)


def test_sample_statistics_use_abs_gradient_times_signed_mask() -> None:
    grad = torch.tensor([[-2.0, 3.0], [0.5, -1.0]])
    mask = torch.tensor([[1.0, -0.5], [2.0, 0.0]])
    importance, helps = sample_statistics(grad, mask)
    # |g|·m keeps the mask's sign (the authors' unclamped mask); g·m < 0 means the head helps
    np.testing.assert_array_equal(importance.numpy(), [[2.0, -1.5], [1.0, 0.0]])
    np.testing.assert_array_equal(helps.numpy(), [[True, True], [False, False]])
    assert importance.dtype == torch.float64


def test_mask_optimizer_refuses_bad_lr_and_non_leaf_mask() -> None:
    leaf = torch.ones(2, 2, requires_grad=True)
    for bad in (0.0, -1e-2):
        with pytest.raises(PolyfactError, match="mask_lr"):
            mask_optimizer(leaf, bad)
    with pytest.raises(PolyfactError, match="leaf"):
        mask_optimizer(torch.ones(2, 2), 1e-2)


def test_one_sample_reads_statistics_at_ones_then_takes_one_adamw_step(tokenizer: PreTrainedTokenizerBase) -> None:
    """One batch: the statistics are those of the fixed mask (read before the step), and the mask
    moves by AdamW's first step, (1 − lr·0.01)·1 − lr·g / (|g| + 1e-8), away from each gradient."""
    model = tiny_decoder("llama")
    texts = TEXTS["en"][:2]
    lr = 1e-2
    with frozen_eval(model), head_mask(model) as mask:
        fixed = accumulate_language(model, tokenizer, texts, mask, batch_size=2, max_length=32)
        ids, attn = next(batches(tokenizer, texts, 2, 32))
        (grad,) = torch.autograd.grad(lm_loss(model, ids, attn), mask)
        trained = accumulate_language(model, tokenizer, texts, mask, batch_size=2, max_length=32, mask_lr=lr)
    assert fixed["batches"] == trained["batches"] == 1
    np.testing.assert_array_equal(fixed["abs_sum"], trained["abs_sum"])
    np.testing.assert_array_equal(fixed["negative_count"], trained["negative_count"])
    np.testing.assert_array_equal(fixed["final_mask"], np.ones((2, 4)))
    g = grad.double().numpy()
    expected = (1 - lr * 0.01) - lr * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(trained["final_mask"], expected, rtol=0, atol=1e-6)
    assert (np.abs(trained["final_mask"] - 1) > 5e-3).all()  # every head moved after one sample


def test_mask_lr_changes_scores_but_null_is_the_fixed_mask(tokenizer: PreTrainedTokenizerBase) -> None:
    model = tiny_decoder("olmo2")
    texts = {lang: TEXTS[lang] for lang in ("en", "ru")}
    fixed = lahis(model, tokenizer, texts, top_fraction=0.25, batch_size=1, max_length=32)
    trained = lahis(model, tokenizer, texts, top_fraction=0.25, batch_size=1, max_length=32, mask_lr=0.5)
    assert fixed["mask_lr"] is None and "final_mask" not in fixed
    assert trained["mask_lr"] == 0.5 and trained == lahis(  # deterministic
        model, tokenizer, texts, top_fraction=0.25, batch_size=1, max_length=32, mask_lr=0.5
    )
    for lang in texts:
        assert fixed["batches"][lang] == trained["batches"][lang] == 3
        assert not np.allclose(fixed["scores"][lang], trained["scores"][lang])
        assert not np.allclose(trained["final_mask"][lang], 1.0)

    # null: the mean over batches of |∂loss/∂m| at m = 1, and the share of batches with ∂loss/∂m < 0
    for lang in texts:
        grads = []
        with frozen_eval(model), head_mask(model) as mask:
            for ids, attn in batches(tokenizer, texts[lang], 1, 32):
                grads.append(torch.autograd.grad(lm_loss(model, ids, attn), mask)[0].double().numpy())
        grads = np.stack(grads)
        np.testing.assert_array_equal(fixed["importance"][lang], np.abs(grads).sum(0) / len(grads))
        np.testing.assert_array_equal(fixed["negative_frequency"][lang], (grads < 0).sum(0) / len(grads))


def test_each_language_trains_its_own_mask_from_ones(tokenizer: PreTrainedTokenizerBase) -> None:
    """The same text under two language codes gives the same trained result: the mask and the
    optimizer state are reset between languages, not carried over."""
    model = tiny_decoder("qwen2")
    result = lahis(model, tokenizer, {"en": TEXTS["en"], "xx": TEXTS["en"]}, batch_size=1, mask_lr=0.1)
    for key in ("scores", "final_mask"):
        assert result[key]["en"] == result[key]["xx"]


def test_bfloat16_mask_trains_on_the_bfloat16_grid(tokenizer: PreTrainedTokenizerBase) -> None:
    model = tiny_decoder("llama")
    result = lahis(model, tokenizer, {"en": TEXTS["en"]}, batch_size=1, mask_lr=1e-2, mask_dtype="bfloat16")
    final = torch.tensor(result["final_mask"]["en"], dtype=torch.float64)
    assert result["mask_dtype"] == "bfloat16" and not torch.equal(final, torch.ones_like(final))
    torch.testing.assert_close(final.to(torch.bfloat16).double(), final, rtol=0, atol=0)
    with pytest.raises(PolyfactError, match="mask_dtype"):
        lahis(model, tokenizer, {"en": TEXTS["en"]}, mask_dtype="float16")


def test_cli_passes_mask_lr_and_dtype(tiny_model_dir: Path, tmp_path: Path) -> None:
    from polyfact.cli import main

    text = tmp_path / "parallel.jsonl"
    text.write_text(
        "".join(json.dumps({"en": e, "de": d}) + "\n" for e, d in zip(TEXTS["en"], TEXTS["de"], strict=True))
    )
    corpus = json.dumps({"source": "jsonl", "split": "x", "text_field": "{lang}", "lang_codes": {}})
    common = ["interpret", "lahis", "--model", str(tiny_model_dir), "--corpus", corpus, "--text", str(text)]
    common += ["--languages", "en,de", "--batch-size", "1", "--max-length", "32", "--top-fraction", "0.25"]
    main([*common, "--out", str(tmp_path / "fixed.json")])
    main([*common, "--mask-lr", "0.05", "--mask-dtype", "bfloat16", "--out", str(tmp_path / "trained.json")])
    fixed = json.loads((tmp_path / "fixed.json").read_text())
    trained = json.loads((tmp_path / "trained.json").read_text())
    assert (fixed["mask_lr"], fixed["mask_dtype"]) == (None, "float32")
    assert (trained["mask_lr"], trained["mask_dtype"]) == (0.05, "bfloat16")
    assert "final_mask" in trained and "final_mask" not in fixed
    assert fixed["batches"] == trained["batches"] == {"en": 3, "de": 3}
    assert fixed["scores"] != trained["scores"]
