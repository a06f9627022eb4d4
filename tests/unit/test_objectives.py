"""What each method optimises: the curves read from a trainer's log history, the improvement
rule, the held-out splits of CPT and SFT, and the held-out curves of real (tiny) runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from polyfact.train.cpt import CptSettings, train_cpt
from polyfact.train.objectives import OBJECTIVES, curve_points, improved, objective_summary
from polyfact.train.parallel import held_out_blocks
from polyfact.train.settings import METHODS, RunSpec
from polyfact.train.sft import held_out_facts, train_sft

from tests.unit.test_sft import records


def test_every_trained_method_has_an_objective() -> None:
    assert set(METHODS) - {"base"} <= set(OBJECTIVES)
    assert OBJECTIVES["base"][0].key == "loss"


def test_curve_points_keep_only_entries_with_the_key_in_step_order() -> None:
    history = [{"step": 20, "eval_loss": 1.5}, {"step": 0, "eval_loss": 2.0}, {"step": 10, "loss": 3.0}]
    assert curve_points(history, "eval_loss") == [{"step": 0, "value": 2.0}, {"step": 20, "value": 1.5}]


@pytest.mark.parametrize(
    ("values", "higher", "expected"),
    [
        ([0.2, 0.5], True, True),
        ([0.5, 0.2], True, False),
        ([2.0, 1.0], False, True),
        ([0.3, 0.3], True, False),  # flat is not an improvement
        ([0.1], True, None),
        ([], False, None),
        # quarters of eight points: mean(0.1, 0.9) = 0.5 vs mean(0.2, 0.6) = 0.4, despite last > first
        ([0.1, 0.9, 0.5, 0.5, 0.5, 0.5, 0.2, 0.6], True, False),
    ],
)
def test_improved_compares_first_and_last_quarters(values: list[float], higher: bool, expected: bool | None) -> None:
    assert improved(values, higher) is expected


def test_objective_summary_of_grpo() -> None:
    history = [{"step": s, "reward": r, "rollouts/all_correct": c} for s, r, c in [(1, 0.1, 0.0), (2, 0.4, 0.5)]]
    summary = objective_summary("grpo", history)
    assert summary["key"] == "reward" and summary["improved"] is True
    assert (summary["start"], summary["end"]) == (0.1, 0.4)
    assert summary["history"]["rollouts/all_correct"][-1] == {"step": 2, "value": 0.5}
    assert objective_summary("dco", [])["improved"] is None


def test_held_out_blocks_are_spread_and_capped() -> None:
    blocks = [[i] for i in range(100)]
    train, held = held_out_blocks(blocks, 4)
    assert [b[0] for b in held] == [0, 25, 50, 75] and len(train) == 96
    assert not {b[0] for b in held} & {b[0] for b in train}
    assert len(held_out_blocks(blocks, 50)[1]) == 10  # at most a tenth
    assert held_out_blocks(blocks[:9], 4) == (blocks[:9], [])


def test_held_out_facts_take_whole_facts_seeded() -> None:
    data = records(20)
    train, held = held_out_facts(data, 2, seed=1)
    held_ids = {r["fact_id"] for r in held["en"]}
    assert len(held_ids) == 2 and all({r["fact_id"] for r in rows} == held_ids for rows in held.values())
    assert all(not held_ids & {r["fact_id"] for r in rows} for rows in train.values())
    assert held_out_facts(data, 2, seed=1) == (train, held)
    assert held_out_facts(data, 2, seed=2)[1] != held
    assert held_out_facts(records(5), 2, seed=1)[1] == {lang: [] for lang in data}  # below ten facts: none


@pytest.mark.parametrize("target", ["letter", "answer"])
def test_sft_records_a_held_out_accuracy_curve(tiny_model_dir: Path, tmp_path: Path, target: str) -> None:
    fields = {"max_steps": 4, "save_steps": 100, "logging_steps": 2, "learning_rate": 1e-2}
    spec = RunSpec(tmp_path / "out", tmp_path / "ckpt", trainer=fields)
    stats = train_sft(tiny_model_dir, spec.out_dir, records(20), spec, facts_per_step=2, held_out=2, target=target)
    assert stats["facts"] == 18 and stats["held_out_facts"] == 2 and stats["target"] == target
    points = stats["objective"]["history"]["eval_accuracy"]
    assert [p["step"] for p in points] == [0, 2, 4]
    assert all(p["value"] in {0.0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0} for p in points)  # 2 facts × 3 languages
    saved = json.loads((spec.out_dir / "train_stats.json").read_text())
    assert saved["objective"]["key"] == "eval_accuracy" and saved["objective"]["improved"] in {True, False}


def test_cpt_records_a_held_out_loss_curve(tiny_model_dir: Path, tmp_path: Path) -> None:
    rows = [{"en": f"the river number {i} flows", "de": f"der Fluss Nummer {i} fließt"} for i in range(60)]
    fields = {"max_steps": 4, "save_steps": 100, "logging_steps": 2, "learning_rate": 1e-2}
    spec = RunSpec(tmp_path / "out", tmp_path / "ckpt", trainer=fields | {"per_device_train_batch_size": 2})
    stats = train_cpt(tiny_model_dir, spec.out_dir, rows, spec, CptSettings(block_size=16, held_out_blocks=3))
    assert stats["held_out_blocks"] == 3
    points = stats["objective"]["history"]["eval_loss"]
    assert [p["step"] for p in points] == [0, 2, 4]
    assert stats["objective"]["improved"] is True  # lr 1e-2 on repetitive text: the held-out loss falls


def _stats_dir(root: Path, method: str, values: list[float]) -> Path:
    d = root / "models" / "toy" / method
    d.mkdir(parents=True)
    history = [{"step": 10 * i, "reward": v, "rollouts/all_correct": v / 2} for i, v in enumerate(values)]
    stats = {"steps": 10, "tokens_trained": 5, "objective": objective_summary("grpo", history)}
    (d / "train_stats.json").write_text(json.dumps(stats))
    return d / "train_stats.json"


def test_models_report_flags_a_method_whose_objective_did_not_improve(tmp_path: Path) -> None:
    from polyfact.train.report import models_report, render_markdown

    files = [str(_stats_dir(tmp_path, m, v)) for m, v in (("grpo", [0.1, 0.5]), ("cpt+grpo", [0.5, 0.1]))]
    md = render_markdown(models_report(files, []))
    assert "| toy | grpo | mean reward | 0.100 | 0.500 | yes |" in md
    assert "| toy | cpt+grpo | mean reward | 0.500 | 0.100 | **NO** |" in md
    assert "**Objective did not improve:** toy/cpt+grpo (mean reward)" in md


def test_training_curves_figure(tmp_path: Path) -> None:
    from polyfact.train.curves import method_objectives, panel_title, training_curves_figure

    files = [_stats_dir(tmp_path, m, v) for m, v in (("grpo", [0.1, 0.5]), ("cpt+grpo", [0.5, 0.1]))]
    untrained = tmp_path / "models" / "toy" / "base"
    untrained.mkdir()
    (untrained / "train_stats.json").write_text(json.dumps({"steps": 0}))  # a Hub base: no curve
    assert list(method_objectives([*files, untrained / "train_stats.json"])) == ["grpo", "cpt+grpo"]
    objective = method_objectives(files)["cpt+grpo"]
    assert panel_title("cpt+grpo", objective, "mean reward", True).endswith("(objective did not improve)")
    assert "did not" not in panel_title("cpt+grpo", objective, "all languages correct", False)
    out = [tmp_path / "curves.png", tmp_path / "curves.pdf"]
    training_curves_figure(files, out)
    assert out[0].read_bytes()[:4] == b"\x89PNG" and out[1].read_bytes()[:4] == b"%PDF"
    training_curves_figure([untrained / "train_stats.json"], out)  # nothing trained: a figure saying so
    assert out[0].stat().st_size > 0
