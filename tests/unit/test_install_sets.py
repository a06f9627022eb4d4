"""The two pinned install sets resolve (envs/cpu-pins.txt, envs/gpu-pins.txt), read from package
metadata by `uv pip compile` without downloading wheels (vLLM's alone is ~320 MB), for the
cluster's platform. A pin that drifts out of what its neighbours allow fails here."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
SETS = {"cpu": ["--extra", "workflow", "--extra", "test"], "gpu": ["--extra", "gpu"]}


def compile_set(pins: Path, extras: list[str]) -> subprocess.CompletedProcess[str]:
    assert UV, "uv is in the test extra (pyproject.toml)"
    cmd = [UV, "pip", "compile", str(REPO / "pyproject.toml"), *extras, "-c", str(pins), "--python-version", "3.11"]
    cmd += ["--python-platform", "x86_64-manylinux_2_28", "--no-header", "--no-annotate"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def pins_of(name: str) -> dict[str, str]:
    lines = (REPO / "envs" / f"{name}-pins.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


@pytest.mark.parametrize("name", sorted(SETS))
def test_each_pinned_set_resolves_to_its_pins(name: str) -> None:
    result = compile_set(REPO / "envs" / f"{name}-pins.txt", SETS[name])
    assert result.returncode == 0, result.stderr
    resolved = dict(
        line.split("==") for line in result.stdout.splitlines() if "==" in line and not line.startswith(" ")
    )
    resolved = {k.lower().replace("_", "-"): v for k, v in resolved.items()}
    for package, version in pins_of(name).items():
        assert resolved.get(package.lower().replace("_", "-")) == version, package


def test_the_sets_differ_only_where_vllm_forces_them() -> None:
    cpu, gpu = pins_of("cpu"), pins_of("gpu")
    differ = {p for p in cpu.keys() & gpu.keys() if cpu[p] != gpu[p]}
    assert differ == {"transformers", "numpy", "huggingface-hub"}
    assert gpu["vllm"] == "0.31.0" and gpu["torch"] == cpu["torch"]


def test_a_pin_out_of_range_fails_naming_the_conflict(tmp_path: Path) -> None:
    drifted = tmp_path / "gpu-pins.txt"
    text = (REPO / "envs/gpu-pins.txt").read_text()
    drifted.write_text(text.replace("transformers==5.17.0", "transformers==5.24.0"))
    result = compile_set(drifted, SETS["gpu"])
    assert result.returncode != 0
    assert "vllm" in result.stderr and "transformers" in result.stderr


def test_conda_environments_install_their_set() -> None:
    for name, extra in (("cpu", "-e .."), ("gpu", "-e ..[gpu]")):
        env = yaml.safe_load((REPO / "envs" / f"{name}.yaml").read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        assert pip == [f"-c {name}-pins.txt", extra]


@pytest.mark.slow
def test_the_gpu_set_passes_the_unit_tests(tmp_path: Path) -> None:
    """The package under the GPU set's versions (transformers 5.17, numpy 2.3, huggingface-hub
    1.x), everything but vLLM itself (a CUDA wheel): API drift between the sets — a renamed
    TrainingArguments field, a forward keyword the older model ignores — fails here on CPU."""
    pins = tmp_path / "gpu-pins-without-vllm.txt"
    pins.write_text("".join(f"{p}=={v}\n" for p, v in pins_of("gpu").items() if p != "vllm"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "-c", str(pins)]
    # torch first (the local CPU wheel); Snakemake for the config tests, without the SLURM plugin
    # (numpy>=2.4.5): on a cluster the driver keeps the CPU set.
    snakemake = next(
        line for line in (REPO / "envs/cpu-pins.txt").read_text().splitlines() if line.startswith("snakemake==")
    )
    for args in (["torch"], ["-e", f"{REPO}[test]", snakemake]):
        proc = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
    show = subprocess.run([str(venv / "bin/python"), "-m", "pip", "list"], capture_output=True, text=True, check=True)
    assert re.search(r"^transformers\s+5\.17\.0$", show.stdout, flags=re.M), show.stdout
    unit = [str(venv / "bin/python"), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow"]
    unit += [str(REPO / "tests/unit"), f"--ignore={REPO / 'tests/unit/test_install_sets.py'}"]
    proc = subprocess.run(unit, cwd=REPO, capture_output=True, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:]
