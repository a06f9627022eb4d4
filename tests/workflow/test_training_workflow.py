"""The whole DAG on the smallest config (config/test-tiny.yaml): every method trains for a few
steps and leaves a loadable checkpoint; reruns; a killed training job resumes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.workflow.test_data_workflow import ENV, REPO, planned_jobs, snakemake, snakemake_command

METHODS = ["base", "cpt", "sft", "grpo", "dco", "cmalign", "cpt+sft", "cpt+grpo", "cpt+dco", "cpt+cmalign"]
pytestmark = pytest.mark.slow


def tiny_config() -> dict:
    """config/test-tiny.yaml plus the external benchmarks from the test fixtures (KLAR with
    `ko`, a language outside the dataset; the released-PolyFact layout without option ids)."""
    config = yaml.safe_load((REPO / "config/test-tiny.yaml").read_text())
    config["evaluation"] = {
        "bootstrap_resamples": 1000,
        "klar": {"dir": str(REPO / "tests/fixtures/klar"), "languages": ["en", "de", "bn", "ko"], "shots": 2},
        "released": {"path": str(REPO / "tests/fixtures/released_polyfact")},
    }
    config["interpret"] = {"max_sentences": 40, "max_length": 48}
    return config


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny")
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(tiny_config()))
    snakemake(workdir, "--configfile", str(workdir / "tiny.yaml"))
    return workdir


def test_every_method_writes_a_loadable_checkpoint(tiny: Path) -> None:
    from polyfact.models.load import load_model

    for method in METHODS:
        model_dir = tiny / "results/models/toy" / method
        stats = json.loads((model_dir / "train_stats.json").read_text())
        expected = {"cpt": 3, "sft": 3, "grpo": 2, "cpt+sft": 3, "cpt+grpo": 2, "dco": 2, "cmalign": 2}.get(method)
        assert stats["steps"] == expected if expected else stats["steps"] > 0
        model, tokenizer = load_model(model_dir)
        assert model.config.model_type == "qwen2" and tokenizer.pad_token is not None
        summary = json.loads((tiny / "results/eval/toy" / method / "polyfact.json").read_text())["summary"]
        assert set(summary["accuracy"]) == {"en", "de", "bn"}
    report = (tiny / "results/models/report.md").read_text()
    assert all(f"| toy | {m} |" in report for m in METHODS)


def test_cmalign_pairs_come_from_the_upstream_policy(tiny: Path) -> None:
    """CM-Align's pairs: sampled by the method's upstream model (base, or CPT in the chain),
    English the pivot, no English pair; DCO's train_stats name its instances."""
    for method in ("cmalign", "cpt+cmalign"):
        stats = json.loads((tiny / f"results/preferences/toy/{method}.stats.json").read_text())
        assert stats["facts"] == 6 and stats["rollouts"]["requests"] == 6 * 2 * 2
        assert set(stats["pairs_per_language"]) == {"de"}
        record = tiny / f"results/provenance/cmalign_pairs/model=toy,method={method}.json"
        upstream = "cpt" if method.startswith("cpt") else "base"
        inputs = {i["path"] for i in json.loads(record.read_text())["inputs"]}
        assert f"results/models/toy/{upstream}" in inputs, inputs
    dco = json.loads((tiny / "results/models/toy/dco/train_stats.json").read_text())
    assert dco["method"] == "dco" and dco["instances"] > 0 and dco["lora"]["r"] == 4


def test_evaluation_outputs(tiny: Path) -> None:
    """Every benchmark per model × method, the tables and the figures."""
    for method in METHODS:
        polyfact = json.loads((tiny / "results/eval/toy" / method / "polyfact.json").read_text())
        s = polyfact["summary"]
        assert s["groups"]["unseen"]["languages"] == ["bn"] and s["facts"]["aligned"] == s["facts"]["complete"] > 0
        assert 0 <= s["totcons"] <= 1 and s["rankc"]["all_pairs"] is not None
        assert len(polyfact["predictions"]) == 3 * s["facts"]["complete"]
        klar = json.loads((tiny / "results/eval/toy" / method / "klar.json").read_text())["summary"]
        assert klar["groups"]["seen"]["languages"] == ["en", "de"] and klar["groups"]["unseen"]["languages"] == [
            "bn",
            "ko",
        ]
        assert set(klar["candidate_accuracy"]) == {"en", "de", "bn", "ko"}
        released = json.loads((tiny / "results/eval/toy" / method / "polyfact-released.json").read_text())["summary"]
        assert released["data"]["alignment"]["aligned_by_text"] > 0
    main = (tiny / "results/tables/main.md").read_text()
    assert "KLAR OOD" in main and all(f"| toy | {m} |" in main for m in METHODS)
    assert (tiny / "results/tables/main.csv").read_text().count("\n") == 1 + len(METHODS)
    significance = json.loads((tiny / "results/tables/significance.json").read_text())["comparisons"]
    assert {(c["benchmark"], c["method"], c["reference"]) for c in significance} >= {
        ("polyfact", "grpo", "sft"),
        ("klar", "sft", "base"),
        ("polyfact-released", "cpt+grpo", "cpt+sft"),
    }
    for name in ("accuracy_by_language", "totcons_histogram", "training_curves"):
        assert (tiny / f"results/figures/toy/{name}.png").stat().st_size > 0
        assert (tiny / f"results/figures/toy/{name}.pdf").read_bytes().startswith(b"%PDF")
    report = (tiny / "results/models/report.md").read_text()
    assert "| toy | sft | accuracy, held-out training facts |" in report
    assert "| toy | grpo | mean reward |" in report


