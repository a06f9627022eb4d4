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
    common = (REPO / "rules/common.smk").read_text()
    assert len(blocks) >= 16
    for rule, block in blocks.items():
        assert '"polyfact ' in block, rule
        shared = re.search(r"\*\*([A-Z_]+),", block)  # job params shared with a params function
        if shared:
            assert re.search(rf'^{shared.group(1)} = job_params\(\s*"{rule}",', common, flags=re.M), rule
        else:
            assert re.search(rf'\*\*job_params\(\s*"{rule}",', block), rule
        assert '"polyfact --job {params.job} ' in block, rule


def test_rules_name_entry_points_not_module_lists() -> None:
    """Code digests come from the import graph (polyfact.digest): no rule lists modules."""
    text = "\n".join(p.read_text() for p in sorted((REPO / "rules").glob("*.smk")))
    assert "code_digest(" not in text.replace("code_digest(entry_)", "")
    for entry in re.findall(r'job_params\(\s*"\w+",\s*"([^"]+)"', text):
        assert re.fullmatch(r"\w+:\w+", entry), entry


def test_every_rule_has_a_log_and_scaled_resources() -> None:
    for rule, block in rule_blocks().items():
        assert re.search(r"^\s+log:\n", block, flags=re.M), rule
        assert re.search(r"mem_mb=scaled\(", block) and re.search(r"runtime=scaled\(", block), rule
        assert "gpu=" in block, rule


def test_evaluation_and_analyses_take_resources_from_their_own_sections() -> None:
    blocks = rule_blocks()
    for rule, section in (("evaluate_mcq", "EVALUATION"), ("evaluate_klar", "EVALUATION"), ("interpret", "INTERPRET")):
        resources = blocks[rule].split("resources:")[1].split("conda:")[0]
        assert 'config["training"]' not in resources, rule
        for key in ("mem_mb", "runtime", "gpus"):
            assert f'{section}["{key}"]' in resources, (rule, key)
