"""Checkpoint selection: kept steps become merged candidates, the best on val becomes the model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from polyfact.errors import PolyfactError
from polyfact.evaluate.tables import checkpoint_label, main_rows
from polyfact.train.cpt import CptSettings, train_cpt
from polyfact.train.select import candidate_dir, choose, metric_value, select_checkpoint
from polyfact.train.settings import LoraSpec, RunSpec, TrainerSettingsError, check_trainer_sections, kept_steps
from transformers import AutoModelForCausalLM

ROWS = [{"en": f"Question {k}?", "de": f"Frage {k}?", "ru": f"Вопрос {k}?"} for k in range(40)]
SUMMARY = {"accuracy_mean": 0.5, "accuracy_high": 0.6, "accuracy_low": 0.3, "totcons": 0.2, "agreement": 0.4}


def summary(totcons: float) -> dict:
    return SUMMARY | {"totcons": totcons, "rankc": {"all_pairs": 0.7}}


def test_metric_value_reads_rankc_and_rejects_unknown() -> None:
    assert metric_value(summary(0.2), "rankc") == 0.7
    assert metric_value(summary(0.2), "totcons") == 0.2
    with pytest.raises(PolyfactError, match="unknown selection metric"):
        metric_value(summary(0.2), "loss")


def test_choose_prefers_the_best_then_final_then_later_step() -> None:
    assert choose({"final": 0.3, "step-10": 0.5, "step-20": 0.4}) == "step-10"
    assert choose({"final": 0.5, "step-10": 0.5}) == "final"
    assert choose({"step-10": 0.5, "step-20": 0.5, "final": 0.1}) == "step-20"
    with pytest.raises(PolyfactError, match="not a candidate name"):
        choose({"best": 1.0})


def test_kept_steps_must_precede_max_steps() -> None:
    assert kept_steps("grpo", {"max_steps": 40, "keep_checkpoints": [30, 10]}) == (10, 30)
    assert kept_steps("grpo", {"max_steps": 40}) == ()
    with pytest.raises(TrainerSettingsError, match=r"grpo.keep_checkpoints: step\(s\) \[40\]"):
        kept_steps("grpo", {"max_steps": 40, "keep_checkpoints": [40]})
    with pytest.raises(TrainerSettingsError, match="sft.keep_checkpoints"):
        check_trainer_sections({"sft": {"max_steps": 4, "keep_checkpoints": [5]}})


def _fake_model(path: Path, step: int, final_step: int | None = None) -> None:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "model.safetensors").write_bytes(f"weights {step}".encode())
    checkpoint = {"step": step} if final_step is None else {"step": step, "final_step": final_step}
    (path / "train_stats.json").write_text(json.dumps({"method": "grpo", "checkpoint": checkpoint}))


def _eval(path: Path, totcons: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summary": summary(totcons)}))
    return path


def test_select_links_the_best_candidate_and_records_why(tmp_path: Path) -> None:
    run = tmp_path / "runs/toy/grpo"
    _fake_model(run, 40)
    _fake_model(candidate_dir(run, "step-20"), 20, final_step=40)
    evals = [_eval(tmp_path / "sel/final.json", 0.30), _eval(tmp_path / "sel/step-20.json", 0.45)]
    out = tmp_path / "models/toy/grpo"
    assert select_checkpoint(run, evals, "totcons", out) == "step-20"
    assert (out / "model.safetensors").read_bytes() == b"weights 20"
    assert os.path.samefile(out / "model.safetensors", run / "checkpoints/step-20/model.safetensors")
    assert not (out / "checkpoints").exists()
    stats = json.loads((out / "train_stats.json").read_text())
    assert stats["checkpoint"]["candidate"] == "step-20"
    assert stats["checkpoint"]["scores"] == {"final": 0.30, "step-20": 0.45}
    assert checkpoint_label(stats) == "step 20 of 40 (val totcons 0.450)"
    # The main table names it.
    ev = _eval(tmp_path / "eval/toy/grpo/polyfact.json", 0.4)
    data = json.loads(ev.read_text())
    data["summary"] |= {
        "groups": {"unseen": {"accuracy": None}},
        "rankc": {"all_pairs": 0.7, "all_pairs_rescaled": 0.1},
    }
    ev.write_text(json.dumps(data))
    (row,) = main_rows([ev], [out])
    assert row["checkpoint"] == "step 20 of 40 (val totcons 0.450)"


def test_without_kept_steps_the_final_model_is_linked_unscored(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fake_model(run, 40)
    assert select_checkpoint(run, [], "totcons", tmp_path / "out") == "final"
    assert json.loads((tmp_path / "out/train_stats.json").read_text())["checkpoint"] == {"step": 40}
    assert (tmp_path / "out/model.safetensors").read_bytes() == b"weights 40"


def test_select_fails_on_a_candidate_without_a_model(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fake_model(run, 40)
    evals = [_eval(tmp_path / "sel/final.json", 0.1), _eval(tmp_path / "sel/step-20.json", 0.9)]
    with pytest.raises(PolyfactError, match="candidate 'step-20' has no model"):
        select_checkpoint(run, evals, "totcons", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_checkpoint_label_of_untrained_and_final_models() -> None:
    assert checkpoint_label(None) is None
    assert checkpoint_label({"method": "base"}) is None
    assert checkpoint_label({"checkpoint": {"step": 60, "kept": []}}) == "final (step 60)"


@pytest.mark.parametrize("lora", [None, LoraSpec(r=4, alpha=8, dropout=0.0)], ids=["full", "lora"])
def test_kept_steps_are_saved_as_merged_candidates(tiny_model_dir: Path, tmp_path: Path, lora: LoraSpec | None) -> None:
    """A kept step between save points is saved anyway, survives the trainer's rotation
    (save_total_limit 2 of 4 saves) and is written as a plain model that differs from both the
    base and the final one."""
    trainer = {"max_steps": 4, "per_device_train_batch_size": 2, "save_steps": 1, "learning_rate": 1e-2}
    spec = RunSpec(
        tmp_path / "out", tmp_path / "ckpt", trainer=trainer, lora=lora, keep_steps=(1,), base=tiny_model_dir
    )
    train_cpt(tiny_model_dir, spec.out_dir, ROWS, spec, CptSettings(block_size=32))
    step1 = spec.out_dir / "checkpoints/step-1"
    stats = json.loads((step1 / "train_stats.json").read_text())
    assert stats["checkpoint"] == {"step": 1, "final_step": 4}
    assert json.loads((spec.out_dir / "train_stats.json").read_text())["checkpoint"] == {"step": 4, "kept": [1]}
    weights = [
        AutoModelForCausalLM.from_pretrained(d).model.layers[0].self_attn.v_proj.weight
        for d in (tiny_model_dir, step1, spec.out_dir)
    ]
    assert not torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[1], weights[2])
    assert not spec.checkpoint_dir.exists()
