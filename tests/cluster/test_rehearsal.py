"""The dress rehearsal (config/rehearsal.yaml): every rule of the paper DAG through the cluster
profile on the local SLURM, with its HTTP sources on a loopback fixture server. One fault rides
on it: the SFT job is cancelled with `scancel` after its first checkpoint; Snakemake's retry
resubmits it, it resumes from that checkpoint, and its model and evaluation equal those of an
undisturbed run of the same job."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from tests.cluster.test_slurm import cluster_up
from tests.fixtures.http_server import FixtureServer
from tests.workflow.test_data_workflow import ENV, REPO, snakemake, snakemake_command

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]  # the whole DAG: ~15 min on 2 cores
CONFIG = yaml.safe_load((REPO / "config/rehearsal.yaml").read_text())
PORT = 8765  # the URLs in config/rehearsal.yaml
FAULT = "rule_train_wildcards_smollm2_sft"  # the SLURM comment the executor gives the job
CHECKPOINT = "results/checkpoints/smollm2/sft/checkpoint-2/trainer_state.json"
METHODS = CONFIG["methods"]


def cancel_after_checkpoint(workdir: Path, done: threading.Event, log: list[str]) -> None:
    """Wait for the SFT job's first checkpoint, then scancel the SLURM job running it."""
    while not done.wait(0.2):
        if not (workdir / CHECKPOINT).is_file():
            continue
        queue = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True, check=False).stdout
        ids = [line.split()[0] for line in queue.splitlines() if FAULT in line]
        if ids:
            subprocess.run(["scancel", *ids], check=True)
            log.extend(ids)
            return


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], str]:
    reason = cluster_up()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("rehearsal")
    (workdir / "tests").symlink_to(REPO / "tests")  # the Hub fixtures' `local` paths are relative
    env = {**ENV, "HF_HOME": str(workdir / "hf-home")}
    cancelled: list[str] = []
    done = threading.Event()
    with FixtureServer(REPO / "tests/fixtures/rehearsal/http", port=PORT):
        watcher = threading.Thread(target=cancel_after_checkpoint, args=(workdir, done, cancelled), daemon=True)
        watcher.start()
        cmd = snakemake_command(workdir, "--profile", str(REPO / "profiles/slurm-local"))
        cmd += ["--configfile", str(REPO / "config/rehearsal.yaml"), "--retries", "1"]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=3000, check=False)
        done.set()
        watcher.join()
    if proc.returncode != 0:
        raise AssertionError(f"rehearsal failed ({proc.returncode}):\n{proc.stdout[-20000:]}\n{proc.stderr[-20000:]}")
    return workdir, cancelled, proc.stderr


def records(workdir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((workdir / "results/provenance").rglob("*.json"))]


def test_every_rule_of_the_paper_dag_ran(rehearsal: tuple[Path, list[str], str]) -> None:
    workdir, _, _ = rehearsal
    paper = snakemake(workdir, "-n", "--quiet", "rules", "--configfile", str(REPO / "config/paper.yaml"), check=False)
    ran = {r["rule"] for r in records(workdir)}
    planned = {
        line.split()[0] for line in paper.stdout.splitlines() if line.split()[-1:] and line.split()[-1].isdigit()
    }
    planned -= {"total", "job", "all"}
    assert planned and planned <= ran, planned - ran


def test_jobs_went_through_sbatch_except_the_local_rules(rehearsal: tuple[Path, list[str], str]) -> None:
    workdir, _, _ = rehearsal
    local = {"acquire_wikidata_dump", "acquire_ted2025", "acquire_flores", "acquire_klar", "acquire_hub_mcq"}
    local |= {"acquire_encoder"}
    local |= {"prepare_base_model", "prepare_llm", "export_hf_dataset", "data_report", "results_table", "significance"}
    local |= {"evaluation_figures", "models_report", "interpretability_table", "interpretability_figures"}
    local |= {"training_curves"}
    local |= {"select_checkpoint", "paper_comparison"}
    for record in records(workdir):
        if record["rule"] in local:
            continue
        assert record["slurm_job_id"] and record["slurm_job_id"].isdigit(), record["rule"]


