"""The workflow through a real SLURM: the local one-node cluster of `scripts/local-slurm up`
(CI brings it up; elsewhere these tests skip with the reason)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.workflow.test_data_workflow import REPO, snakemake

pytestmark = pytest.mark.slow
PROFILE = REPO / "profiles/slurm-local"
LOCAL_RULES = {"export_hf_dataset", "data_report"}  # localrules among the targets below


def cluster_up() -> str | None:
    """Why the cluster tests cannot run here, or None when a node is idle."""
    if not shutil.which("sbatch"):
        return "no SLURM here: run `scripts/local-slurm up` as root (CI does) to run the cluster tests"
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0 or not {"idle", "mixed"} & set(proc.stdout.split()):
        return f"SLURM is installed but no node is idle (sinfo: {proc.stdout.strip() or proc.stderr.strip()})"
    return None


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = cluster_up()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("slurm")
    config = yaml.safe_load((REPO / "config/test-tiny.yaml").read_text())
    config["training"]["gpus"] = 1  # prepare_base_model becomes a GPU job
    (workdir / "cluster.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/data/report.md", "results/models/toy/base"]
    snakemake(workdir, *targets, "--profile", str(PROFILE), "--configfile", str(workdir / "cluster.yaml"))
    return workdir


def records(workdir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (workdir / "results/provenance").rglob("*.json")}


def test_every_cluster_job_went_through_sbatch(cluster_run: Path) -> None:
    jobs = records(cluster_run)
    assert {"extract_facts", "build_dataset", "prepare_base_model"} <= set(jobs)
    for rule, record in jobs.items():
        if rule in LOCAL_RULES:
            assert record["slurm_job_id"] is None, rule
        else:
            assert record["slurm_job_id"] and record["slurm_job_id"].isdigit(), rule
    ids = [r["slurm_job_id"] for r in jobs.values() if r["slurm_job_id"]]
    assert len(set(ids)) == len(ids)  # one SLURM job per workflow job


def test_the_gpu_rule_was_granted_a_gpu(cluster_run: Path) -> None:
    jobs = records(cluster_run)
    assert jobs["prepare_base_model"]["devices"].get("CUDA_VISIBLE_DEVICES") == "0"
    assert "CUDA_VISIBLE_DEVICES" not in jobs["extract_facts"]["devices"]
    assert (cluster_run / "results/models/toy/base/config.json").is_file()
