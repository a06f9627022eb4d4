"""The dataset's LLM stage through Snakemake: question shards are separate jobs, a killed
shard job resumes from the answer cache, finished shards are never redone, and the restarted
shard's rows equal an undisturbed run's. A tiny random chat model stands in for the writer:
its questions fail validation, which is beside the point here (the rehearsal runs the whole
path with a real model)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.unit.test_llm_stage import CHAT_TEMPLATE
from tests.workflow.test_data_workflow import ENV, REPO, snakemake, snakemake_command

pytestmark = pytest.mark.slow
SHARDS = [f"{k}-of-3" for k in range(3)]
TARGETS = [f"results/data/questions/{s}.jsonl" for s in SHARDS]


@pytest.fixture(scope="module")
def config_file(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("llm-config")
    model = root / "tiny-chat"
    shutil.copytree(tiny_model_dir, model)
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(model)
    config = yaml.safe_load((REPO / "config/test-tiny.yaml").read_text())
    config["facts"]["max_facts"] = 60
    config["dataset"] = config.get("dataset") or {}
    config["dataset"]["questions"] = "llm"
    config["dataset"]["llm"] = {
        "model": {"source": "hf", "path": str(model)},
        "shards": 3,
        "tries": 2,
        "checkpoint_every": 2,  # many small chunks: the kill lands between two of them
        "batch_size": 2,
        "max_new_tokens": 12,
        "threads": 1,
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def shard_state(workdir: Path) -> tuple[set[str], dict[str, int]]:
    """Finished shards (rows written) and the answers each shard's cache holds."""
    done = {s for s in SHARDS if (workdir / f"results/data/questions/{s}.jsonl").is_file()}
    cache = workdir / "results/cache/llm"
    lines = {s: _lines(cache / f"questions-{s}.jsonl") for s in SHARDS}
    return done, lines


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.is_file() else 0


def test_a_killed_shard_resumes_and_finished_shards_are_kept(config_file: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "killed"
    workdir.mkdir()
    cmd = snakemake_command(workdir, *TARGETS, "--configfile", str(config_file), cores=1)
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:  # kill once one shard is done and another half-way
            done, lines = shard_state(workdir)
            running = [s for s in SHARDS if s not in done and lines[s] >= 6]
            if done and running:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("no shard finished in time")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done, lines = shard_state(workdir)
    partial = next(s for s in SHARDS if s not in done and lines[s])
    kept = {s: (workdir / f"results/data/questions/{s}.jsonl").stat().st_mtime_ns for s in done}

    snakemake(workdir, "--unlock", "--configfile", str(config_file))  # the killed Snakemake's lock
    rerun = snakemake(workdir, *TARGETS, "--configfile", str(config_file))
    reran = {line.split("shard=")[1].strip() for line in rerun.stderr.splitlines() if "wildcards: shard=" in line}
    assert reran == set(SHARDS) - done  # finished shards are never redone
    assert {s: (workdir / f"results/data/questions/{s}.jsonl").stat().st_mtime_ns for s in done} == kept
    stats = json.loads((workdir / f"results/data/questions/{partial}.stats.json").read_text())
    assert stats["cached"] >= lines[partial] >= 6  # the killed job's chunks were reused...
    assert stats["generated"] == stats["requests"] - stats["cached"] > 0  # ...and only the rest generated

    clean = tmp_path / "undisturbed"
    clean.mkdir()
    snakemake(clean, *TARGETS, "--configfile", str(config_file))
    for shard in SHARDS:  # the restarted run wrote what an undisturbed one writes
        ours = (workdir / f"results/data/questions/{shard}.jsonl").read_bytes()
        assert ours == (clean / f"results/data/questions/{shard}.jsonl").read_bytes(), shard
