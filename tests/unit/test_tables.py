"""Main table, significance table and figures from evaluation files written in the rules' layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from polyfact.cli import main
from polyfact.errors import PolyfactError
from polyfact.evaluate.summary import summarise
from polyfact.evaluate.tables import comparisons, main_rows, render_main_markdown, significance_rows
from polyfact.io import read_json, write_json

LANGS = ["en", "de", "bn"]


def write_eval(
    root: Path,
    method: str,
    p_correct: float,
    seed: int,
    benchmark: str = "polyfact",
    *,
    facts: int = 60,
    ranked: bool = True,
) -> Path:
    """An evaluation file as `polyfact evaluate mcq` writes it, with seeded random predictions
    (`ranked=False`: no option ranking, as for facts whose options did not align)."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(facts):
        for lang in LANGS:
            top = "A" if rng.random() < p_correct else "B"
            rest = [e for e in "ABCD" if e != top]
            ranking = [top, *rest] if ranked else None
            rows.append({"fact_id": f"f{f}", "language": lang, "property_id": "P30", "ranking": ranking})
            rows[-1]["correct"] = top == "A"
    path = root / "results/eval/toy" / method / f"{benchmark}.json"
    write_json(path, {"summary": summarise(rows, LANGS, ["bn"], ["en", "de"]), "predictions": rows})
    return path


@pytest.fixture
def evals(tmp_path: Path) -> list[Path]:
    return [write_eval(tmp_path, m, p, k) for k, (m, p) in enumerate([("base", 0.3), ("sft", 0.5), ("grpo", 0.9)])]


def test_comparisons_are_method_vs_base_and_grpo_vs_sft() -> None:
    assert comparisons(["base", "cpt", "sft", "grpo", "cpt+sft", "cpt+grpo"]) == [
        ("cpt", "base"),
        ("sft", "base"),
        ("grpo", "base"),
        ("cpt+sft", "base"),
        ("cpt+grpo", "base"),
        ("grpo", "sft"),
        ("cpt+grpo", "cpt+sft"),
    ]
    assert comparisons(["sft", "grpo"]) == [("grpo", "sft")]


def test_consistency_baselines_are_compared_with_base_and_grpo() -> None:
    assert comparisons(["base", "grpo", "dco", "cmalign", "cpt", "cpt+grpo", "cpt+dco"]) == [
        ("grpo", "base"),
        ("dco", "base"),
        ("cmalign", "base"),
        ("cpt", "base"),
        ("cpt+grpo", "base"),
        ("cpt+dco", "base"),
        ("dco", "grpo"),
        ("cmalign", "grpo"),
        ("cpt+dco", "cpt+grpo"),
    ]


def test_main_table_rows_and_files(evals: list[Path], tmp_path: Path) -> None:
    klar = write_eval(tmp_path, "grpo", 0.7, 9, benchmark="klar")
    rows = main_rows([*evals, klar])
    assert [(r["model"], r["method"]) for r in rows] == [("toy", "base"), ("toy", "sft"), ("toy", "grpo")]
    grpo = read_json(evals[2])["summary"]
    assert rows[2]["totcons"] == grpo["totcons"] and rows[2]["accuracy_low"] == grpo["accuracy"]["bn"]
    assert rows[2]["klar_ood"] == read_json(klar)["summary"]["groups"]["unseen"]["accuracy"]
    md, csv = tmp_path / "t/main.md", tmp_path / "t/main.csv"
    main(["report", "tables", "--evals", *map(str, [*evals, klar]), "--md", str(md), "--csv", str(csv)])
    text = md.read_text()
    assert "| toy | grpo |" in text and "KLAR OOD" in text and "| toy | base |" in text
    header, *lines = csv.read_text().splitlines()
    assert header.startswith("model,method,checkpoint,accuracy_high,accuracy_low") and len(lines) == 3
    without_klar = render_main_markdown(main_rows(evals))
    table_rows = [line for line in without_klar.splitlines() if line.startswith("| toy |")]
    assert "| KLAR seen | KLAR OOD |" in without_klar and table_rows[-1].endswith("| – | – |")
    with pytest.raises(PolyfactError, match="unknown benchmark"):
        main_rows([write_eval(tmp_path, "sft", 0.5, 1, benchmark="other")])


def test_significance_detects_the_better_method_and_is_seeded(evals: list[Path], tmp_path: Path) -> None:
    rows = significance_rows(evals, resamples=1000, seed=3)
    assert rows == significance_rows(evals, resamples=1000, seed=3)
    by = {(r["method"], r["reference"], r["metric"]): r for r in rows}
    assert set(by) >= {("grpo", "base", "accuracy"), ("grpo", "sft", "totcons"), ("sft", "base", "rankc")}
    assert by[("grpo", "base", "accuracy")]["ci_low"] > 0 and by[("grpo", "base", "accuracy")]["p_value"] < 0.01
    assert by[("grpo", "sft", "accuracy_unseen")]["difference"] > 0
    md, js = tmp_path / "s.md", tmp_path / "s.json"
    main(
        [
            "report",
            "significance",
            "--evals",
            *map(str, evals),
            "--resamples",
            "500",
            "--md",
            str(md),
            "--json",
            str(js),
        ]
    )
    assert "grpo vs sft" in md.read_text() and len(read_json(js)["comparisons"]) == len(rows)


def test_significance_skips_metrics_no_fact_defines(evals: list[Path]) -> None:
    for path in evals:  # as for released data whose options never aligned across languages
        data = read_json(path)
        for p in data["predictions"]:
            p["ranking"] = None
        write_json(path, data)
    metrics = {r["metric"] for r in significance_rows(evals, resamples=100, seed=0)}
    assert "accuracy" in metrics and not metrics & {"rankc", "agreement", "rankc_en_x"}


