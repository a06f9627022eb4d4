"""SFT: prompt format, letter tokens, the four-letter and answer-text losses against hand
computations, fact-grouped batches, the held-out scorer, and end-to-end training (full, LoRA
merged, resumed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from polyfact.errors import PolyfactError
from polyfact.evaluate.mcq import predict
from polyfact.models.toy import train_tokenizer
from polyfact.prompts import sft_prompt
from polyfact.train.grouping import FactGroupSampler
from polyfact.train.settings import LoraSpec, RunSpec
from polyfact.train.sft import (
    answer_example,
    build_sft_trainer,
    letter_loss,
    letter_token_ids,
    sft_arguments,
    train_sft,
)
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer

LANGS = ["en", "de", "ru"]
QUESTION = {
    "en": "On which continent is country {k}?",
    "de": "Auf welchem Kontinent liegt Land {k}?",
    "ru": "Где страна {k}?",
}


def records(n_facts: int) -> dict[str, list[dict]]:
    """n facts in every language; option order and gold differ per language, as in the dataset."""
    out: dict[str, list[dict]] = {lang: [] for lang in LANGS}
    for k in range(n_facts):
        for j, lang in enumerate(LANGS):
            opts = [f"{lang}-opt{k}-{i}" for i in range(4)]
            out[lang].append(
                {
                    "fact_id": f"t:{k:02d}|P30|c:X",
                    "language": lang,
                    "question": QUESTION[lang].format(k=k),
                    "option_a": opts[0],
                    "option_b": opts[1],
                    "option_c": opts[2],
                    "option_d": opts[3],
                    "answer_index": (k + j) % 4,
                }
            )
    return out


def spec_for(tmp_path: Path, lora: LoraSpec | None = None, **trainer) -> RunSpec:
    fields = {"max_steps": 2, "save_steps": 100, "logging_steps": 1}
    return RunSpec(tmp_path / "out", tmp_path / "ckpt", trainer=fields | trainer, lora=lora)


def test_prompt_exact() -> None:
    row = {"question": "Q?", "option_a": "w", "option_b": "x", "option_c": "y", "option_d": "z"}
    assert sft_prompt(row) == "Question: Q?\nA. w\nB. x\nC. y\nD. z\nAnswer:"


def test_letter_ids(tiny_model_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = letter_token_ids(tok)
    assert len(set(ids)) == 4
    assert [tok.decode([i]) for i in ids] == [" A", " B", " C", " D"]
    # The answer letter follows "Answer:" as the same single token in context.
    assert tok("Answer: C", add_special_tokens=False)["input_ids"][-1] == ids[2]


def test_letter_ids_split_fails_clearly() -> None:
    tok = train_tokenizer(["hello world"] * 5, vocab_size=270)
    with pytest.raises(PolyfactError, match="single tokens"):
        letter_token_ids(tok)


def test_letter_loss_pure() -> None:
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, 9.0], [5.0, -1.0, 0.5, 0.0, 2.0, -9.0]])
    letter_ids = [1, 2, 3, 4]
    gold = torch.tensor([2, 0])
    four = [[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.0]]
    nll = [-(f[g] - torch.logsumexp(torch.tensor(f), 0)) for f, g in zip(four, gold.tolist(), strict=False)]
    assert letter_loss(logits, gold, letter_ids).item() == pytest.approx(sum(nll).item() / 2, abs=1e-6)


def fact_of(prompt: str) -> int:
    """The fact number k in a decoded prompt's question."""
    match = re.search(r"(\d+)\?\n", prompt)
    assert match, prompt
    return int(match.group(1))


def hand_loss(model, tok, rows: list[dict], letter_ids: list[int]) -> float:
    """Unpadded forward per row; log-softmax over the 4 letter logits at the last prompt position."""
    total = 0.0
    for row in rows:
        ids = torch.tensor([tok(sft_prompt(row))["input_ids"]])
        with torch.no_grad():
            last = model(input_ids=ids).logits[0, -1]
        logp = torch.log_softmax(last[letter_ids], dim=0)
        total -= logp[row["answer_index"]].item()
    return total / len(rows)


