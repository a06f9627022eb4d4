"""DCO and CM-Align: the DCO loss against hand-computed values, its instances (aligned by
option_ids, random not gold), the pair-keeping sampler, CM-Align's pivot and pairs, and short
real training runs of both on TRL's DPOTrainer (LoRA with the adapter-disabled reference)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from polyfact.errors import PolyfactError
from polyfact.models.chat import ChatRequest
from polyfact.train import cmalign, dco
from polyfact.train.settings import LoraSpec, RunSpec

LANGS = ["en", "de", "ru"]


def records(n_facts: int) -> dict[str, list[dict]]:
    """n facts in every language; each language lists the same four entities in its own order."""
    out: dict[str, list[dict]] = {lang: [] for lang in LANGS}
    for k in range(n_facts):
        entities = [f"E{k}-{i}" for i in range(4)]
        for j, lang in enumerate(LANGS):
            order = entities[j:] + entities[:j]  # rotated per language
            out[lang].append(
                {
                    "fact_id": f"t:{k:02d}|P30|c:X",
                    "language": lang,
                    "question": f"{lang} question {k}?",
                    **{f"option_{c}": f"{lang}:{e}" for c, e in zip("abcd", order, strict=True)},
                    "option_ids": order,
                    "answer_index": order.index(entities[0]),
                }
            )
    return out


def test_dco_loss_matches_hand_computed_values() -> None:
    # one instance: language 1 then 2
    chosen = torch.tensor([[-1.0, -2.0]])
    rejected = torch.tensor([[-3.0, -1.5]])
    ref_chosen = torch.tensor([[-1.5, -2.5]])
    ref_rejected = torch.tensor([[-2.0, -1.0]])
    beta = 0.5
    # reward_1 = (-1 + 1.5) - (-3 + 2) = 1.5 ; reward_2 = (-2 + 2.5) - (-1.5 + 1) = 1.0
    # offset_1 = -1.5 + 2 = 0.5 ; offset_2 = -2.5 + 1 = -1.5
    # loss = |1.5 - (-1.5 / 0.5)| + |1.0 - 0.5 * 0.5| = 4.5 + 0.75
    loss = dco.dco_loss(chosen, rejected, ref_chosen, ref_rejected, beta)
    assert loss.tolist() == pytest.approx([5.25])
    # at the reference with β = 1 and equal offsets, the loss is |−o| + |−o| = 2|o|
    same = torch.tensor([[-1.0, -1.0]])
    other = torch.tensor([[-2.0, -2.0]])
    assert dco.dco_loss(same, other, same, other, 1.0).tolist() == pytest.approx([2.0])


def test_dco_instances_pair_the_same_entities_across_languages() -> None:
    data = records(20)
    instances = dco.dco_instances(data, None, seed=3)
    assert len(instances) == 40 and instances == dco.dco_instances(data, None, seed=3)
    chosen_gold = 0
    for first, second in zip(instances[::2], instances[1::2], strict=True):
        assert first["fact_id"] == second["fact_id"] and first["language"] != second["language"]
        assert first["prompt"].startswith("Question: ") and first["prompt"].endswith("\nAnswer:")
        # the same entity in both languages: "en:E3-1" and "de:E3-1"
        assert first["chosen"].split(":", 1)[1] == second["chosen"].split(":", 1)[1]
        assert first["rejected"].split(":", 1)[1] == second["rejected"].split(":", 1)[1]
        assert first["chosen"] != first["rejected"]
        chosen_gold += first["chosen"].endswith("-0")
    assert 0 < chosen_gold < 20  # random options, not the gold one
    assert len(dco.dco_instances(data, 5, seed=3)) == 10


def test_dco_skips_facts_whose_entities_differ_and_needs_two_languages() -> None:
    data = records(3)
    data["de"][0]["option_ids"] = ["X", "Y", "Z", "W"]
    two = {lang: data[lang] for lang in ("en", "de")}
    assert {i["fact_id"] for i in dco.dco_instances(two, None, 0)} == {"t:01|P30|c:X", "t:02|P30|c:X"}
    with pytest.raises(PolyfactError, match="at least two"):
        dco.dco_instances({"en": data["en"]}, None, 0)


def test_instance_sampler_keeps_both_rows_together() -> None:
    sampler = dco.InstanceSampler(10, seed=1)
    order = list(sampler)
    assert sorted(order) == list(range(10))
    assert all(order[i] // 2 == order[i + 1] // 2 and order[i] % 2 == 0 for i in range(0, 10, 2))
    assert list(sampler) == order  # the same epoch replays the same order (resume)
    sampler.set_epoch(1)
    assert list(sampler) != order  # a new order each epoch
    with pytest.raises(PolyfactError):
        dco.InstanceSampler(3, seed=1)


def spec_for(tmp_path: Path, lora: LoraSpec | None = None, **trainer) -> RunSpec:
    fields = {"max_steps": 3, "save_steps": 100, "logging_steps": 1, "learning_rate": 1e-3}
    return RunSpec(tmp_path / "out", tmp_path / "ckpt", trainer=fields | trainer, lora=lora, seed=7)


SMALL_LORA = LoraSpec(r=4, alpha=8, dropout=0.0, target_modules=("q_proj", "v_proj"))


@pytest.mark.parametrize("lora", [SMALL_LORA, None], ids=["lora", "full"])
def test_dco_trains_and_logs_its_agreement(tiny_model_dir: Path, tmp_path: Path, lora: LoraSpec | None) -> None:
    spec = spec_for(tmp_path, lora)
    stats = dco.train_dco(tiny_model_dir, spec.out_dir, records(6), spec, instances_per_step=2, max_instances=None)
    assert stats["method"] == "dco" and stats["steps"] == 3 and stats["instances"] == 6
    history = stats["preference_history"]
    assert [h["step"] for h in history] == [1, 2, 3]
    assert all(0.0 <= h["dco/agreement"] <= 1.0 for h in history)
    # step 1 starts at the reference: the policy's rewards are zero
    assert history[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-5)
    saved = json.loads((spec.out_dir / "train_stats.json").read_text())
    assert saved["settings"]["beta"] == 0.1 and saved["rows"] == 12
    assert (spec.out_dir / "model.safetensors").is_file()


def test_dco_batch_is_derived_from_instances_per_step(tmp_path: Path) -> None:
    args = dco.dco_arguments(spec_for(tmp_path, gradient_accumulation_steps=2), instances_per_step=4)
    assert args.per_device_train_batch_size == 4
    with pytest.raises(PolyfactError, match="multiple of gradient_accumulation_steps"):
        dco.dco_arguments(spec_for(tmp_path, gradient_accumulation_steps=3), instances_per_step=4)


def test_tokenised_options_continue_the_prompt_without_eos(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    row = dco.tokenize_continuations({"prompt": "Question: X?\nAnswer:", "chosen": " Europe", "rejected": " A"}, tok)
    assert row["prompt_ids"] + row["chosen_ids"] == tok("Question: X?\nAnswer: Europe")["input_ids"]
    assert tok.eos_token_id not in row["chosen_ids"] + row["rejected_ids"]


def test_pivot_is_the_candidate_closest_to_the_others() -> None:
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2]])
    assert cmalign.pivot_index(emb) == 1
    assert cmalign.pivot_index(emb[:1]) == 0


def test_fact_pairs_choose_nearest_and_farthest_from_the_pivot() -> None:
    candidates = {"en": ["Paris", "Paris", "Lyon", ""], "de": ["Paris", "Berlin", "Paris!"], "ru": ["A", "A"]}
    vectors = {
        "Paris": [1.0, 0.0],
        "Lyon": [0.0, 1.0],
        "": [-1.0, -1.0],
        "Berlin": [-0.2, 1.0],
        "Paris!": [0.9, 0.2],
        "A": [0.5, 0.5],
    }
    embeddings = {lang: np.array([vectors[t] for t in ts]) for lang, ts in candidates.items()}
    reference, pairs = cmalign.fact_pairs(candidates, embeddings, "en")
    assert reference == "Paris"
    assert [(p["language"], p["chosen"], p["rejected"]) for p in pairs] == [("de", "Paris", "Berlin")]
    # no non-empty pivot candidate: no pairs
    assert cmalign.fact_pairs({"en": ["", ""], "de": ["x", "y"]}, embeddings | {"en": np.eye(2)}, "en") == (None, [])


def test_answer_text_is_the_first_line() -> None:
    assert cmalign.answer_text("  Europa \nmore") == "Europa"
    assert cmalign.answer_text("\n\n") == ""


def fake_answers(requests: dict[str, ChatRequest]) -> dict[str, str]:
    """Deterministic stand-in rollouts: candidate k of fact f answers `ans{(f + k) % 3}`."""
    out = {}
    for rid in requests:
        fact, _, k = rid.split("|")[0], rid.split("|")[-2], int(rid.split("|")[-1])
        out[rid] = f" ans{(int(fact[2:4]) + k) % 3}\nextra"
    return out


def test_construct_pairs_from_rollouts() -> None:
    data = records(5)
    spec = cmalign.ConstructSpec(num_candidates=3, max_facts=4, prompt="paper")
    facts = cmalign.select_facts([r["fact_id"] for r in data["en"]], spec.max_facts, seed=1)
    assert len(facts) == 4 and facts == cmalign.select_facts([r["fact_id"] for r in data["en"]], 4, seed=1)
    requests = cmalign.rollout_requests(data, facts, spec, {}, seed=1)
    assert len(requests) == 4 * 3 * 3 and len({r.seed for r in requests.values()}) == len(requests)
    assert all(not r.messages and r.prefix.endswith("Answer text:") for r in requests.values())

    def encode(texts):  # one axis per answer text
        return np.array([[t == "ans0", t == "ans1", t == "ans2"] for t in texts], dtype=float)

    rows, stats = cmalign.construct_pairs(data, facts, requests, fake_answers(requests), encode, spec)
    assert stats["pairs"] == len(rows) == 4 * 2  # every fact, de and ru
    for row in rows:
        assert row["chosen"] == " " + row["pivot"] and row["rejected"] != row["chosen"]
        assert row["prompt"] == requests[f"{row['fact_id']}|{row['language']}|0"].prefix
    assert stats["pairs_per_language"] == {"de": 4, "ru": 4}
    with pytest.raises(PolyfactError, match="pivot"):
        cmalign.construct_pairs(data, facts, requests, {}, encode, cmalign.ConstructSpec(pivot="fr"))


def test_run_construct_samples_with_the_policy_and_resumes_from_its_cache(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = cmalign.ConstructSpec(
        num_candidates=2, max_facts=2, prompt="paper", max_new_tokens=4, backend="transformers"
    )
    data = records(3)
    rows, stats = cmalign.run_construct(tiny_model_dir, data, {}, spec, 5, 1, tmp_path / "cache", "toy-cmalign")
    assert stats["rollouts"] == {"requests": 12, "cached": 0, "generated": 12}
    again, stats2 = cmalign.run_construct(tiny_model_dir, data, {}, spec, 5, 1, tmp_path / "cache", "toy-cmalign")
    assert stats2["rollouts"]["cached"] == 12 and again == rows


def test_cmalign_trains_dpo_on_pairs(tiny_model_dir: Path, tmp_path: Path) -> None:
    pairs = [
        {"prompt": f"Q{k} →", "chosen": " Europa", "rejected": " Asia", "language": "de", "fact_id": str(k)}
        for k in range(4)
    ]
    spec = spec_for(tmp_path, SMALL_LORA, per_device_train_batch_size=2, max_steps=4, learning_rate=5e-3)
    stats = cmalign.train_cmalign(tiny_model_dir, spec.out_dir, pairs, spec, nll_gamma=0.5)
    assert stats["method"] == "cmalign" and stats["steps"] == 4
    assert stats["settings"]["loss_type"] == ["sigmoid", "sft"] and stats["settings"]["nll_gamma"] == 0.5
    history = stats["preference_history"]
    assert history[-1]["rewards/margins"] > history[0]["rewards/margins"]
    with pytest.raises(PolyfactError, match="no CM-Align preference pair"):
        cmalign.train_cmalign(tiny_model_dir, spec.out_dir, [], spec, 0.0)


@pytest.fixture
def tiny_sentence_encoder() -> Path:
    """A tiny random BERT with CLS pooling in LaBSE's sentence-transformers layout, the
    rehearsal's stand-in (tests/fixtures/rehearsal/make_encoder.py)."""
    return Path(__file__).resolve().parents[1] / "fixtures/rehearsal/hub/LaBSE"


