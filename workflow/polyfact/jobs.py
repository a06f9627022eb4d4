"""Running one workflow job: the command itself, then its provenance record and MLflow run
(§10). Neither bookkeeping step can fail the job's own work: provenance is written only after
the command succeeded, and tracking errors are warnings."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from polyfact.provenance import Job, environment, now, write_record
from polyfact.tracking import JobRun, flatten, summary_metrics

log = logging.getLogger(__name__)
ARTIFACT_SUFFIXES = (".png", ".pdf", ".md", ".csv")


def _results(outputs: list[str]) -> tuple[dict[str, float], list[Path]]:
    """Metrics (an evaluation's summary, a checkpoint's training stats) and artifacts
    (figures, tables) among a job's outputs."""
    metrics: dict[str, float] = {}
    artifacts = []
    for output in map(Path, outputs):
        if output.suffix in ARTIFACT_SUFFIXES:
            artifacts.append(output)
        elif output.suffix == ".json" and output.stat().st_size < 50_000_000:
            data = json.loads(output.read_text(encoding="utf-8"))
            if isinstance(data, Mapping) and "summary" in data:
                metrics.update(summary_metrics(data["summary"]))
        elif output.is_dir() and (output / "train_stats.json").is_file():
            stats = json.loads((output / "train_stats.json").read_text(encoding="utf-8"))
            metrics.update(summary_metrics({k: v for k, v in stats.items() if k != "log_history"}))
    return metrics, artifacts


def put_interpreter_on_path() -> None:
    """Jobs run the `polyfact` of the Python running Snakemake, also when it was started as
    `.venv/bin/snakemake` without the venv on PATH (called by the Snakefile; a rule's conda
    env, activated inside each job's shell, still comes first under --use-conda)."""
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def run_job(job: Job, command: Callable[[], None]) -> None:
    """Run `command` as workflow job `job`: tracked, and recorded once it has succeeded."""
    env = environment()
    tags = {
        "rule": job.rule,
        "wildcards": json.dumps(job.wildcards, sort_keys=True),
        "git_commit": env["git_commit"] or "",
        "config_digest": job.config_digest,
        "entry": job.entry,
        "code_digest": job.code_digest,
        "slurm_job_id": env["slurm"].get("SLURM_JOB_ID", ""),
        "host": env["host"],
    }
    started, start = now(), time.perf_counter()
    run = JobRun(job.name, tags).start()
    params = flatten(job.config, "config.")
    run.log_params({k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()})
    ok = False
    try:
        command()
        ok = True
    finally:
        if ok:
            record = write_record(job, started, time.perf_counter() - start, run.run_id, env)
            record_path = job.record_path
            log.info("provenance: %s", record_path)
            run.set_tags(
                {
                    "inputs": json.dumps({i["path"]: i["sha256"] for i in record["inputs"]}, sort_keys=True),
                    "provenance": str(record_path),
                }
            )
            metrics, artifacts = _results(job.outputs)
            run.log_metrics(metrics)
            run.log_artifacts([*artifacts, record_path])
        run.end(ok)
