"""CPT end to end on the tiny model: packed parallel rows, causal-LM loss, saved model and stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from polyfact.errors import PolyfactError
from polyfact.train.cpt import CptSettings, causal_collate, train_cpt
from polyfact.train.settings import LoraSpec, RunSpec
from transformers import AutoModelForCausalLM

ROWS = [{"en": f"Question {k}?", "de": f"Frage {k}?", "ru": f"Вопрос {k}?"} for k in range(40)]


def spec_for(tmp_path: Path, lora: LoraSpec | None = None, **trainer) -> RunSpec:
    fields = {"max_steps": 2, "per_device_train_batch_size": 2, "save_steps": 100}
    return RunSpec(tmp_path / "out", tmp_path / "ckpt", trainer=fields | trainer, lora=lora)


def test_collate_labels_every_token_including_eos() -> None:
    batch = causal_collate([{"input_ids": [5, 0, 7]}, {"input_ids": [0, 1, 2]}])
    assert torch.equal(batch["labels"], batch["input_ids"])


def test_train_cpt_end_to_end(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = spec_for(tmp_path, learning_rate=1e-2, gradient_accumulation_steps=2)
    stats = train_cpt(tiny_model_dir, spec.out_dir, ROWS, spec, CptSettings(block_size=32))
    assert stats["steps"] == 2
    assert stats["tokens_trained"] == 2 * 2 * 2 * 32  # steps × batch × grad_accum × block
    assert stats["blocks"] > 0 and stats["train_loss"] > 0
    saved = json.loads((spec.out_dir / "train_stats.json").read_text())
    assert saved["method"] == "cpt" and saved["tokens_trained"] == stats["tokens_trained"]
    model = AutoModelForCausalLM.from_pretrained(spec.out_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(model.model.embed_tokens.weight, base.model.embed_tokens.weight)
    assert not spec.checkpoint_dir.exists()


def test_train_cpt_lora(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = spec_for(tmp_path, learning_rate=1e-2, lora=LoraSpec(r=4, alpha=8, dropout=0.0))
    stats = train_cpt(tiny_model_dir, spec.out_dir, ROWS, spec, CptSettings(block_size=32))
    assert stats["steps"] == 2
    model = AutoModelForCausalLM.from_pretrained(spec.out_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(model.model.layers[0].self_attn.v_proj.weight, base.model.layers[0].self_attn.v_proj.weight)


def test_corpus_too_small_fails(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    with pytest.raises(PolyfactError, match="fills no block"):
        train_cpt(tiny_model_dir, spec.out_dir, ROWS[:1], spec, CptSettings(block_size=100))