def test_acquired_data_and_outputs(rehearsal: tuple[Path, list[str], str]) -> None:
    workdir, _, _ = rehearsal
    dump = json.loads((workdir / "data/acquired/wikidata-20251201-all.json.gz.json").read_text())
    assert dump["checksum"].startswith("md5:") and dump["bytes"] > 0
    assert (workdir / "data/klar/en/capital.json").is_file()
    lite = json.loads((workdir / "data/acquired/global-mmlu-lite.json").read_text())
    assert "de" in lite["missing"] and lite["rows"]["test"]["en"] == 2
    table = (workdir / "results/tables/main.md").read_text()
    for method in METHODS:
        assert f"| {method} |" in table or f"| smollm2 | {method} |" in table, method
    for method in METHODS:
        summary = json.loads((workdir / f"results/eval/smollm2/{method}/polyfact.json").read_text())["summary"]
        assert set(summary["accuracy"]) == set(CONFIG["languages"]["eval"]) and 0 <= summary["accuracy_mean"] <= 1
        assert (workdir / f"results/eval/smollm2/{method}/klar.json").is_file()
        assert (workdir / f"results/eval/smollm2/{method}/polyfact-released.json").is_file()
        for analysis in ("lape", "lahis", "mexa"):
            assert (workdir / f"results/interp/smollm2/{method}/{analysis}.json").is_file()
    assert (workdir / "results/figures/smollm2/mexa_delta.pdf").is_file()


def test_global_mmlu_outputs(rehearsal: tuple[Path, list[str], str]) -> None:
    """Global-MMLU(-Lite) on the acquired fixture sets, every method: the languages each set has
    (Lite without de and ru), the two questions all of them share, the low group (sw), letter
    scoring; their columns in the main table and the significance table."""
    workdir, _, _ = rehearsal
    sets = {"global-mmlu": {"en", "de", "fr", "ru", "zh", "sw"}, "global-mmlu-lite": {"en", "fr", "zh", "sw"}}
    for method in METHODS:
        for name, languages in sets.items():
            data = json.loads((workdir / f"results/eval/smollm2/{method}/{name}.json").read_text())
            summary = data["summary"]
            assert set(summary["accuracy"]) == languages and summary["scoring"] == "letter", (method, name)
            assert summary["data"]["questions"] == 2 and len(data["predictions"]) == 2 * len(languages)
            assert summary["groups"]["low"]["languages"] == ["sw"] and 0 <= summary["totcons"] <= 1
            assert summary["rankc"]["all_pairs"] is not None
    lite = json.loads((workdir / "results/eval/smollm2/base/global-mmlu-lite.json").read_text())["summary"]["data"]
    assert lite["missing_languages"] == [
        lang for lang in CONFIG["languages"]["eval"] if lang not in sets["global-mmlu-lite"]
    ]
    table = (workdir / "results/tables/main.md").read_text()
    assert "Global-MMLU-Lite high" in table and "Global-MMLU low" in table and "Global-MMLU RankC" in table
    assert "gmmlu_lite_totcons" in (workdir / "results/tables/main.csv").read_text().splitlines()[0]
    significance = json.loads((workdir / "results/tables/significance.json").read_text())["comparisons"]
    assert {"global-mmlu", "global-mmlu-lite"} <= {r["benchmark"] for r in significance}


def test_consistency_baselines(rehearsal: tuple[Path, list[str], str]) -> None:
    """DCO and CM-Align through SLURM: CM-Align's pairs sampled by SmolLM2 and embedded by the
    acquired encoder (its manifest), both trained, and both compared with base and GRPO."""
    workdir, _, _ = rehearsal
    encoder = json.loads((workdir / "data/acquired/encoder.json").read_text())
    assert "modules.json" in {f["path"] for f in encoder["files"]}
    for method in ("cmalign", "cpt+cmalign"):
        stats = json.loads((workdir / f"results/preferences/smollm2/{method}.stats.json").read_text())
        assert stats["construct"]["encoder"] == "data/encoders/LaBSE" and stats["facts"] == 3
        assert stats["rollouts"]["requests"] == 3 * len(CONFIG["languages"]["train"]) * 2
    for method in ("dco", "cmalign", "cpt+cmalign"):
        stats = json.loads((workdir / f"results/models/smollm2/{method}/train_stats.json").read_text())
        assert stats["method"] == method.rsplit("+", 1)[-1] and stats["steps"] == 2
        assert stats["preference_history"] and stats["lora"]["r"] == 8
    significance = (workdir / "results/tables/significance.md").read_text()
    for pair in ("dco vs base", "dco vs grpo", "cmalign vs grpo", "cpt+cmalign vs cpt+grpo"):
        assert pair in significance, pair