def test_interpretability_outputs(tiny: Path) -> None:
    """LAPE, LAHIS and MEXA per model × method on the held-out parallel questions; table, figures."""
    for method in METHODS:
        root = tiny / "results/interp/toy" / method
        lape = json.loads((root / "lape.json").read_text())
        assert lape["languages"] == ["en", "de", "bn"] and len(lape["counts"]["bn"]) == 2
        lahis = json.loads((root / "lahis.json").read_text())
        assert len(lahis["overlap"]) == 3 and 0 <= lahis["mean_overlap_off_diagonal"] <= 1
        mexa = json.loads((root / "mexa.json").read_text())
        assert len(mexa["en_x_mean"]) == 2 and set(mexa["en_x"]) == {"de", "bn"}
    table = (tiny / "results/tables/interpretability.md").read_text()
    assert all(f"| toy | {m} |" in table for m in METHODS)
    for name in ("lape_by_language", "lape_by_layer", "lahis_by_layer", "lahis_overlap", "mexa_by_layer", "mexa_delta"):
        assert (tiny / f"results/figures/toy/{name}.pdf").read_bytes().startswith(b"%PDF")
        assert (tiny / f"results/figures/toy/{name}.png").stat().st_size > 0
    assert not list((tiny / "results").glob("checkpoints/toy/*/checkpoint-*"))  # cleaned after success


def test_complete_run_plans_nothing_and_grpo_edit_plans_grpo_only(tiny: Path) -> None:
    assert planned_jobs(tiny, "--configfile", str(tiny / "tiny.yaml")) == {}
    resources = tiny_config()
    resources["training"] |= {"mem_mb": 9000, "runtime": 500, "threads": 2}
    resources["evaluation"] |= {"mem_mb": 9000, "gpus": 0}
    (tiny / "resources.yaml").write_text(yaml.safe_dump(resources))
    assert planned_jobs(tiny, "--configfile", str(tiny / "resources.yaml")) == {}  # resources change no result
    config = tiny_config()
    config["grpo"]["temperature"] = 0.9
    changed = tiny / "grpo-changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(tiny, "--configfile", str(changed))
    assert jobs == {"train": 2, **GRPO_DOWNSTREAM}


# What reruns after GRPO's two runs (grpo, cpt+grpo) change: their models, their evaluations on
# both MCQ benchmarks and KLAR, their three analyses, and every table and figure.
GRPO_DOWNSTREAM = {
    "select_checkpoint": 2,
    "evaluate_mcq": 4,
    "evaluate_klar": 2,
    "interpret": 6,
    "models_report": 1,
    "results_table": 1,
    "significance": 1,
    "evaluation_figures": 1,
    "training_curves": 1,
    "interpretability_table": 1,
    "interpretability_figures": 1,
    "all": 1,
}


