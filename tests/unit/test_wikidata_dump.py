"""Tests for the streaming Wikidata dump extractor, on a small dump of real entities."""

from __future__ import annotations

import bz2
import gzip
import logging
from pathlib import Path

import pytest
from polyfact.facts import facts_frame, filter_min_label_langs, write_facts
from polyfact.languages import DEFAULT_LANGUAGES
from polyfact.relations import RELATIONS as REGISTRY
from polyfact.relations import relation_name
from polyfact.wikidata import decompress, dump
from polyfact.wikidata.decompress import BZIP2_BACKENDS, GZIP_BACKENDS, DecompressorError, choose_backend
from polyfact.wikidata.dump import DumpError, extract_dump

FIXTURE = Path(__file__).parents[1] / "fixtures" / "wikidata" / "mini-dump.json"
RELATIONS = ("P17", "P30", "P37", "P27")
EXPECTED = {
    # P17 country (Paris: deprecated Kingdom of France ignored; Berlin: preferred Germany wins)
    ("Q90", "P17", "Q142"),
    ("Q64", "P17", "Q183"),
    ("Q84", "P17", "Q145"),
    ("Q1490", "P17", "Q17"),
    ("Q649", "P17", "Q159"),
    ("Q350", "P17", "Q145"),
    ("Q159288", "P17", "Q30"),
    ("Q691283", "P17", "Q145"),
    ("Q4961791", "P17", "Q145"),
    # P30 continent (Russia: Europe and Asia, dropped; Antarctica: itself, dropped)
    ("Q142", "P30", "Q46"),
    ("Q183", "P30", "Q46"),
    ("Q145", "P30", "Q46"),
    ("Q17", "P30", "Q48"),
    ("Q16957", "P30", "Q46"),
    # P37 official language
    ("Q142", "P37", "Q150"),
    ("Q183", "P37", "Q188"),
    ("Q145", "P37", "Q1860"),
    ("Q17", "P37", "Q5287"),
    ("Q159", "P37", "Q7737"),
    # P27 citizenship (Marie Curie: three, dropped; Jack the Ripper: somevalue, dropped)
    ("Q42", "P27", "Q145"),
}


def triples(facts):
    return {(f.subject_id, f.property_id, f.object_id) for f in facts}


def extract(path=FIXTURE, relations=RELATIONS, **kwargs):
    kwargs = {"workers": 1, "progress": False, **kwargs}
    return extract_dump(path, relations, DEFAULT_LANGUAGES, **kwargs)


def by_triple(facts):
    return {(f.subject_id, f.property_id, f.object_id): f for f in facts}


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return FIXTURE.read_text(encoding="utf-8").splitlines(keepends=True)


@pytest.fixture(scope="module")
def compressed(tmp_path_factory) -> dict[str, Path]:
    """The fixture as .json.gz and .json.bz2, like the published dumps."""
    folder = tmp_path_factory.mktemp("dumps")
    data = FIXTURE.read_bytes()
    gz, bz = folder / "mini.json.gz", folder / "mini.json.bz2"
    gz.write_bytes(gzip.compress(data, 6))
    bz.write_bytes(bz2.compress(data))
    return {"gz": gz, "bz2": bz}


@pytest.fixture(scope="module")
def result():
    return extract()


def test_expected_facts(result):
    facts, stats = result
    assert triples(facts) == EXPECTED
    assert [(f.subject_id, f.property_id, f.object_id) for f in facts] == sorted(EXPECTED)
    assert stats.facts == len(EXPECTED)
    assert stats.candidates == {"P17": 9, "P30": 5, "P37": 5, "P27": 1}
    assert stats.lines == stats.entities == 33
    assert stats.malformed == 0


def test_ranks(result):
    facts = by_triple(result[0])
    assert ("Q90", "P17", "Q142") in facts and not any(t[2] == "Q70972" for t in facts)  # deprecated
    assert ("Q64", "P17", "Q183") in facts and not any(t[2] == "Q16957" and t[0] == "Q64" for t in facts)


def test_qualifiers_and_references_make_no_facts():
    facts, stats = extract(relations=["P17"])
    subjects = {f.subject_id for f in facts}
    # English mentions P17/P30 only in a qualifier and a reference, Douglas Adams in a qualifier
    assert "Q1860" not in subjects and "Q42" not in subjects
    assert stats.prefiltered > len(subjects)  # those lines were parsed, then rejected


