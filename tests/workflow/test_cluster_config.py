"""The cluster profile resolves every paper-scale job's resources as intended (a dry run:
no SLURM needed), from an empty working directory: every input is acquired by a rule."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.workflow.test_data_workflow import ENV, REPO, snakemake

GPU_RULES = {"train", "cmalign_pairs", "evaluate_mcq", "evaluate_candidate", "evaluate_klar", "interpret"}
LLM_RULES = {"translate_labels", "generate_questions", "audit_dataset"}  # the dataset's LLM stage
ACQUIRE_RULES = {
    "acquire_wikidata_dump",
    "acquire_ted2025",
    "acquire_flores",
    "acquire_klar",
    "acquire_hub_mcq",
    "acquire_encoder",  # CM-Align's LaBSE
}
LOCAL_RULES = {
    "all",
    *ACQUIRE_RULES,
    "prepare_base_model",  # downloads the Hub weights: with acquisition, on the submit host
    "prepare_llm",  # likewise, the LLM stage's model
    "export_hf_dataset",
    "select_checkpoint",
    "data_report",
    "models_report",
    "results_table",
    "significance",
    "paper_comparison",
    "evaluation_figures",
    "training_curves",
    "interpretability_table",
    "interpretability_figures",
}


def planned_resources(workdir: Path, *args: str, env: dict[str, str] | None = None) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job in a dry run's job listing."""
    out = snakemake(workdir, "-n", *args, env=env).stdout
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        resources = re.search(r"^\s+resources: (.*)$", block, flags=re.M)
        if rule:
            pairs = (item.split("=", 1) for item in resources.group(1).split(", ")) if resources else []
            jobs.append((rule.group(1), dict(pairs)))
    return jobs


def paper_workdir(root: Path) -> Path:
    """An empty working directory, as on a fresh checkout: nothing placed by hand."""
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="module")
def paper_jobs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, dict[str, str]]]:
    workdir = paper_workdir(tmp_path_factory.mktemp("paper"))
    return planned_resources(workdir, "--profile", str(REPO / "profiles/slurm"), "--configfile", "config/paper.yaml")


def test_paper_dry_run_plans_both_models_only(paper_jobs: list[tuple[str, dict[str, str]]]) -> None:
    rules = [rule for rule, _ in paper_jobs]
    assert rules.count("prepare_base_model") == 2  # no toy model merged in from config.yaml
    assert rules.count("train") == 2 * 9 and rules.count("interpret") == 2 * 10 * 3
    assert rules.count("cmalign_pairs") == 2 * 2  # cmalign and cpt+cmalign, per model
    # the LLM stage: one writer (also the judge), 8 question shards, labels, the audit
    assert rules.count("prepare_llm") == 1 and rules.count("generate_questions") == 8
    assert rules.count("translate_labels") == 1 and rules.count("audit_dataset") == 1


def test_paper_dry_run_acquires_every_external_input(paper_jobs: list[tuple[str, dict[str, str]]]) -> None:
    rules = [rule for rule, _ in paper_jobs]
    assert ACQUIRE_RULES <= set(rules)
    assert rules.count("acquire_hub_mcq") == 4  # PolyFact, PolyFact-Clean, Global-MMLU(-Lite)


def test_acquisition_can_be_submitted_to_a_network_partition(tmp_path: Path) -> None:
    workdir = paper_workdir(tmp_path / "work")
    args = ["--profile", str(REPO / "profiles/slurm"), "--configfile", "config/paper.yaml"]
    jobs = planned_resources(workdir, *args, "--config", 'acquire={"run_on": "cluster"}')
    acquisition = [res for rule, res in jobs if rule in ACQUIRE_RULES | {"prepare_base_model", "prepare_llm"}]
    assert len(acquisition) == 12
    assert {res["slurm_partition"] for res in acquisition} == {"<network-partition>"}


def test_gpu_rules_get_one_gpu_and_the_gpu_partition(paper_jobs: list[tuple[str, dict[str, str]]]) -> None:
    for rule, res in paper_jobs:
        if rule in GPU_RULES:
            assert res["gpu"] == "1" and res["slurm_partition"] == "<gpu-partition>", rule
            assert res["mem_mb"] == "64000", rule
            assert res["runtime"] == ("1440" if rule in {"train", "cmalign_pairs"} else "240"), rule
        elif rule in LLM_RULES:  # the 35B writer: paper.yaml's dataset.llm resources
            assert res["gpu"] == "1" and res["slurm_partition"] == "<gpu-partition>", rule
            assert res["mem_mb"] == "160000" and res["runtime"] == "720", rule
        elif rule not in LOCAL_RULES:
            assert res["gpu"] == "0" and res["slurm_partition"] == "<cpu-partition>", rule
            assert res["slurm_account"] == "<account>", rule
    base = next(res for rule, res in paper_jobs if rule == "prepare_base_model")
    assert base["mem_mb"] == "64000"  # loading a 7B checkpoint in bf16 on the CPU partition


def test_the_profile_has_retries_and_no_hardware_flags_in_slurm_extra() -> None:
    import yaml

    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1 and profile["latency-wait"] >= 30
    assert "slurm_extra" not in profile["default-resources"]
    assert "default-resources" not in yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())


def test_the_users_own_command_snakemake_profile_slurm(tmp_path: Path) -> None:
    """`make slurm-profile` installs the profile where Snakemake looks up `--profile slurm`
    (~/.config/snakemake/slurm), with the user's partitions and account filled in."""
    home = tmp_path / "home"
    make = ["make", "-C", str(REPO), "slurm-profile", f"HOME={home}", "PARTITION=cpu", "GPU_PARTITION=a100"]
    subprocess.run([*make, "ACCOUNT=proj"], check=True, capture_output=True)
    installed = (home / ".config/snakemake/slurm/config.yaml").read_text()
    assert "<" not in installed and "a100" in installed
    env = {**ENV, "HOME": str(home)}
    workdir = paper_workdir(tmp_path / "work")
    jobs = planned_resources(workdir, "--profile", "slurm", "--configfile", "config/paper.yaml", env=env)
    partitions = {rule: res.get("slurm_partition") for rule, res in jobs}
    assert partitions["train"] == "a100" and partitions["extract_facts"] == "cpu"
    assert {res.get("slurm_account") for rule, res in jobs if rule == "extract_facts"} == {"proj"}
