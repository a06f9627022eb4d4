"""Conventions every rule must keep (checked on the rule files, no workflow run)."""

from __future__ import annotations

import re

from tests.workflow.test_data_workflow import REPO


def rule_blocks() -> dict[str, str]:
    text = "\n".join(p.read_text() for p in sorted((REPO / "rules").glob("*.smk")))
    parts = re.split(r"^\s*rule (\w+):\n", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_polyfact_rule_runs_as_a_job_under_its_own_name() -> None:
    """`polyfact --job` writes the provenance record and MLflow run under the rule named in
    job_params: a copy-pasted name would file a job's lineage under another rule."""
    blocks = rule_blocks()
    assert len(blocks) >= 19
    for rule, block in blocks.items():
        if '"polyfact ' not in block:
            assert rule == "download_wikidata_dump", rule  # curl, not a polyfact command
            continue
        assert re.search(rf'job_params\(\s*"{rule}",', block), rule
        assert '"polyfact --job {params.job:q} --job-io {params.io:q} ' in block and "io=job_io," in block, rule


def test_every_rule_has_a_log_and_scaled_resources() -> None:
    for rule, block in rule_blocks().items():
        assert re.search(r"^\s+log:\n", block, flags=re.M), rule
        assert re.search(r"mem_mb=scaled\(", block) and re.search(r"runtime=scaled\(", block), rule
        assert "gpu=" in block, rule