def test_multivalued_somevalue_novalue_and_self_loops_dropped(result):
    facts = triples(result[0])
    assert ("Q159", "P30", "Q46") not in facts and ("Q159", "P30", "Q48") not in facts
    assert not any(s in ("Q7186", "Q43963") for s, _, _ in facts)
    assert not any(s == "Q51" for s, _, _ in facts)  # P17 novalue, P30 itself
    assert not any(s == o for s, _, o in facts)
    p69, _ = extract(relations=["P69"])
    assert p69 == []  # Douglas Adams went to two schools


def test_labels_and_missing_labels(result):
    facts = by_triple(result[0])
    adams = facts["Q42", "P27", "Q145"]
    assert adams.subject_labels["en"] == "Douglas Adams"
    assert adams.subject_labels["ru"] == "Дуглас Адамс"
    assert adams.subject_labels["sw"] is None
    assert adams.object_labels["fr"] == "Royaume-Uni"
    assert set(adams.subject_labels) == set(DEFAULT_LANGUAGES)
    school = facts["Q4961791", "P17", "Q145"]
    assert school.subject_labels["en"] == "Brentwood School"
    assert all(school.subject_labels[lang] is None for lang in DEFAULT_LANGUAGES if lang != "en")
    unknown = facts["Q159288", "P17", "Q30"]  # United States is not in the dump
    assert all(label is None for label in unknown.object_labels.values())
    assert tuple(unknown.object_types) == ()


def test_chinese_labels(result):
    facts = by_triple(result[0])
    assert facts["Q142", "P30", "Q46"].subject_labels["zh"] == "法国"  # zh-hans preferred
    assert facts["Q145", "P30", "Q46"].subject_labels["zh"] == "英国"  # zh-hans over zh / zh-tw
    assert facts["Q183", "P30", "Q46"].subject_labels["zh"] == "德国"  # Traditional "zh" converted
    assert facts["Q84", "P17", "Q145"].subject_labels["zh"] == "伦敦"  # only zh-hant, converted
    assert facts["Q1490", "P17", "Q17"].subject_labels["zh"] == "东京都"
    assert facts["Q42", "P27", "Q145"].subject_labels["zh"] == "道格拉斯·亚当斯"


def test_types(result):
    facts = by_triple(result[0])
    paris = facts["Q90", "P17", "Q142"]
    assert tuple(paris.subject_types) == ("Q515",)
    assert tuple(paris.object_types) == ("Q3624078", "Q6256")
    assert tuple(facts["Q64", "P17", "Q183"].subject_types) == ("Q1549591", "Q515")
    assert tuple(facts["Q42", "P27", "Q145"].subject_types) == ("Q5",)
    assert tuple(facts["Q142", "P37", "Q150"].object_types) == ("Q34770",)


def test_min_label_langs():
    facts, stats = extract(min_label_langs=2)
    assert triples(facts) == EXPECTED - {("Q4961791", "P17", "Q145")}  # only an English label
    # the object filter is the caller's: United States (not in the dump) has no labels
    assert stats.facts_min_label_langs == len(facts) - 1
    table = filter_min_label_langs(facts_frame(facts, DEFAULT_LANGUAGES), DEFAULT_LANGUAGES, 2)
    assert "Q159288|P17|Q30" not in set(table["fact_id"])


def test_compressed_formats_agree(result, compressed):
    for path in compressed.values():
        facts, stats = extract(path)
        assert facts == result[0]
        assert stats.bytes_decompressed == FIXTURE.stat().st_size
        assert stats.bytes_compressed == path.stat().st_size


def test_workers_agree(result, compressed):
    facts, stats = extract(compressed["gz"], workers=2)
    assert facts == result[0]
    assert stats.lines == result[1].lines


def test_lines_spanning_blocks(result, compressed, monkeypatch):
    monkeypatch.setattr(dump, "BLOCK_BYTES", 1000)  # far shorter than most lines
    for workers in (1, 2):
        assert extract(compressed["gz"], workers=workers)[0] == result[0]