def test_paper_protocol_outputs(rehearsal: tuple[Path, list[str], str]) -> None:
    """What paper.yaml adds: GRPO's kept step scored on val and the choice named in the main
    table, KLAR's contamination columns, every released language aligned, and the published
    numbers beside ours."""
    workdir, _, _ = rehearsal
    for method in ("grpo", "cpt+grpo"):
        assert {p.name for p in (workdir / f"results/selection/smollm2/{method}").iterdir()} == {
            "final.json",
            "step-1.json",
        }
        stats = json.loads((workdir / f"results/models/smollm2/{method}/train_stats.json").read_text())
        assert stats["checkpoint"]["selected_by"] == "totcons" and set(stats["checkpoint"]["scores"]) == {
            "final",
            "step-1",
        }
    table = (workdir / "results/tables/main.md").read_text()
    assert "(val totcons " in table and "KLAR contam." in table and "KLAR non-shared" in table
    released = json.loads((workdir / "results/eval/smollm2/base/polyfact-released.json").read_text())
    per_language = released["summary"]["data"]["alignment"]["per_language"]
    assert all(counts["aligned"] > 0 for counts in per_language.values()), per_language
    klar = json.loads((workdir / "results/eval/smollm2/base/klar.json").read_text())["summary"]
    assert set(klar["accuracy"]) == {"ar", "en", "ja", "ko", "zh"}  # the directories acquired
    comparison = (workdir / "results/tables/paper_comparison.md").read_text()
    assert "| smollm2 | grpo | polyfact |" in comparison and "not published" in comparison
    assert "| qwen2.5-7b | grpo | polyfact |" in comparison and "not run" in comparison
    assert "| smollm2 | grpo | global-mmlu-lite |" in comparison and "| smollm2 | grpo | global-mmlu |" in comparison


def test_a_cancelled_training_job_resumes_and_matches_an_undisturbed_run(
    rehearsal: tuple[Path, list[str], str], tmp_path: Path
) -> None:
    workdir, cancelled, log = rehearsal
    assert cancelled, "the SFT job was never seen running after its first checkpoint"
    stats = json.loads((workdir / "results/models/smollm2/sft/train_stats.json").read_text())
    assert stats["resumed_from"] and stats["resumed_from"].endswith("checkpoint-2")
    # The same job undisturbed, from copies of its inputs (mtimes kept: nothing upstream reruns).
    for part in ("results/data", "results/models/smollm2/base", "data", "config"):
        src = workdir / part
        dst = tmp_path / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copytree(src, dst, copy_function=shutil.copy2, symlinks=True)
    targets = ["results/models/smollm2/sft", "results/eval/smollm2/sft/polyfact.json"]
    snakemake(
        tmp_path,
        *targets,
        "--configfile",
        str(REPO / "config/rehearsal.yaml"),
        "--allowed-rules",
        "train",
        "select_checkpoint",
        "evaluate_mcq",
    )
    resumed = load_file(workdir / "results/models/smollm2/sft/model.safetensors")
    fresh = load_file(tmp_path / "results/models/smollm2/sft/model.safetensors")
    assert resumed.keys() == fresh.keys()
    for name, tensor in fresh.items():
        assert (resumed[name] == tensor).all(), name
    evaluation = "results/eval/smollm2/sft/polyfact.json"  # summary and every prediction
    assert json.loads((workdir / evaluation).read_text()) == json.loads((tmp_path / evaluation).read_text())


def test_llm_stage_outputs(rehearsal: tuple[Path, list[str], str]) -> None:
    """The LLM stage on the wheel model: the partly labelled cities' labels translated (and
    marked so), questions written in two shards and counted per language, and the audit."""
    import pandas as pd

    workdir, _, _ = rehearsal
    facts = pd.read_parquet(workdir / "results/data/facts.translated.parquet")
    sources = pd.Series(facts.filter(like="_label_source_").to_numpy().ravel()).value_counts().to_dict()
    assert sources.get("translated", 0) > 0 and sources.get("extracted", 0) > 0, sources
    assert set(facts.loc[facts["subject_id"] == "Q648", "subject_label_source_en"]) == {"extracted"}
    report = json.loads((workdir / "results/data/report.json").read_text())
    translation = report["translation"]["per_language"]
    assert sum(c["needed"] for c in translation.values()) == 4 * 6  # four cities x six languages
    generation = report["dataset"]["question_generation"]
    assert len(generation["shards"]) == 2 and set(generation["per_language"]) == set(CONFIG["languages"]["eval"])
    assert all(c["generated"] + c["dropped"] == generation["facts"] for c in generation["per_language"].values())
    kept = report["dataset"]["facts_out"]
    assert kept > 0 and kept <= generation["facts"] - generation["dropped"]
    md = (workdir / "results/data/report.md").read_text()
    assert "## Questions written by an LLM" in md and "## Label translation" in md
    audit = json.loads((workdir / "results/data/audit.json").read_text())
    assert audit["cells"] and all(c["n"] >= 1 for c in audit["cells"])
    assert "| relation | language | n |" in (workdir / "results/data/audit.md").read_text()
