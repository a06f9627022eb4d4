"""The paper comparison: published files (config/published), the join with our evaluations,
the bootstrap CI, inside/outside, and the cells with nothing to compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from polyfact.cli import main
from polyfact.errors import PolyfactError
from polyfact.evaluate.comparison import (
    BENCHMARKS,
    METRICS,
    comparison_rows,
    load_published,
    mean_ci,
    metric_vectors,
    parse_published,
    status,
)

from tests.unit.test_tables import write_eval as tables_eval

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "config/published"
SOURCE = {"kind": "paper", "reference": "a test table", "table": "Table 9"}


def write_eval(root: Path, method: str, p_correct: float, seed: int, **kwargs: Any) -> Path:
    """test_tables' evaluation file, over 200 facts."""
    return tables_eval(root, method, p_correct, seed, facts=200, **kwargs)


def published_file(root: Path, values: dict, unit: str = "fraction", name: str = "test.yaml") -> Path:
    path = root / "published" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"source": SOURCE, "unit": unit, "values": values}))
    return path.parent


def test_every_published_file_is_valid_and_sourced() -> None:
    files = sorted(PUBLISHED.glob("*.yaml"))
    assert files, "config/published holds no published values"
    paper_models = set(yaml.safe_load((REPO / "config/paper.yaml").read_text())["models"])
    for path in files:
        values = parse_published(yaml.safe_load(path.read_text()), path.stem, str(path))
        assert values, path
        for v in values:
            assert v.source.key == path.stem and v.source.reference and v.source.table, path
            assert v.model in paper_models, (path, v.model)
            assert v.method in {"base", "cpt", "sft", "grpo", "cpt+sft", "cpt+grpo", "dco", "cmalign"}, (path, v)
            assert 0 <= v.value <= 1 and v.metric in METRICS and v.benchmark in BENCHMARKS
            assert v.ci is None or v.ci[0] <= v.value <= v.ci[1]
    loaded = load_published(PUBLISHED)
    keys = [(v.source.key, v.benchmark, v.model, v.method, v.metric) for v in loaded]
    assert len(keys) == len(set(keys))
    qwen_grpo = {
        v.metric: v.value for v in loaded if (v.model, v.method, v.benchmark) == ("qwen2.5-7b", "grpo", "polyfact")
    }
    assert qwen_grpo["accuracy_mean"] == pytest.approx(0.6506) and qwen_grpo["totcons"] == pytest.approx(0.1106)


def test_percent_is_converted_once_to_fractions(tmp_path: Path) -> None:
    values = {"polyfact": {"toy": {"base": {"totcons": {"value": 12.5, "ci": [10, 15]}, "rankc": 60}}}}
    loaded = {v.metric: v for v in load_published(published_file(tmp_path, values, unit="percent"))}
    assert loaded["totcons"].value == pytest.approx(0.125) and loaded["totcons"].ci == pytest.approx((0.10, 0.15))
    assert loaded["rankc"].value == pytest.approx(0.60)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"unit": "percent", "values": {}}, "expected keys"),
        ({"source": {"kind": "paper", "table": "T1"}, "unit": "percent", "values": {}}, "source.reference"),
        ({"source": SOURCE | {"kind": "blog"}, "unit": "percent", "values": {}}, "source.kind"),
        ({"source": SOURCE, "unit": "permille", "values": {"polyfact": {}}}, "unit"),
        (
            {"source": SOURCE, "unit": "percent", "values": {"mmlu": {"m": {"base": {"totcons": 1}}}}},
            "unknown benchmark",
        ),
        ({"source": SOURCE, "unit": "percent", "values": {"polyfact": {"m": {"base": {"acc": 1}}}}}, "unknown metric"),
        ({"source": SOURCE, "unit": "percent", "values": {"polyfact": {"m": {"base": {"totcons": 140}}}}}, "outside"),
        ({"source": SOURCE, "unit": "fraction", "values": {"polyfact": {"m": {"base": {"totcons": 40}}}}}, "outside"),
        (
            {
                "source": SOURCE,
                "unit": "percent",
                "values": {"polyfact": {"m": {"base": {"rankc": {"value": 50, "ci": [51, 53]}}}}},
            },
            "not inside its ci",
        ),
        (
            {"source": SOURCE, "unit": "percent", "values": {"polyfact": {"m": {"base": {"rankc": "high"}}}}},
            "not a number",
        ),
    ],
)
def test_bad_published_files_name_file_and_item(data: dict, message: str) -> None:
    with pytest.raises(PolyfactError, match=message) as err:
        parse_published(data, "bad", "config/published/bad.yaml")
    assert "config/published/bad.yaml" in str(err.value)


def test_duplicate_keys_and_empty_directories_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "dup/dup.yaml"
    path.parent.mkdir()
    path.write_text(
        "source: {kind: paper, reference: r, table: t}\nunit: percent\nvalues:\n"
        "  polyfact:\n    toy:\n      base: {totcons: 1}\n      base: {totcons: 2}\n"
    )
    with pytest.raises(PolyfactError, match=r"dup\.yaml.*duplicate key 'base'"):
        load_published(path.parent)
    with pytest.raises(PolyfactError, match="no published-value files"):
        load_published(tmp_path / "none")


