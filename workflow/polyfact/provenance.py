"""Provenance of workflow jobs and the lineage of any artifact (§10).

Every rule runs `polyfact --job {params.job} <command>`: a small JSON file written by
rules/common.smk `job_spec` with the job's rule, wildcards, config slice and code digest, and
its inputs and outputs. After the command succeeds the job writes one record under
results/provenance/{rule}/: inputs and outputs with sha256, the config slice and its digest,
the code digest, package versions, git commit, host, timing, MLflow run id and SLURM job
id. `polyfact lineage PATH` walks those records from an artifact back to the source data.
"""

from __future__ import annotations

import getpass
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from polyfact.errors import PolyfactError
from polyfact.io import read_json, write_json

PACKAGES = (
    "polyfact",
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "snakemake",
    "mlflow",
    "babel",
)
SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_JOB_PARTITION", "SLURM_JOB_NODELIST", "SLURM_JOB_GPUS")
DEVICE_VARIABLES = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_GPUS_ON_NODE")


@dataclass(frozen=True)
class Job:
    """What a rule tells the CLI about the job it runs (see rules/common.smk `job_params`)."""

    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    config_digest: str = ""
    entry: str = ""
    code_digest: str = ""
    provenance_dir: str = "results/provenance"

    @classmethod
    def load(cls, spec: str) -> Job:
        """From the rule's `job` param: the job's file, or its JSON given inline."""
        if spec.lstrip().startswith("{"):
            return cls.from_json(spec)
        try:
            return cls.from_json(Path(spec).read_text(encoding="utf-8"))
        except OSError as err:
            raise PolyfactError(f"--job: cannot read the job's file: {err}") from None

    @classmethod
    def from_json(cls, text: str) -> Job:
        """From the job's JSON (see rules/common.smk `job_spec`)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise PolyfactError(f"--job: not JSON: {err}") from None
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise PolyfactError(f"--job: unknown keys {sorted(unknown)}")
        if not data.get("rule"):
            raise PolyfactError("--job: no rule named")
        data["wildcards"] = dict(data.get("wildcards") or {})  # [name, value] pairs keep the rule's order
        return cls(**data)

    @property
    def name(self) -> str:
        """`{rule}/{wildcard values}`: the MLflow run name."""
        return "/".join([self.rule, *self.wildcards.values()])

    @property
    def record_path(self) -> Path:
        stem = ",".join(f"{k}={v}" for k, v in self.wildcards.items()) or "job"
        return Path(self.provenance_dir) / self.rule / f"{stem}.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_path(path: str | Path) -> str:
    """A file's sha256; a directory's is the sha256 of its sorted (relative path, sha256)
    lines, so a model directory has one digest that changes with any file in it."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    if path.is_dir():
        lines = [f"{f.relative_to(path).as_posix()} {sha256_file(f)}\n" for f in sorted(path.rglob("*")) if f.is_file()]
        return hashlib.sha256("".join(lines).encode()).hexdigest()
    raise PolyfactError(f"{path}: cannot digest, no such file or directory")


