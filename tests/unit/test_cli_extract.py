"""`polyfact extract` end to end on the dump fixture: the contract's columns, bad input, and
the facts-table selection steps shared by every source."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from polyfact.facts import Fact, facts_frame, filter_min_label_langs, sample_round_robin

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "wikidata" / "mini-dump.json"
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def polyfact(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["polyfact", *args], env=ENV, capture_output=True, text=True, timeout=120)


@pytest.fixture
def dump_gz(tmp_path: Path) -> Path:
    path = tmp_path / "dump.json.gz"
    path.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    return path


def test_extract_dump_contract(dump_gz: Path, tmp_path: Path) -> None:
    out = tmp_path / "facts.parquet"
    proc = polyfact(
        "extract",
        "--source",
        "wikidata-dump",
        "--input",
        str(dump_gz),
        "--relations",
        "P37,P17,P30",
        "--languages",
        "en,de,id",
        "--min-label-langs",
        "2",
        "--workers",
        "1",
        "--no-progress",
        "--stats-out",
        str(tmp_path / "stats.json"),
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    df = pq.read_table(out).to_pandas()
    assert list(df.columns[:4]) == ["fact_id", "subject_id", "property_id", "object_id"]
    assert {"subject_label_en", "object_label_de", "subject_label_id"} <= set(df.columns)
    assert (df["fact_id"] == df["subject_id"] + "|" + df["property_id"] + "|" + df["object_id"]).all()
    assert "Q90|P17|Q142" in set(df["fact_id"])  # Paris -> France
    assert set(df["property_id"]) <= {"P37", "P17", "P30"}


def test_extract_truncated_dump_fails_and_writes_nothing(dump_gz: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.json.gz"
    truncated.write_bytes(dump_gz.read_bytes()[: dump_gz.stat().st_size // 2])
    out = tmp_path / "facts.parquet"
    proc = polyfact(
        "extract",
        "--source",
        "wikidata-dump",
        "--input",
        str(truncated),
        "--relations",
        "P17",
        "--languages",
        "en",
        "--workers",
        "1",
        "--no-progress",
        "--out",
        str(out),
    )
    assert proc.returncode != 0
    assert "truncated" in proc.stderr.lower() or "corrupt" in proc.stderr.lower()
    assert list(tmp_path.glob("facts*")) == [] and not list(tmp_path.glob(".facts*"))


def test_extract_any_property_with_a_chosen_decompressor(dump_gz: Path, tmp_path: Path) -> None:
    """P36 (capital) is outside the relation registry: extraction takes it all the same."""
    out, stats = tmp_path / "facts.parquet", tmp_path / "stats.json"
    common = ["--source", "wikidata-dump", "--input", str(dump_gz), "--relations", "P36", "--languages", "en,de"]
    proc = polyfact(
        "extract", *common, "--decompressor", "rapidgzip", "--no-progress", "--stats-out", str(stats), "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert "Q142|P36|Q90" in set(pq.read_table(out).to_pandas()["fact_id"])  # France -> Paris
    assert json.loads(stats.read_text())["dump_decompressor"] == "rapidgzip"
    proc = polyfact("extract", *common, "--decompressor", "indexed_bzip2", "--out", str(tmp_path / "bz.parquet"))
    assert proc.returncode != 0 and "cannot read dump.json.gz" in proc.stderr


@pytest.mark.parametrize(
    ("flag", "value"), [("--relations", "P17,X9"), ("--relations", "P17,p17"), ("--languages", "en,xx")]
)
def test_extract_rejects_malformed_relation_or_unknown_language(tmp_path: Path, flag: str, value: str) -> None:
    args = {"--relations": "P17", "--languages": "en", flag: value}
    proc = polyfact(
        "extract", "--source", "cldr", *sum(([k, v] for k, v in args.items()), []), "--out", str(tmp_path / "f.parquet")
    )
    assert proc.returncode == 2 and value.split(",")[1] in proc.stderr


def facts(n_per_relation: dict[str, int]) -> pd.DataFrame:
    rows = [
        Fact(f"S{pid}{k}", pid, f"O{k}", {"en": f"s{k}", "de": f"s{k}" if k % 2 else None}, {"en": "o", "de": "o"})
        for pid, n in n_per_relation.items()
        for k in range(n)
    ]
    return facts_frame(rows, ["en", "de"])


def test_min_label_langs_counts_subject_and_object() -> None:
    df = facts({"P17": 10})
    assert len(filter_min_label_langs(df, ["en", "de"], 2)) == 5
    assert len(filter_min_label_langs(df, ["en", "de"], 1)) == 10


def test_round_robin_keeps_small_relations_whole_and_is_seeded() -> None:
    df = facts({"P17": 100, "P30": 3, "P37": 50})
    out = sample_round_robin(df, ["P17", "P30", "P37"], 40, seed=1)
    counts = out["property_id"].value_counts().to_dict()
    assert counts == {"P17": 19, "P30": 3, "P37": 18}
    assert out.equals(sample_round_robin(df, ["P17", "P30", "P37"], 40, seed=1))
    assert not out.equals(sample_round_robin(df, ["P17", "P30", "P37"], 40, seed=2))
    assert list(out["fact_id"]) == sorted(out["fact_id"])


def test_facts_frame_rejects_duplicates() -> None:
    f = Fact("S", "P17", "O", {"en": "s"}, {"en": "o"})
    with pytest.raises(ValueError, match="duplicate fact"):
        facts_frame([f, f], ["en"])