def test_mean_ci_is_a_seeded_percentile_bootstrap() -> None:
    values = np.random.default_rng(0).random(400) < 0.5
    ci = mean_ci(values.astype(float), resamples=2000, seed=7)
    assert ci == mean_ci(values.astype(float), resamples=2000, seed=7)
    assert ci["ci_low"] < ci["ours"] < ci["ci_high"] and ci["facts"] == 400
    half = 1.96 * np.sqrt(ci["ours"] * (1 - ci["ours"]) / 400)  # normal approximation
    assert ci["ci_high"] - ci["ci_low"] == pytest.approx(2 * half, rel=0.15)
    assert mean_ci(np.array([0.3, 0.3, np.nan]), 500, 1) == {"ours": 0.3, "ci_low": 0.3, "ci_high": 0.3, "facts": 2}
    assert mean_ci(np.array([np.nan, np.nan]), 500, 1) is None


def test_status_inside_outside_and_nothing_to_compare() -> None:
    ours = {"ours": 0.5, "ci_low": 0.4, "ci_high": 0.6}
    assert status(0.4, ours) == "inside" and status(0.6, ours) == "inside" and status(0.55, ours) == "inside"
    assert status(0.39, ours) == "outside" and status(0.61, ours) == "outside"
    assert status(None, ours) == "not published" and status(0.5, None) == "undefined"


def test_metric_vectors_use_the_files_language_groups(tmp_path: Path) -> None:
    vectors = metric_vectors(write_eval(tmp_path, "base", 0.6, 1))
    assert {
        "accuracy_mean",
        "accuracy_high",
        "accuracy_low",
        "accuracy_seen",
        "accuracy_unseen",
        "totcons",
        "rankc",
    } <= set(vectors)
    assert np.array_equal(vectors["accuracy_low"], vectors["accuracy_unseen"])  # bn: low and not trained
    assert np.isnan(metric_vectors(write_eval(tmp_path, "sft", 0.6, 2, ranked=False))["rankc"]).all()


def test_join_marks_inside_outside_not_run_and_not_published(tmp_path: Path) -> None:
    base, grpo = write_eval(tmp_path, "base", 0.5, 1), write_eval(tmp_path, "grpo", 0.9, 2)
    unranked = write_eval(tmp_path, "sft", 0.7, 3, ranked=False)
    ours_base = mean_ci(metric_vectors(base)["accuracy_mean"], 1000, 5)
    values = {
        "polyfact": {
            "toy": {
                "base": {"accuracy_mean": ours_base["ours"]},  # our own mean: inside
                "grpo": {"accuracy_mean": 0.2},  # far below a 0.9 model: outside
                "sft": {"rankc": 0.5},  # no ranking in our run: undefined
                "cpt": {"accuracy_mean": 0.4},  # never evaluated: not run
            }
        }
    }
    rows = comparison_rows([base, grpo, unranked], load_published(published_file(tmp_path, values)), 1000, 5)
    by = {(r["method"], r["benchmark"], r["metric"]): r for r in rows}
    assert by[("base", "polyfact", "accuracy_mean")]["status"] == "inside"
    assert by[("base", "polyfact", "accuracy_mean")]["ci_low"] == pytest.approx(ours_base["ci_low"])
    assert by[("grpo", "polyfact", "accuracy_mean")]["status"] == "outside"
    assert by[("sft", "polyfact", "rankc")]["status"] == "undefined"
    assert by[("cpt", "polyfact", "accuracy_mean")]["status"] == "not run"
    # the paper's PolyFact is the released dataset too: never evaluated here
    assert by[("base", "polyfact-released", "accuracy_mean")]["status"] == "not run"
    # metrics some source publishes for the benchmark, which no source gives for this run
    assert by[("base", "polyfact", "rankc")]["status"] == "not published"
    assert by[("grpo", "polyfact", "rankc")]["published"] is None and by[("grpo", "polyfact", "rankc")]["ours"] > 0
    assert by[("sft", "polyfact", "accuracy_mean")]["status"] == "not published"
    assert [r["method"] for r in rows][:1] == ["base"] and len(rows) == len(by)


def test_cli_writes_markdown_and_csv(tmp_path: Path) -> None:
    evals = [write_eval(tmp_path, "base", 0.5, 1), write_eval(tmp_path, "grpo", 0.9, 2, benchmark="klar")]
    values = {
        "polyfact": {"toy": {"base": {"totcons": {"value": 12.5, "ci": [10, 15]}}}},
        "klar": {"toy": {"grpo": {"accuracy_seen": 90.0, "accuracy_unseen": 10.0}}},
    }
    published = published_file(tmp_path, values, unit="percent")
    md, csv = tmp_path / "t/paper_comparison.md", tmp_path / "t/paper_comparison.csv"
    argv = ["report", "paper-comparison", "--evals", *map(str, evals), "--published", str(published)]
    main([*argv, "--resamples", "300", "--seed", "3", "--md", str(md), "--csv", str(csv)])
    text = md.read_text()
    assert "| toy | base | polyfact | TotCons | 12.50 [10.00, 15.00] | `test` |" in text
    assert "| toy | grpo | klar | accuracy, unseen (OOD) languages | 10.00 | `test` |" in text and "outside" in text
    assert "not run" in text and "- `test` (paper): a test table; Table 9." in text
    header, *lines = csv.read_text().splitlines()
    assert header.startswith("model,method,benchmark,metric,source,published") and len(lines) == 4
    assert [line for line in lines if ",0.125,0.1,0.15," in line][0].startswith("toy,base,polyfact,totcons,test,")
    with pytest.raises(SystemExit):
        main([*argv[:4], "--published", str(tmp_path / "none"), "--md", str(md), "--csv", str(csv)])