def _stat_key(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def describe(paths: Sequence[str], known: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Path, sha256 and (size, mtime) of each path. An unchanged file recorded by the job that
    made it is not hashed again (a 15 GB checkpoint is an input of several jobs)."""
    out = []
    for p in paths:
        path = Path(p)
        stat = _stat_key(path) if path.is_file() else None
        prior = known.get(p)
        if prior and stat and prior.get("stat") == stat:
            digest = prior["sha256"]
        else:
            digest = sha256_path(path)
        out.append({"path": p, "sha256": digest, "stat": stat})
    return out


def iter_records(provenance_dir: str | Path) -> Iterator[dict[str, Any]]:
    for path in sorted(Path(provenance_dir).rglob("*.json")):
        record = read_json(path)
        record["record"] = str(path)
        yield record


def output_index(provenance_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Output path -> the record of the job that wrote it."""
    return {o["path"]: r for r in iter_records(provenance_dir) for o in r["outputs"]}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The commit of the workflow's source (with `-dirty` for uncommitted changes)."""
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return commit.stdout.strip() or None


def environment() -> dict[str, Any]:
    """Where and with what the job ran: host, user, SLURM job, visible devices, versions."""
    return {
        "host": socket.gethostname(),
        "user": getpass.getuser(),
        "argv": sys.argv,
        "slurm": {k: os.environ[k] for k in SLURM_VARIABLES if k in os.environ},
        "devices": {k: os.environ[k] for k in DEVICE_VARIABLES if k in os.environ},
        "versions": package_versions(),
        "git_commit": git_commit(),
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_record(job: Job, started: str, seconds: float, run_id: str | None, env: Mapping[str, Any]) -> dict[str, Any]:
    """Write the job's provenance record (to `job.record_path`, atomically, once its outputs
    exist) and return it."""
    known = {o["path"]: o for r in iter_records(job.provenance_dir) for o in r["outputs"]}
    record = {
        "rule": job.rule,
        "wildcards": job.wildcards,
        "job": job.name,
        "inputs": describe(job.inputs, known),
        "outputs": describe(job.outputs, {}),
        "config": job.config,
        "config_digest": job.config_digest,
        "entry": job.entry,
        "code_digest": job.code_digest,
        "started": started,
        "finished": now(),
        "seconds": round(seconds, 3),
        "mlflow_run_id": run_id,
        "slurm_job_id": env["slurm"].get("SLURM_JOB_ID"),
        **env,
    }
    write_json(job.record_path, record)
    return record


def producer(path: str, index: Mapping[str, dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """The record whose outputs hold `path` (itself, or a directory output containing it)."""
    p = Path(path)
    for candidate in (p, *p.parents):
        if str(candidate) in index:
            return str(candidate), index[str(candidate)]
    return None


def lineage(path: str | Path, provenance_dir: str | Path = "results/provenance") -> dict[str, Any]:
    """The tree from `path` back to its sources: each node is an artifact with the job that
    wrote it and that job's inputs as children; shared ancestors appear once (`seen`)."""
    index = output_index(provenance_dir)
    path = os.path.normpath(str(path))
    if producer(path, index) is None:
        raise PolyfactError(f"{path}: no provenance record lists it as an output (under {provenance_dir})")
    seen: set[str] = set()

    def node(p: str, recorded: str | None) -> dict[str, Any]:
        found = producer(p, index)
        if found is None:
            return {"path": p, "sha256": recorded, "source": True}
        output, record = found
        entry = next(o for o in record["outputs"] if o["path"] == output)
        out = {"path": p, "sha256": entry["sha256"] if output == p else recorded, "job": _job_summary(record)}
        if record["record"] in seen:
            out["seen"] = True
            return out
        seen.add(record["record"])
        out["inputs"] = [node(i["path"], i["sha256"]) for i in record["inputs"]]
        return out

    tree = node(path, None)
    if Path(path).exists() and tree.get("sha256"):
        tree["sha256_now"] = sha256_path(path)
    return tree


def _job_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: record.get(key)
        for key in (
            "rule",
            "wildcards",
            "record",
            "finished",
            "config_digest",
            "code_digest",
            "mlflow_run_id",
            "slurm_job_id",
            "git_commit",
            "host",
        )
    } | {"config": record.get("config")}


def render_lineage(tree: Mapping[str, Any]) -> str:
    """The lineage tree as indented text, artifacts with digests, jobs with their ids."""
    lines: list[str] = []

    def short(digest: str | None) -> str:
        return f"sha256:{digest[:12]}" if digest else "sha256:?"

    def walk(node: Mapping[str, Any], depth: int) -> None:
        pad = "  " * depth
        note = ""
        if "sha256_now" in node:
            note = (
                "  (unchanged since the job)" if node["sha256_now"] == node["sha256"] else "  (MODIFIED since the job)"
            )
        if node.get("source"):
            lines.append(f"{pad}{node['path']}  {short(node['sha256'])}  [source: no job made it]{note}")
            return
        lines.append(f"{pad}{node['path']}  {short(node['sha256'])}{note}")
        job = node["job"]
        wildcards = " ".join(f"{k}={v}" for k, v in (job["wildcards"] or {}).items())
        lines.append(
            f"{pad}  <- {job['rule']} {wildcards}".rstrip()
            + f"  [finished {job['finished']}, config {job['config_digest'] or '-'}, code {job['code_digest'] or '-'},"
            f" git {(job['git_commit'] or '?')[:12]}, mlflow {job['mlflow_run_id'] or '-'},"
            f" slurm {job['slurm_job_id'] or '-'}, host {job['host']}]"
        )
        if node.get("seen"):
            lines.append(f"{pad}     (inputs shown above)")
            return
        if not node["inputs"]:
            source = {k: v.get("source") for k, v in (job["config"] or {}).items() if isinstance(v, Mapping)}
            lines.append(f"{pad}     [source: no input files; config {json.dumps(source, sort_keys=True)}]")
        for child in node["inputs"]:
            walk(child, depth + 2)

    walk(tree, 0)
    return "\n".join(lines) + "\n"