def copied_package(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the package and the environment that makes the workflow run it."""
    code = tmp_path / "workflow"
    shutil.copytree(REPO / "workflow", code, ignore=shutil.ignore_patterns("__pycache__"))
    return code / "polyfact", {**ENV, "PYTHONPATH": str(code)}


def edit(module: Path) -> None:
    module.write_text(module.read_text() + "\n# edited\n")


def test_editing_the_grpo_trainer_reruns_grpo_and_what_depends_on_it(tiny: Path, tmp_path: Path) -> None:
    package, env = copied_package(tmp_path)
    edit(package / "train/grpo.py")
    jobs = planned_jobs(tiny, "--configfile", str(tiny / "tiny.yaml"), "--quiet", "all", env=env)
    assert jobs == {"train": 2, **GRPO_DOWNSTREAM}
    plan = snakemake(tiny, "--configfile", str(tiny / "tiny.yaml"), "-n", env=env).stdout
    retrained = set(re.findall(r"output: results/models/toy/(\S+)", plan))
    assert retrained == {"grpo", "cpt+grpo"}  # not base, cpt, sft, cpt+sft


def expected_plan(records: list[dict], package: Path, module: Path) -> dict[str, int]:
    """Jobs a dry run must plan after `module` changed: those whose entry point's import
    closure holds it, and every job downstream of them (from the provenance records)."""
    from polyfact.digest import code_closure

    by_output = {o["path"]: r["record"] for r in records for o in r["outputs"]}
    stale = {r["record"] for r in records if module in code_closure(r["entry"], package)}
    grew = True
    while grew:
        downstream = {r["record"] for r in records if any(by_output.get(i["path"]) in stale for i in r["inputs"])}
        grew = not downstream <= stale
        stale |= downstream
    plan: dict[str, int] = {}
    for r in records:
        if r["record"] in stale:
            plan[r["rule"]] = plan.get(r["rule"], 0) + 1
    return plan | ({"all": 1} if plan else {})


def test_an_edit_to_any_module_plans_exactly_its_dependents(tiny: Path, tmp_path: Path) -> None:
    """For every rule's entry point, its most specific module edited in a copy of the package:
    `snakemake -n` plans exactly the jobs whose import closure holds it and their downstream."""
    from polyfact.digest import code_closure

    package, env = copied_package(tmp_path)
    records = []
    for path in sorted((tiny / "results/provenance").rglob("*.json")):
        record = json.loads(path.read_text())
        records.append(record | {"record": str(path)})
    entries = sorted({r["entry"] for r in records})
    closures = {e: set(code_closure(e, package)) for e in entries}
    modules = {min(closures[e], key=lambda m: (sum(m in c for c in closures.values()), str(m))) for e in entries}
    covered: set[str] = set()
    for module in sorted(modules):
        original = module.read_text()
        edit(module)
        try:
            expected = expected_plan(records, package, module)
            jobs = planned_jobs(tiny, "--configfile", str(tiny / "tiny.yaml"), env=env)
        finally:
            module.write_text(original)
        assert jobs == expected, module.relative_to(package)
        covered |= set(jobs)
    assert covered >= {r["rule"] for r in records}  # every rule was planned by some edit


def test_every_job_has_provenance_and_one_mlflow_run(tiny: Path) -> None:
    import mlflow

    records = [json.loads(p.read_text()) for p in (tiny / "results/provenance").rglob("*.json")]
    jobs = {(r["rule"], json.dumps(r["wildcards"], sort_keys=True)) for r in records}
    assert len(jobs) == len(records) > 40
    mlflow.set_tracking_uri(f"sqlite:///{tiny / 'results/mlflow/mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["polyfact"], output_format="list")
    assert {r.info.run_id for r in runs} == {r["mlflow_run_id"] for r in records}  # one run per job
    for run in runs:
        assert {"rule", "wildcards", "git_commit", "config_digest", "code_digest", "inputs"} <= set(run.data.tags)
    by_name = {r.info.run_name: r for r in runs}
    client = mlflow.MlflowClient()
    assert len(client.get_metric_history(by_name["train/toy/sft"].info.run_id, "loss")) == 3  # curve
    assert "accuracy.en" in by_name["evaluate_mcq/toy/grpo/polyfact"].data.metrics
    assert by_name["train/toy/grpo"].data.tags["wildcards"] == '{"method": "grpo", "model": "toy"}'
    assert by_name["train/toy/cpt+grpo"].data.tags["entry"] == "train:train_grpo"


def test_lineage_from_the_main_table_reaches_the_facts_and_their_source(tiny: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "polyfact.cli", "lineage", "results/tables/main.md"],
        cwd=tiny,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    text = proc.stdout
    assert text.startswith("results/tables/main.md  sha256:") and "unchanged since the job" in text
    for step in ("<- results_table", "<- evaluate_mcq", "<- train", "<- prepare_base_model"):
        assert step in text, step
    assert "results/data/facts.parquet" in text and "<- extract_facts" in text
    assert '[source: no input files; config {"facts": "cldr"' in text


def test_report_html_has_the_tables_and_figures(tiny: Path) -> None:
    snakemake(tiny, "--configfile", str(tiny / "tiny.yaml"), "--report", "results/report.html")
    html = (tiny / "results/report.html").read_text(errors="replace")
    for item in ("main.md", "significance.md", "interpretability.md", "accuracy_by_language.png", "lahis_overlap"):
        assert item in html, item


def test_killed_training_resumes_from_its_checkpoint(tiny: Path, tmp_path: Path) -> None:
    """Kill an SFT job once it has saved a checkpoint; the rerun resumes instead of restarting."""
    config = tiny_config()
    config["sft"]["max_steps"] = 400
    config["training"]["save_steps"] = 1
    longer = tiny / "sft-long.yaml"
    longer.write_text(yaml.safe_dump(config))
    cmd = snakemake_command(tiny, "results/models/toy/sft", "--configfile", str(longer), cores=1)
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    checkpoints = tiny / "results/checkpoints/toy/sft"
    deadline = time.time() + 300
    while time.time() < deadline and not list(checkpoints.glob("checkpoint-*/trainer_state.json")):
        assert proc.poll() is None, "training finished before it could be interrupted"
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(checkpoints.glob("checkpoint-*")), "the kill left no checkpoint behind"
    snakemake(tiny, "--unlock")  # a hard kill leaves Snakemake's lock, as after a node failure
    snakemake(tiny, "results/models/toy/sft", "--configfile", str(longer), "--rerun-incomplete")
    stats = json.loads((tiny / "results/models/toy/sft/train_stats.json").read_text())
    assert stats["resumed_from"] and stats["steps"] == 400
