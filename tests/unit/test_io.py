"""Atomic outputs and clear errors on malformed inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from polyfact.dataset.templates import load_templates
from polyfact.errors import PolyfactError
from polyfact.facts import read_facts
from polyfact.io import atomic_dir, atomic_path, read_jsonl, write_jsonl


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out" / "facts.parquet"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "hf"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
        raise RuntimeError("killed")
    assert [p.name for p in target.iterdir()] == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["hf"]


def test_read_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "en.jsonl"
    write_jsonl(path, [{"a": 1}])
    path.write_text(path.read_text() + '{"a": \n')
    with pytest.raises(PolyfactError, match=r"en\.jsonl:2"):
        read_jsonl(path)


def test_read_facts_rejects_other_tables(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(PolyfactError, match="not a facts table"):
        read_facts(path)


def test_templates_missing_language_or_mislabelled(tmp_path: Path) -> None:
    with pytest.raises(PolyfactError, match="'de'"):
        load_templates(tmp_path, ["de"])
    (tmp_path / "de.yaml").write_text("language: fr\nrelations: {}\n")
    with pytest.raises(PolyfactError, match="expected 'de'"):
        load_templates(tmp_path, ["de"])


def test_resume_point_skips_and_removes_incomplete_checkpoints(tmp_path: Path) -> None:
    from polyfact.train.common import resume_point

    assert resume_point(tmp_path / "none") is None
    for step, state in ((2, '{"global_step": 2}'), (4, '{"global_st'), (6, None)):
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        if state is not None:
            (ckpt / "trainer_state.json").write_text(state)
    assert resume_point(tmp_path) == str(tmp_path / "checkpoint-2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2"]