def test_reservoir_is_seeded_and_bounded(result):
    full = triples(result[0])
    samples = []
    for seed in range(4):
        facts, stats = extract(max_candidates_per_relation=3, seed=seed)
        again, _ = extract(max_candidates_per_relation=3, seed=seed, workers=2)
        assert facts == again
        assert stats.kept == {"P17": 3, "P30": 3, "P37": 3, "P27": 1}
        assert stats.candidates["P17"] == 9
        assert triples(facts) <= full
        samples.append(triples(facts))
    assert len({frozenset(s) for s in samples}) > 1  # the seed matters


def test_malformed_lines_are_counted_and_skipped(tmp_path, lines, result):
    bad = [
        "this is not json,\n",
        '{"type":"item","id":"Q999999","claims":{"P17":[}},\n',  # looks right, does not parse
        '{"type":"item","id":"Q999998","labels":{\n',  # cut short
        '["an","array"],\n',
    ]
    path = tmp_path / "bad.json"
    path.write_text("".join(lines[:5] + bad[:2] + lines[5:20] + bad[2:] + lines[20:]), encoding="utf-8")
    facts, stats = extract(path)
    assert facts == result[0]
    assert stats.malformed == 4
    assert stats.lines == 33 + 4


@pytest.mark.parametrize("n_bad", [60, 3000])
def test_mostly_malformed_input_raises(tmp_path, lines, n_bad):
    path = tmp_path / "garbage.json.gz"
    path.write_bytes(gzip.compress("".join(lines[:-1] + ["garbage line,\n"] * n_bad + ["]\n"]).encode()))
    with pytest.raises(DumpError, match="most lines are bad") as err:
        extract(path)
    assert str(path) in str(err.value)


BACKENDS = [("gz", b) for b in GZIP_BACKENDS] + [("bz2", b) for b in BZIP2_BACKENDS]


