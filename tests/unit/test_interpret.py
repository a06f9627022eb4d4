"""LAPE and MEXA on tiny random Qwen2, Llama and OLMo-2 models; architecture detection; the
analyses' parallel text; the interpretability table and figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from polyfact.cli import main
from polyfact.errors import PolyfactError
from polyfact.interpret.arch import decoder_layout
from polyfact.interpret.lape import (
    activation_probabilities,
    counts_by_language_and_layer,
    firing_counts,
    firing_hooks,
    language_specific_neurons,
    lape,
    lape_entropy,
)
from polyfact.interpret.mexa import mexa, retrieval_accuracy
from polyfact.interpret.report import interpretability_rows
from polyfact.interpret.text import load_texts, parallel_text
from polyfact.io import write_json
from polyfact.models.padding import batches
from polyfact.models.pooling import mean_pooled_states
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from tests.conftest import ARCHITECTURES, tiny_decoder

TEXTS = {
    "en": ["On which continent is France?", "Which country is Paris in?", "What is the capital of Kenya?"],
    "de": ["Auf welchem Kontinent liegt Frankreich?", "In welchem Land liegt Paris?", "Was ist die Hauptstadt Kenias?"],
    "bn": ["ফ্রান্স কোন মহাদেশে অবস্থিত?", "প্যারিস কোন দেশে?", "কেনিয়ার রাজধানী কী?"],
}


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> AutoTokenizer:
    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_hooks_see_every_layer_and_leave_no_trace(arch: str, tokenizer: AutoTokenizer) -> None:
    model = tiny_decoder(arch)
    layout = decoder_layout(model)
    ids, mask = next(batches(tokenizer, TEXTS["en"], 8, 32))
    before = model(input_ids=ids, attention_mask=mask).logits
    with firing_hooks(model) as counter:
        counter.mask = mask
        with torch.no_grad():
            after = model(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(before, after)  # counting does not change the computation
    assert counter.counts.shape == (layout.num_layers, layout.intermediate_size)
    assert all(counter.counts[k].sum() > 0 for k in range(layout.num_layers))  # every layer seen
    assert int(counter.counts.max()) <= int(mask.sum())  # at most once per real token
    assert not any(layout.gate_proj(k)._forward_hooks for k in range(layout.num_layers))


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_firing_counts_equal_a_direct_computation(arch: str, tokenizer: AutoTokenizer) -> None:
    model = tiny_decoder(arch)
    layout = decoder_layout(model)
    counts, tokens = firing_counts(model, tokenizer, {"en": TEXTS["en"]}, batch_size=2, max_length=32)
    expected = np.zeros((layout.num_layers, layout.intermediate_size), dtype=int)
    n = 0
    acts: dict[int, torch.Tensor] = {}
    handles = [
        layout.gate_proj(k).register_forward_hook(lambda m, i, o, k=k: acts.__setitem__(k, layout.act_fn(k)(o)))
        for k in range(layout.num_layers)
    ]
    for text in TEXTS["en"]:  # one sentence at a time, no padding, activations kept
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.no_grad():
            model(input_ids=ids)
        for k in range(layout.num_layers):
            expected[k] += (acts[k][0] > 0).sum(dim=0).numpy()
        n += ids.shape[1]
    for h in handles:
        h.remove()
    assert tokens["en"] == n
    np.testing.assert_array_equal(counts["en"], expected)


def test_lape_finds_a_neuron_that_fires_for_one_language_only() -> None:
    rng = np.random.default_rng(0)
    languages = ["en", "de", "bn"]
    tokens = {lang: 1000 for lang in languages}
    counts = {lang: rng.integers(400, 600, size=(2, 50)) for lang in languages}  # shared neurons
    counts["bn"][1, 7] = 900
    counts["en"][1, 7] = counts["de"][1, 7] = 0  # layer 1, neuron 7: Bengali only
    counts["de"][0, 3] = 950
    counts["en"][0, 3], counts["bn"][0, 3] = 20, 10  # mostly German
    probabilities = activation_probabilities(counts, tokens)
    entropy = lape_entropy(probabilities)
    assert entropy[1, 7] == pytest.approx(0.0) and entropy[0, 3] < 0.2
    assert entropy[0, 0] == pytest.approx(np.log(3), abs=0.05)
    neurons = language_specific_neurons(probabilities, top_fraction=0.02, filter_quantile=0.95)
    assert [(layer, neuron, languages[lang]) for layer, neuron, lang, _ in neurons] == [(1, 7, "bn"), (0, 3, "de")]
    assert counts_by_language_and_layer(neurons, languages, 2) == {"en": [0, 0], "de": [1, 0], "bn": [0, 1]}


def test_lape_entropy_of_a_silent_neuron_is_undefined_and_never_selected() -> None:
    probabilities = np.zeros((2, 1, 3))
    probabilities[0, 0, 1] = 0.5
    probabilities[:, 0, 2] = [0.3, 0.3]
    entropy = lape_entropy(probabilities)
    assert np.isnan(entropy[0, 0]) and entropy[0, 1] == 0.0 and entropy[0, 2] == pytest.approx(np.log(2))
    assert [n[:3] for n in language_specific_neurons(probabilities, 0.34, filter_quantile=0)] == [(0, 1, 0)]


def reference_unfiltered_selection(probabilities: np.ndarray, top_fraction: float) -> set[tuple[int, int, int]]:
    """LAPE as the paper's runs select neurons (no activation-frequency filter), written out
    independently: entropy over languages of the normalised probabilities, neurons that never
    fire ranked last, the int(top_fraction × neurons) lowest, each given to its argmax language."""
    p = np.moveaxis(probabilities, 0, -1)  # layers × neurons × languages
    total = p.sum(-1)
    shares = p / np.where(total > 0, total, 1)[..., None]
    entropy = -(shares * np.log(np.where(shares > 0, shares, 1))).sum(-1)
    entropy[total == 0] = np.inf
    k = max(1, int(entropy.size * top_fraction))
    flat = np.argsort(entropy.reshape(-1), kind="stable")[:k]
    num_neurons = p.shape[1]
    return {
        (int(i) // num_neurons, int(i) % num_neurons, int(p[i // num_neurons, i % num_neurons].argmax())) for i in flat
    }


def test_lape_filter_quantile_zero_is_the_unfiltered_selection() -> None:
    """filter_quantile = 0 selects exactly the unfiltered lowest-entropy neurons (the paper's
    protocol), while the default 0.95 filter drops rare low-entropy neurons from the same data."""
    rng = np.random.default_rng(1)
    probabilities = rng.uniform(0.05, 0.9, size=(3, 2, 50))  # 3 languages, 2 layers, 50 neurons
    rare = [(0, 4), (0, 9), (1, 2), (1, 30)]
    for (layer, neuron), lang in zip(rare, [0, 1, 2, 0], strict=True):  # fire rarely, mostly in one language
        probabilities[:, layer, neuron] = rng.uniform(1e-5, 5e-5, size=3)
        probabilities[lang, layer, neuron] = 2e-3
    probabilities[:, 1, 40] = 0.0  # dead: never a candidate
    top_fraction = 0.1  # 10 of 100 neurons, no rounding question
    unfiltered = language_specific_neurons(probabilities, top_fraction, filter_quantile=0)
    assert {n[:3] for n in unfiltered} == reference_unfiltered_selection(probabilities, top_fraction)
    assert len(unfiltered) == 10 and set(rare) <= {n[:2] for n in unfiltered}
    filtered = language_specific_neurons(probabilities, top_fraction, filter_quantile=0.95)
    assert not set(rare) & {n[:2] for n in filtered}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_lape_end_to_end_is_deterministic(arch: str, tokenizer: AutoTokenizer) -> None:
    model = tiny_decoder(arch)
    first = lape(model, tokenizer, TEXTS, top_fraction=0.05, batch_size=2, max_length=32)
    assert first == lape(model, tokenizer, TEXTS, top_fraction=0.05, batch_size=2, max_length=32)
    assert set(first["counts"]) == set(TEXTS) and all(len(v) == 2 for v in first["counts"].values())
    assert sum(first["counts_total"].values()) == len(first["neurons"]) > 0


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_mexa_retrieval_is_one_on_identical_inputs(arch: str, tokenizer: AutoTokenizer) -> None:
    model = tiny_decoder(arch)
    same = {"en": TEXTS["en"], "de": list(TEXTS["en"])}
    result = mexa(model, tokenizer, same, batch_size=2, max_length=32)
    assert result["pairs"]["en-de"] == [1.0, 1.0] and result["en_x_mean"] == [1.0, 1.0]
    states = mean_pooled_states(model, tokenizer, TEXTS["de"], batch_size=2, max_length=32)
    alone = mean_pooled_states(model, tokenizer, TEXTS["de"][:1], batch_size=1, max_length=32)
    assert states.shape == (2, 3, 32)
    np.testing.assert_allclose(states[:, :1], alone, atol=1e-5)  # padding does not leak into the mean


def test_retrieval_accuracy_by_hand() -> None:
    a = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert retrieval_accuracy(a, a * 3) == 1.0
    b = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # first two swapped
    assert retrieval_accuracy(a, b) == pytest.approx(1 / 3)


def test_unsupported_architecture_fails_clearly() -> None:
    config = AutoConfig.for_model("gpt2", n_layer=1, n_embd=16, n_head=2, vocab_size=50, bos_token_id=0, eos_token_id=0)
    with pytest.raises(PolyfactError, match="GPT2LMHeadModel.*unsupported architecture"):
        decoder_layout(AutoModelForCausalLM.from_config(config))


def test_parallel_text_from_the_dataset_keeps_complete_rows(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    rows = [
        {"fact_id": "a", "question_en": "Q1", "question_de": "F1"},
        {"fact_id": "b", "question_en": "Q2"},
        {"fact_id": "c", "question_en": "Q3", "question_de": "F3"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    texts = load_texts({"source": "dataset", "path": str(path)}, ["en", "de"], max_sentences=None)
    assert texts == {"en": ["Q1", "Q3"], "de": ["F1", "F3"]}
    assert load_texts({"source": "dataset", "path": str(path)}, ["en", "de"], 1) == {"en": ["Q1"], "de": ["F1"]}
    with pytest.raises(PolyfactError, match="every analysed language"):
        parallel_text([{"en": "x"}], ["en", "bn"], None)


def test_interpretability_table_and_figures(tmp_path: Path) -> None:
    langs = ["en", "de", "bn"]
    files: dict[str, list[str]] = {"lape": [], "lahis": [], "mexa": []}
    for k, method in enumerate(["base", "sft", "grpo"]):
        root = tmp_path / "results/interp/toy" / method
        write_json(
            root / "lape.json",
            {
                "languages": langs,
                "counts": {"en": [k, 1], "de": [0, 2], "bn": [3, 0]},
                "counts_total": {"en": k + 1, "de": 2, "bn": 3},
            },
        )
        overlap = [[1.0, 0.5, 0.25], [0.5, 1.0, 0.0], [0.25, 0.0, 1.0]]
        write_json(
            root / "lahis.json",
            {"languages": langs, "overlap": overlap, "mean_overlap_off_diagonal": 0.25, "heads_by_layer": [1, 2]},
        )
        curve = [0.1 * (k + 1), 0.2 * (k + 1)]
        write_json(
            root / "mexa.json",
            {"languages": langs, "en_x_mean": curve, "all_pairs_mean": curve, "middle_layer_all_pairs": curve[1]},
        )
        for name in files:
            files[name].append(str(root / f"{name}.json"))
    rows = interpretability_rows(files["lape"], files["lahis"], files["mexa"], low_resource=["bn"])
    assert rows[2] == {
        "model": "toy",
        "method": "grpo",
        "lape_neurons": 8,
        "lape_high": 5,
        "lape_low": 3,
        "lahis_overlap": 0.25,
        "mexa_middle": pytest.approx(0.6),
        "mexa_middle_delta": pytest.approx(0.4),
    }
    md, csv = tmp_path / "interp.md", tmp_path / "interp.csv"
    args = ["report", "interpretability", *(x for n in files for x in (f"--{n}", *files[n]))]
    main([*args, "--low-resource", "bn", "--md", str(md), "--csv", str(csv)])
    assert "| toy | grpo | 8 | 5 | 3 | 0.250 | 0.600 | 0.400 |" in md.read_text()
    names = ["lape-by-language", "lape-by-layer", "lahis-by-layer", "lahis-overlap", "mexa-by-layer", "mexa-delta"]
    outs = [
        a for name in names for a in (f"--{name}", str(tmp_path / f"fig/{name}.png"), str(tmp_path / f"fig/{name}.pdf"))
    ]
    main(["report", "interp-figures", *(x for n in files for x in (f"--{n}", *files[n])), *outs])
    assert all((tmp_path / f"fig/{name}.pdf").read_bytes().startswith(b"%PDF") for name in names)