def test_letter_loss_matches_hand_computation_on_model(tiny_model_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    letter_ids = letter_token_ids(tok)
    rows = records(1)["de"] + records(1)["ru"]
    last = []
    for row in rows:
        ids = torch.tensor([tok(sft_prompt(row))["input_ids"]])
        with torch.no_grad():
            last.append(model(input_ids=ids).logits[0, -1])
    loss = letter_loss(torch.stack(last), torch.tensor([r["answer_index"] for r in rows]), letter_ids)
    assert loss.item() == pytest.approx(hand_loss(model, tok, rows, letter_ids), rel=1e-5)


def test_trainer_loss_on_padded_batch_equals_hand(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = records(4)
    data["ru"][1]["question"] = "Где находится страна с очень длинным названием номер 1?"  # forces left padding
    trainer = build_sft_trainer(model, tok, data, spec_for(tmp_path), facts_per_step=2)
    batch = next(iter(trainer.get_train_dataloader()))
    assert (batch["attention_mask"] == 0).any()
    facts = {fact_of(p) for p in tok.batch_decode(batch["input_ids"], skip_special_tokens=True)}
    rows = [r for lang in LANGS for r in data[lang] if int(r["fact_id"][2:4]) in facts]
    assert len(rows) == 6
    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, trainer._prepare_inputs(batch))
    assert loss.item() == pytest.approx(hand_loss(model, tok, rows, trainer.letter_ids), rel=1e-5)


def test_every_batch_holds_whole_facts(tiny_model_dir: Path, tmp_path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trainer = build_sft_trainer(model, tok, records(5), spec_for(tmp_path), facts_per_step=2)
    seen = []
    for batch in trainer.get_train_dataloader():
        prompts = tok.batch_decode(batch["input_ids"], skip_special_tokens=True)
        facts = [fact_of(p) for p in prompts]
        langs = [p.split("\n")[0] for p in prompts]
        assert len(prompts) in (2 * len(LANGS), len(LANGS))  # 2 facts, or the 1 left over
        for f in set(facts):
            assert facts.count(f) == len(LANGS)
        assert len(set(langs)) == len(prompts)  # each language of a fact once
        seen += sorted(set(facts))
    assert sorted(seen) == list(range(5))


def test_micro_batch_is_whole_facts(tmp_path: Path) -> None:
    args = sft_arguments(spec_for(tmp_path, gradient_accumulation_steps=2), facts_per_step=4, n_langs=3)
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (6, 2)  # 2 facts × 3 languages
    with pytest.raises(PolyfactError, match="facts_per_step=3"):
        sft_arguments(spec_for(tmp_path, gradient_accumulation_steps=2), facts_per_step=3, n_langs=3)


def test_sampler_seeded_per_epoch() -> None:
    groups = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    s = FactGroupSampler(groups, 3)
    first = list(s)
    assert list(FactGroupSampler(groups, 3)) == first
    assert sorted(first) == list(range(12))
    assert all(first[i : i + 3] in groups for i in range(0, 12, 3))
    orders = set()
    for epoch in range(6):
        s.set_epoch(epoch)
        orders.add(tuple(s))
    assert len(orders) > 1


def test_mismatched_fact_sets_fail(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = records(3)
    data["de"] = data["de"][:2]
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    with pytest.raises(PolyfactError, match="different facts"):
        build_sft_trainer(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tok, data, spec_for(tmp_path), 1)


def test_train_sft_end_to_end(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = spec_for(tmp_path, learning_rate=1e-2)
    stats = train_sft(tiny_model_dir, spec.out_dir, records(4), spec, facts_per_step=2)
    assert stats["steps"] == 2 and stats["rows_per_step"] == 6 and stats["facts"] == 4
    saved = json.loads((spec.out_dir / "train_stats.json").read_text())
    assert saved["method"] == "sft" and saved["tokens_trained"] > 0 and saved["lora"] is None
    model = AutoModelForCausalLM.from_pretrained(spec.out_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(model.model.layers[0].self_attn.q_proj.weight, base.model.layers[0].self_attn.q_proj.weight)
    assert not spec.checkpoint_dir.exists()


def test_train_sft_lora_merges(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = spec_for(tmp_path, learning_rate=1e-2, lora=LoraSpec(r=4, alpha=8, dropout=0.0))
    stats = train_sft(tiny_model_dir, spec.out_dir, records(2), spec, facts_per_step=1)
    assert stats["steps"] == 2
    with safe_open(spec.out_dir / "model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert keys and not any("lora" in k for k in keys)
    model = AutoModelForCausalLM.from_pretrained(spec.out_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(model.model.layers[0].self_attn.q_proj.weight, base.model.layers[0].self_attn.q_proj.weight)
    assert torch.equal(model.model.layers[0].mlp.up_proj.weight, base.model.layers[0].mlp.up_proj.weight)
    assert json.loads((spec.out_dir / "train_stats.json").read_text())["lora"]["r"] == 4


def test_train_sft_resumes_from_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = records(4)
    first = spec_for(tmp_path, max_steps=1, save_steps=1)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    build_sft_trainer(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tok, data, first, 1).train()
    assert (first.checkpoint_dir / "checkpoint-1").is_dir()  # left behind, as by a killed job
    spec = spec_for(tmp_path, max_steps=2, save_steps=1)
    stats = train_sft(tiny_model_dir, spec.out_dir, data, spec, facts_per_step=1)
    assert stats["resumed_from"].endswith("checkpoint-1")
    assert stats["steps"] == 2
    assert (spec.out_dir / "train_stats.json").is_file()


def test_lora_adapters_are_drawn_from_the_seed(tiny_model_dir: Path) -> None:
    """LoRA's A matrices are drawn when the adapter is made, before the Trainer seeds anything
    (B starts at zero, so unseeded runs agreed at step 1 and drifted from step 2)."""
    from polyfact.train.common import apply_lora

    def adapter(global_seed: int, seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(global_seed)  # whatever ran before
        model = apply_lora(AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraSpec(r=4, alpha=8), seed)
        return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_A" in k}

    first, second, other = adapter(1, 7), adapter(2, 7), adapter(1, 8)
    assert first and all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def answer_hand_loss(model, tok, rows) -> float:
    """Mean cross-entropy over every answer token (" " + gold option, then EOS) of `rows`."""
    total, count = 0.0, 0
    for row in rows:
        prompt = f"Question: {row['question']}\nAnswer:"
        answer = row[["option_a", "option_b", "option_c", "option_d"][row["answer_index"]]]
        head = tok(prompt)["input_ids"]
        ids = tok(prompt + " " + answer)["input_ids"] + [tok.eos_token_id]
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
        for pos in range(len(head), len(ids)):
            total -= logp[pos - 1, ids[pos]].item()
            count += 1
    return total / count


def test_answer_example_labels_only_the_answer_and_eos(tiny_model_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    row = records(1)["de"][0]
    example = answer_example(row, tok)
    labelled = [i for i, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100]
    assert labelled[-1] == tok.eos_token_id
    assert tok.decode(labelled[:-1]) == " " + row["option_b"]  # answer_index (0 + 1) % 4
    assert tok.decode(example["input_ids"][: len(example["input_ids"]) - len(labelled)], skip_special_tokens=True) == (
        f"Question: {row['question']}\nAnswer:"
    )


def test_answer_target_loss_on_padded_batch_equals_hand(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = records(4)
    data["ru"][1]["question"] = "Где находится страна с очень длинным названием номер 1?"  # forces padding
    trainer = build_sft_trainer(model, tok, data, spec_for(tmp_path), facts_per_step=2, target="answer")
    for batch in trainer.get_train_dataloader():
        if (batch["attention_mask"] == 0).any():
            break
    assert (batch["attention_mask"] == 0).any()
    facts = {fact_of(p) for p in tok.batch_decode(batch["input_ids"], skip_special_tokens=True)}
    rows = [r for lang in LANGS for r in data[lang] if int(r["fact_id"][2:4]) in facts]
    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, trainer._prepare_inputs(batch))
    assert loss.item() == pytest.approx(answer_hand_loss(model, tok, rows), rel=1e-5)


def test_answer_target_batches_hold_whole_facts(tiny_model_dir: Path, tmp_path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trainer = build_sft_trainer(model, tok, records(5), spec_for(tmp_path), facts_per_step=2, target="answer")
    seen = []
    for batch in trainer.get_train_dataloader():
        facts = [fact_of(p) for p in tok.batch_decode(batch["input_ids"], skip_special_tokens=True)]
        assert all(facts.count(f) == len(LANGS) for f in set(facts))
        seen += sorted(set(facts))
    assert sorted(seen) == list(range(5))


def test_answer_target_held_out_accuracy_is_the_evaluation_scorer(tiny_model_dir: Path, tmp_path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    data = records(6)
    held = {lang: rows[:2] for lang, rows in data.items()}
    trainer = build_sft_trainer(model, tok, data, spec_for(tmp_path), 2, held_out=held, target="answer")
    metrics = trainer.evaluate()
    expected = [p["correct"] for p in predict(model, tok, [r for rows in held.values() for r in rows])]
    assert metrics["eval_accuracy"] == pytest.approx(sum(expected) / len(expected))


def test_unknown_target_fails(tiny_model_dir: Path, tmp_path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    with pytest.raises(PolyfactError, match="sft.target"):
        build_sft_trainer(
            AutoModelForCausalLM.from_pretrained(tiny_model_dir), tok, records(2), spec_for(tmp_path), 1, target="text"
        )