@pytest.mark.parametrize(("kind", "backend"), BACKENDS)
@pytest.mark.parametrize("cut", ["half", "last 5%", "last 4 bytes"])
def test_truncated_archive_raises(tmp_path, compressed, kind, backend, cut):
    data = compressed[kind].read_bytes()
    path = tmp_path / f"truncated.json.{kind}"
    path.write_bytes(data[: -{"half": len(data) // 2, "last 5%": len(data) // 20, "last 4 bytes": 4}[cut]])
    with pytest.raises(DumpError, match="truncated or corrupt") as err:
        extract(path, decompressor=backend)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("kind", "backend"), BACKENDS)
def test_corrupt_archive_raises(tmp_path, compressed, kind, backend):
    data = bytearray(compressed[kind].read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0x55
    path = tmp_path / f"corrupt.json.{kind}"
    path.write_bytes(bytes(data))
    with pytest.raises(DumpError, match="truncated or corrupt"):
        extract(path, workers=2, decompressor=backend)


@pytest.mark.parametrize(("kind", "backend"), BACKENDS)
def test_every_decompressor_gives_the_same_facts_table(tmp_path, result, compressed, kind, backend, monkeypatch):
    """Same facts-table bytes from every backend, 1 or 2 workers, and batches small enough
    that pass 2 reads back only some of them (and seeks between them)."""
    reference = tmp_path / "reference.parquet"
    write_facts(facts_frame(result[0], DEFAULT_LANGUAGES), reference)
    monkeypatch.setattr(dump, "BLOCK_BYTES", 3000)
    for workers in (1, 2):
        facts, stats = extract(compressed[kind], workers=workers, decompressor=backend)
        out = tmp_path / f"{backend}-{workers}.parquet"
        write_facts(facts_frame(facts, DEFAULT_LANGUAGES), out)
        assert out.read_bytes() == reference.read_bytes()
        assert stats.decompressor == backend and stats.bytes_decompressed == FIXTURE.stat().st_size
        assert 0 < stats.batches_pass2 < stats.batches
        assert stats.objects_found + stats.objects_absent == stats.objects_needed


def test_pass_two_reads_only_the_batches_holding_needed_objects(compressed, monkeypatch):
    """Objects at the start of the dump (France, Germany, ... Q142 first): pass 2 stops early."""
    monkeypatch.setattr(dump, "BLOCK_BYTES", 2000)
    facts, stats = extract(compressed["gz"], relations=("P30",), decompressor="rapidgzip")
    assert {f.object_id for f in facts} == {"Q46", "Q48"}
    needed_batches = stats.batches_pass2
    assert needed_batches < stats.batches / 2 and stats.bytes_pass2 < stats.bytes_decompressed / 2
    assert stats.parsed_pass2 == stats.objects_found == stats.objects_needed - stats.objects_absent


def test_objects_missing_from_the_dump_are_counted_not_searched(tmp_path, lines):
    """Every P17 object removed from the dump: nothing to read back in pass 2."""
    objects = {f.object_id for f in extract(relations=("P17",))[0]}
    kept = [line for line in lines if not any(f'"id":"{q}",' in line[:60] for q in objects)]
    path = tmp_path / "no-objects.json"
    path.write_text("".join(kept), encoding="utf-8")
    facts, stats = extract(path, relations=("P17",))
    assert stats.objects_absent == stats.objects_needed > 0
    assert stats.batches_pass2 == stats.objects_found == stats.parsed_pass2 == 0
    assert all(set(f.object_labels.values()) == {None} for f in facts)


def test_choose_backend(monkeypatch, tmp_path):
    gz, bz, plain = Path("d.json.gz"), Path("d.json.bz2"), Path("d.json")
    assert choose_backend(gz, "auto", workers=2) == "isal"
    assert choose_backend(gz, "auto", workers=decompress.PARALLEL_GZIP_FROM_WORKERS) == "rapidgzip"
    assert choose_backend(bz, "auto", workers=1) == "indexed_bzip2"
    assert choose_backend(plain, "auto") == "plain"
    assert choose_backend(gz, "zlib") == "zlib"
    with pytest.raises(DecompressorError, match="cannot read d.json.bz2"):
        choose_backend(bz, "isal")
    monkeypatch.setattr(decompress, "installed", lambda b: b in ("zlib", "bz2", "plain"))
    assert choose_backend(gz, "auto", workers=8) == "zlib"
    assert choose_backend(bz, "auto", workers=8) == "bz2"
    with pytest.raises(DecompressorError, match="not installed"):
        choose_backend(gz, "rapidgzip")


def test_any_property_id(result):
    """A property outside the registry (P36 capital, P1376 capital of) extracts like any other;
    a malformed id fails before the dump is read."""
    assert "P36" not in REGISTRY and relation_name("P36") == "P36"
    facts, stats = extract(relations=("P36", "P1376", "P17"))
    capitals = {t for t in triples(facts) if t[1] != "P17"}
    assert {("Q142", "P36", "Q90"), ("Q183", "P36", "Q64"), ("Q145", "P36", "Q84")} <= capitals
    assert {t for t in triples(facts) if t[1] == "P17"} == {t for t in triples(result[0]) if t[1] == "P17"}
    assert stats.candidates["P36"] >= 3
    with pytest.raises(DumpError, match="not Wikidata property ids"):
        extract(relations=("P17", "capital"))


def test_missing_closing_bracket_raises(tmp_path, lines):
    plain = tmp_path / "open.json"
    plain.write_text("".join(lines[:-1]), encoding="utf-8")
    gz = tmp_path / "open.json.gz"
    gz.write_bytes(gzip.compress("".join(lines[:-3]).encode()))  # a complete gzip, cut JSON
    for path in (plain, gz):
        with pytest.raises(DumpError, match="without the closing"):
            extract(path)


def test_not_a_dump_raises(tmp_path):
    path = tmp_path / "object.json"
    path.write_text('{"type":"item","id":"Q1"}\n', encoding="utf-8")
    with pytest.raises(DumpError, match="does not start with"):
        extract(path)
    with pytest.raises(DumpError, match="no such dump file"):
        extract(tmp_path / "missing.json.gz")


def test_worker_errors_propagate(monkeypatch):
    def boom(*args):
        raise RuntimeError("worker failed")

    monkeypatch.setattr(dump, "_entity_candidates", boom)
    for workers in (1, 2):
        with pytest.raises(RuntimeError, match="worker failed"):
            extract(workers=workers)


def test_progress_and_log(capsys, caplog):
    with caplog.at_level(logging.INFO, logger="polyfact.wikidata.dump"):
        extract(progress=True)
    assert "dump pass 1" in capsys.readouterr().err
    assert any("facts" in r.getMessage() for r in caplog.records)
