"""The rehearsal config (config/rehearsal.yaml) plans the Global-MMLU(-Lite) evaluations as
evaluate_mcq jobs on the acquired sets, read by the tables; the default config plans none (a
dry run: no job runs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.workflow.test_data_workflow import REPO, snakemake

REHEARSAL = yaml.safe_load((REPO / "config/rehearsal.yaml").read_text())
SETS = ["global-mmlu-lite", "global-mmlu"]


def dry_run(workdir: Path, *args: str) -> list[dict[str, str]]:
    """Every planned job of a dry run with its shell command: rule, wildcards, input, shell."""
    (workdir / "tests").symlink_to(REPO / "tests")  # the Hub fixtures' `local` paths are relative
    out = snakemake(workdir, "-n", "-p", *args).stdout
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if not rule:
            continue
        job = {"rule": rule.group(1)}
        for key in ("input", "wildcards"):
            found = re.search(rf"^\s+{key}: (.*)$", block, flags=re.M)
            job[key] = found.group(1) if found else ""
        shell = re.search(r"^Shell command: (.*)$", block, flags=re.M)
        job["shell"] = shell.group(1) if shell else ""
        jobs.append(job)
    return jobs


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("rehearsal-dry")
    return workdir, dry_run(workdir, "--configfile", str(REPO / "config/rehearsal.yaml"))


def test_rehearsal_plans_global_mmlu_for_every_method(rehearsal: tuple[Path, list[dict[str, str]]]) -> None:
    _, jobs = rehearsal
    evals = [j for j in jobs if j["rule"] == "evaluate_mcq" and "benchmark=global-mmlu" in j["wildcards"]]
    planned = {
        (m.group(1), m.group(2)) for j in evals if (m := re.search(r"method=(\S+), benchmark=(\S+)", j["wildcards"]))
    }
    assert planned == {(method, name) for method in REHEARSAL["methods"] for name in SETS}
    for job in evals:
        name = job["wildcards"].rsplit("=", 1)[1]
        assert f"data/mcq/{name}" in job["input"].split(", ")
        assert f"--data data/mcq/{name} --format global-mmlu --split test --scoring letter" in job["shell"]
        assert "--languages en,de,fr,es,pt,ru,zh,ja,ar,bn,id,sw --low-resource bn,id,sw" in job["shell"]
        assert "--skip-missing-languages" in job["shell"] and "--max-questions" not in job["shell"]
        assert "--normalisation token" in job["shell"]
    acquired = {j["wildcards"] for j in jobs if j["rule"] == "acquire_hub_mcq"}
    assert {f"mcq_set={name}" for name in SETS} <= acquired
    table = next(j for j in jobs if j["rule"] == "results_table")
    for name in SETS:
        assert f"results/eval/smollm2/grpo/{name}.json" in table["input"].split(", ")
    comparison = next(j for j in jobs if j["rule"] == "paper_comparison")
    assert "results/eval/smollm2/base/global-mmlu-lite.json" in comparison["input"].split(", ")


def test_global_mmlu_jobs_depend_on_their_own_settings_only(rehearsal: tuple[Path, list[dict[str, str]]]) -> None:
    """A Global-MMLU job's config slice: scoring settings and its section (not the list of
    sets: adding a set reruns no other); the PolyFact jobs' slice leaves global_mmlu out."""
    workdir, _ = rehearsal
    specs = {
        p.name.split(".")[0]: json.loads(p.read_text())
        for p in (workdir / ".snakemake/polyfact/jobs/evaluate_mcq").iterdir()
    }
    lite = specs["model=smollm2,method=base,benchmark=global-mmlu-lite"]["config"]
    assert set(lite["evaluation"]) == {"normalisation", "batch_size", "global_mmlu"} and "seed" not in lite
    assert "sets" not in lite["evaluation"]["global_mmlu"] and lite["evaluation"]["global_mmlu"]["scoring"] == "letter"
    ours = specs["model=smollm2,method=base,benchmark=polyfact"]["config"]
    assert "global_mmlu" not in ours["evaluation"] and "klar" in ours["evaluation"]


def test_the_default_config_plans_no_global_mmlu(tmp_path: Path) -> None:
    jobs = dry_run(tmp_path)
    assert not [j for j in jobs if "global-mmlu" in j["wildcards"] or "global-mmlu" in j["input"]]
