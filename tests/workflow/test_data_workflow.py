"""The data half of the DAG on the embedded default config: dry run, real run, reruns,
determinism, and config errors before any job runs."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
DATA_TARGETS = ["results/data/report.md", "results/data/hf", "results/data/polyfact/test/en.jsonl"]


def snakemake_command(workdir: Path, *args: str, cores: int = 2) -> list[str]:
    """The workflow run in `workdir`, deployed as a user would: its own config/ beside results/."""
    if not (workdir / "config").exists():
        (workdir / "config").symlink_to(REPO / "config")
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
        *args,
    ]


def snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        snakemake_command(workdir, *args), cwd=REPO, env=env or ENV, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned_jobs(workdir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, int]:
    """Rule -> count from a dry run's job table (targets first: some options take many values)."""
    out = snakemake(workdir, *args, "-n", "--quiet", "rules", env=env).stdout
    jobs: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            jobs[parts[0]] = int(parts[1])
    return jobs


def override(workdir: Path, section: str, **values: object) -> str:
    """A config file with one section's keys changed (merged over config/config.yaml)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config[section].update(values)
    path = workdir / f"override-{section}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("run")
    snakemake(workdir, *DATA_TARGETS)
    return workdir


def test_dry_run_plans_data_stages(tmp_path: Path) -> None:
    jobs = planned_jobs(tmp_path, *DATA_TARGETS)
    assert jobs == {"extract_facts": 1, "build_dataset": 1, "export_hf_dataset": 1, "data_report": 1}


@pytest.mark.slow
def test_default_data_stages_produce_contract_outputs(built: Path) -> None:
    import json

    import pyarrow.parquet as pq

    facts = pq.read_table(built / "results/data/facts.parquet").to_pandas()
    assert {"fact_id", "subject_id", "property_id", "object_id", "subject_label_bn", "object_label_zh"} <= set(
        facts.columns
    )
    assert len(facts) >= 800 and facts["property_id"].nunique() >= 4
    rows = [json.loads(line) for line in (built / "results/data/polyfact/test/en.jsonl").read_text().splitlines()]
    assert rows and {"fact_id", "question", "option_a", "answer_index", "option_ids"} <= set(rows[0])
    report = json.loads((built / "results/data/report.json").read_text())
    assert report["dataset"]["facts_out"] > 500
    assert report["baselines"]["mean"]["train_gold_prior"] < 0.4  # options do not leak the answer
    assert (built / "results/data/hf/parallel/dataset_dict.json").exists()
    assert (built / "results/data/hf/bn/test/state.json").exists()


@pytest.mark.slow
def test_complete_run_plans_nothing_and_reruns_only_stale(built: Path) -> None:
    assert planned_jobs(built, *DATA_TARGETS) == {}
    # a dataset hyper-parameter: the dataset and its consumers rerun, extraction does not
    jobs = planned_jobs(built, *DATA_TARGETS, "--configfile", override(built, "dataset", max_answer_share=0.35))
    assert jobs == {"build_dataset": 1, "export_hf_dataset": 1, "data_report": 1}
    # a facts key: everything downstream of extraction
    jobs = planned_jobs(built, *DATA_TARGETS, "--configfile", override(built, "facts", max_facts=900))
    assert jobs == {"extract_facts": 1, "build_dataset": 1, "export_hf_dataset": 1, "data_report": 1}


@pytest.mark.slow
def test_same_config_same_bytes(built: Path, tmp_path: Path) -> None:
    snakemake(tmp_path, *DATA_TARGETS)
    for rel in ["results/data/facts.parquet", "results/data/report.md", "results/data/report.json"]:
        assert filecmp.cmp(built / rel, tmp_path / rel, shallow=False), rel
    for sub in ["results/data/polyfact", "results/data/hf"]:
        files = sorted(p.relative_to(built / sub) for p in (built / sub).rglob("*") if p.is_file())
        assert files
        for f in files:
            assert filecmp.cmp(built / sub / f, tmp_path / sub / f, shallow=False), f


def test_unknown_config_key_fails_before_any_job(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("facts:\n  relatons: [P30]\n")
    proc = snakemake(tmp_path, "-n", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "relatons" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_relation_unsupported_by_source_fails_naming_it(tmp_path: Path) -> None:
    config = override(tmp_path, "facts", relations=["P30", "P69"])
    proc = snakemake(tmp_path, "-n", "--configfile", config, check=False)
    assert proc.returncode != 0 and "P69" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_wikidata_dump_source_through_the_dag(tmp_path: Path) -> None:
    (tmp_path / "tests").symlink_to(REPO / "tests")  # the config's dump path is relative
    snakemake(tmp_path, *DATA_TARGETS, "--configfile", "config/test-wikidata-dump.yaml")
    import json

    rows = [json.loads(line) for line in (tmp_path / "results/data/polyfact/train/bn.jsonl").read_text().splitlines()]
    facts = {r["fact_id"] for r in rows}
    assert facts and all(f.split("|")[1] in {"P17", "P37"} for f in facts)
    stats = json.loads((tmp_path / "results/data/facts.stats.json").read_text())
    assert stats["source"] == "wikidata-dump" and stats["dump_malformed"] == 0


@pytest.mark.slow
def test_report_html(built: Path) -> None:
    snakemake(built, *DATA_TARGETS, "--report", "results/report.html")
    html = (built / "results/report.html").read_text(errors="replace")
    assert "report.md" in html


def test_the_console_shows_short_shell_commands(tmp_path: Path) -> None:
    """Printed shell commands carry the job's file, not its JSON (DAG of the whole default)."""
    proc = snakemake(tmp_path, "-n")
    lines = (proc.stdout + proc.stderr).splitlines()
    commands = [line.split("Shell command: ", 1)[1] for line in lines if "Shell command: polyfact --job " in line]
    assert len(commands) > 30
    assert not [c for c in commands if "{" in c], "JSON on the console"
    assert max(map(len, commands)) < 1600  # the longest lists a model's 18 analysis files
    spec = commands[0].split()[2]
    assert spec.startswith(".snakemake/polyfact/jobs/") and (tmp_path / spec).is_file()


@pytest.mark.slow
def test_jobs_run_from_the_venvs_snakemake_without_the_venv_on_path(tmp_path: Path) -> None:
    """`.venv/bin/snakemake` with a plain PATH: jobs still find `polyfact` (no exit 127)."""
    (tmp_path / "config").symlink_to(REPO / "config")
    env = {**ENV, "PATH": "/usr/bin:/bin"}
    cmd = [str(Path(sys.executable).parent / "snakemake"), "results/data/facts.parquet", "--snakefile"]
    cmd += [str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1"]
    cmd += ["--configfile", str(REPO / "config/test-tiny.yaml")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "results/provenance/extract_facts/job.json").is_file()