def test_significance_refuses_different_fact_sets(evals: list[Path], tmp_path: Path) -> None:
    data = read_json(evals[1])
    data["predictions"] = [p for p in data["predictions"] if p["fact_id"] != "f0"]
    write_json(evals[1], data)
    with pytest.raises(PolyfactError, match="different facts"):
        significance_rows(evals, resamples=100, seed=0)


def test_figures_are_written_as_png_and_pdf_with_stable_bytes(evals: list[Path], tmp_path: Path) -> None:
    outs = [tmp_path / f"fig/{name}.{ext}" for name in ("acc", "tc") for ext in ("png", "pdf")]
    args = ["report", "figures", "--evals", *map(str, evals), "--accuracy", *map(str, outs[:2])]
    main([*args, "--totcons", *map(str, outs[2:])])
    first = [p.read_bytes() for p in outs]
    assert first[0].startswith(b"\x89PNG") and first[1].startswith(b"%PDF")
    main([*args, "--totcons", *map(str, outs[2:])])
    assert [p.read_bytes() for p in outs] == first


def test_main_table_lists_the_released_alignment_per_language(evals: list[Path], tmp_path: Path) -> None:
    released = write_eval(tmp_path, "grpo", 0.7, 9, benchmark="polyfact-released")
    data = read_json(released)
    per_language = {
        "en": {"rows": 60, "aligned": 60, "by_embedding": 0},
        "bn": {"rows": 60, "aligned": 12, "by_embedding": 9},
    }
    data["summary"]["data"] = {"alignment": {"per_language": per_language}}
    write_json(released, data)
    text = render_main_markdown(main_rows([*evals, released]))
    assert "## Released PolyFact: options aligned across languages" in text
    assert "| model | method | bn | en |" in text and "| toy | grpo | 12/60 | 60/60 |" in text
    assert "options aligned" not in render_main_markdown(main_rows(evals))


def test_global_mmlu_columns_join_the_main_table_only_when_evaluated(evals: list[Path], tmp_path: Path) -> None:
    runs = [("base", 0.4), ("grpo", 0.6)]
    lite = [write_eval(tmp_path, m, p, 20 + k, benchmark="global-mmlu-lite") for k, (m, p) in enumerate(runs)]
    rows = main_rows([*evals, *lite])
    s, grpo = read_json(lite[1])["summary"], rows[2]
    assert (grpo["gmmlu_lite_high"], grpo["gmmlu_lite_low"]) == (s["accuracy_high"], s["accuracy_low"])
    assert (grpo["gmmlu_lite_totcons"], grpo["gmmlu_lite_rankc"]) == (s["totcons"], s["rankc"]["all_pairs"])
    assert "gmmlu_lite_high" not in rows[1]  # sft: not evaluated on it, an empty cell
    md, csv = tmp_path / "t/main.md", tmp_path / "t/main.csv"
    main(["report", "tables", "--evals", *map(str, [*evals, *lite]), "--md", str(md), "--csv", str(csv)])
    text = md.read_text()
    columns = ["Global-MMLU-Lite high", "Global-MMLU-Lite low", "Global-MMLU-Lite TotCons", "Global-MMLU-Lite RankC"]
    assert "| " + " | ".join(columns) + " |" in text
    assert "Global-MMLU high" not in text and "(`evaluation.global_mmlu`)" in text
    header = csv.read_text().splitlines()[0].split(",")
    assert header[-4:] == ["gmmlu_lite_high", "gmmlu_lite_low", "gmmlu_lite_totcons", "gmmlu_lite_rankc"]
    main(["report", "tables", "--evals", *map(str, evals), "--md", str(md), "--csv", str(csv)])
    assert "Global-MMLU" not in md.read_text() and "gmmlu" not in csv.read_text()


def test_global_mmlu_evaluations_get_significance_rows(evals: list[Path], tmp_path: Path) -> None:
    runs = [("base", 0.2), ("grpo", 0.9)]
    full = [write_eval(tmp_path, m, p, 30 + k, benchmark="global-mmlu") for k, (m, p) in enumerate(runs)]
    rows = [r for r in significance_rows([*evals, *full], resamples=200, seed=1) if r["benchmark"] == "global-mmlu"]
    assert {(r["method"], r["reference"]) for r in rows} == {("grpo", "base")}
    assert {"accuracy", "accuracy_high", "accuracy_low", "totcons", "rankc"} <= {r["metric"] for r in rows}


def test_findings_state_each_method_against_base_and_the_papers_claims() -> None:
    from polyfact.evaluate.tables import findings_lines

    def row(method: str, non_en: float, totcons: float, unseen: float, mean: float) -> dict:
        return {
            "model": "toy",
            "method": method,
            "accuracy_non_en": non_en,
            "totcons": totcons,
            "accuracy_unseen": unseen,
            "accuracy_mean": mean,
        }

    rows = [
        row("base", 0.40, 0.05, 0.30, 0.45),
        row("sft", 0.46, 0.08, 0.33, 0.50),
        row("grpo", 0.44, 0.09, 0.31, 0.48),
        row("cpt", 0.41, 0.05, 0.30, 0.455),
    ]
    text = "\n".join(findings_lines(rows))
    assert "- **sft** vs base: non-English accuracy +0.060, TotCons +0.030, unseen-language accuracy +0.030." in text
    assert "TotCons 0.090 vs 0.080 (holds); unseen 0.310 vs 0.330 (does not hold)" in text
    assert "here mean accuracy +0.005 (holds" in text
    assert "**base**" not in text
    assert findings_lines([row("sft", 0.4, 0.1, 0.3, 0.4)]) == []  # no base row: nothing to compare with
