"""How long planning the whole paper DAG takes (`snakemake -n --profile profiles/slurm
--configfile config/paper.yaml`, acquisition included), as a user on a fresh checkout sees it:
the first plan in an empty working directory (job files and code digests written), then repeats
(job files exist). Side by side with `snakemake --version` (the interpreter and Snakemake's own
start-up, plugins included), so the figures compare within one run on a noisy machine.

Note: where the SLURM client tools are installed but no controller answers, the SLURM executor
plugin's import-time probes (sacct/squeue) add ~9 s to every Snakemake start, the version
included; on a cluster, or with `scripts/local-slurm up`, they return at once.

    python benchmarks/paper_dry_run.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    snakemake = [sys.executable, "-m", "snakemake"]
    with tempfile.TemporaryDirectory(prefix="paper-dry-run-") as tmp:
        workdir = Path(tmp)
        (workdir / "config").symlink_to(REPO / "config")
        plan = [*snakemake, "--snakefile", str(REPO / "Snakefile"), "-n", "--quiet", "rules"]
        plan += ["--profile", str(REPO / "profiles/slurm"), "--configfile", "config/paper.yaml"]
        version = [timed([*snakemake, "--version"], workdir) for _ in range(args.repeats)]
        first = timed(plan, workdir)
        again = [timed(plan, workdir) for _ in range(args.repeats)]
        jobs = subprocess.run(plan, cwd=workdir, capture_output=True, text=True, check=True).stdout
    total = next(line.split()[1] for line in jobs.splitlines() if line.startswith("total"))
    print(f"paper DAG: {total} jobs")
    print(f"snakemake --version          median {statistics.median(version):6.2f} s")
    print(f"plan, fresh working dir      {first:6.2f} s")
    print(f"plan, again                  median {statistics.median(again):6.2f} s")
    print(f"plan (fresh) / version       {first / statistics.median(version):6.2f}x")


if __name__ == "__main__":
    main()