def test_a_sentence_transformers_directory_embeds_cmalign_candidates(tiny_sentence_encoder: Path) -> None:
    spec = cmalign.ConstructSpec(encoder=str(tiny_sentence_encoder))
    vectors = cmalign.policy_encoder("unused", spec)(["Europa", "Asia", "Europa"])
    assert vectors.shape == (3, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0) and np.allclose(vectors[0], vectors[2])
    missing = cmalign.ConstructSpec(encoder=str(tiny_sentence_encoder / "absent"))
    with pytest.raises(PolyfactError, match=r"cmalign.construct.encoder .* cannot be loaded"):
        cmalign.policy_encoder("unused", missing)(["x"])


def test_acquire_encoder_copies_a_local_model_whole(
    tiny_sentence_encoder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from polyfact.cli import main

    spec = json.dumps({"hub": "sentence-transformers/LaBSE", "revision": "main", "local": str(tiny_sentence_encoder)})
    out, manifest = tmp_path / "data/encoders/LaBSE", tmp_path / "encoder.json"
    main(["acquire", "encoder", "--spec", spec, "--manifest", str(manifest), "--out", str(out)])
    assert (out / "modules.json").is_file()
    record = json.loads(manifest.read_text())
    assert {f["path"] for f in record["files"]} >= {"modules.json", "config.json"}
    not_a_model = tmp_path / "plain"
    not_a_model.mkdir()
    (not_a_model / "config.json").write_text("{}")
    bad = json.dumps({"hub": None, "revision": "main", "local": str(not_a_model)})
    with pytest.raises(SystemExit):
        main(
            ["acquire", "encoder", "--spec", bad, "--manifest", str(tmp_path / "m.json"), "--out", str(tmp_path / "x")]
        )
    assert "modules.json" in caplog.text and "not a sentence-transformers model" in caplog.text
    assert not (tmp_path / "x").exists() and not (tmp_path / "m.json").exists()


def test_preference_sections_take_dpo_config_fields_and_reject_derived_ones() -> None:
    from polyfact.train.settings import TrainerSettingsError, check_method_section

    check_method_section("dco", {"beta": 1.0, "max_length": 256, "instances_per_step": 4}, {"save_steps": 10})
    check_method_section("cmalign", {"beta": 0.1, "nll_gamma": 0.5, "construct": {}}, {})
    with pytest.raises(TrainerSettingsError, match=r"dco.per_device_train_batch_size: derived"):
        check_method_section("dco", {"per_device_train_batch_size": 8}, {})
    with pytest.raises(TrainerSettingsError, match=r"cmalign.loss_type: derived from sigmoid"):
        check_method_section("cmalign", {"loss_type": "ipo"}, {})
    with pytest.raises(TrainerSettingsError, match=r"dco.betta: not a field of DPOConfig; did you mean beta"):
        check_method_section("dco", {"betta": 1.0}, {})
