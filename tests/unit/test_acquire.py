"""`polyfact acquire SOURCE` end to end, offline: the rehearsal fixtures served by a loopback
server (tests/fixtures/rehearsal/http) or read as local Hub-layout directories (…/hub)."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from polyfact.acquire import http
from polyfact.acquire.sources import FLORES_CODES, join_by_id, klar_file, ted_row, with_defaults
from polyfact.cli import main
from polyfact.corpus import load_parallel_corpus
from polyfact.errors import PolyfactError
from polyfact.evaluate.klar import load_klar
from polyfact.evaluate.released import load_mcq

from tests.conftest import REPO
from tests.fixtures.http_server import FixtureServer

REHEARSAL = REPO / "tests" / "fixtures" / "rehearsal"
HTTP_ROOT = REHEARSAL / "http"
HUB = REHEARSAL / "hub"
DUMP_DIR = "/wikidatawiki/entities/20251201"
DUMP = f"{DUMP_DIR}/wikidata-20251201-all.json.gz"
MD5SUMS = f"{DUMP_DIR}/wikidata-20251201-md5sums.txt"
DUMP_BYTES = (HTTP_ROOT / DUMP.lstrip("/")).read_bytes()
TED = "/ted2025/multi_way.jsonl"
ALL12 = list(FLORES_CODES)
KLAR_LANGS = ["ar", "en", "fa", "ja", "ko", "zh"]
KLAR_RELEASE = REPO / "tests" / "fixtures" / "klar-release"
CHUNK = 1024


@pytest.fixture(autouse=True)
def offline_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`datasets` caches under tmp_path (the module reads its cache root at call time), and
    downloads in small chunks without backoff: a cut body keeps all but its last partial chunk."""
    import datasets

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets")
    original = http.download
    monkeypatch.setattr(http, "download", functools.partial(original, chunk_bytes=CHUNK, backoff_s=0.0))


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    with FixtureServer(HTTP_ROOT) as running:
        yield running


def acquire(source: str, spec: dict[str, Any], out: Path, *extra: str) -> dict[str, Any]:
    """Run `polyfact acquire SOURCE` with the spec as parsed by the workflow; return the manifest."""
    manifest = out.parent / f"{out.name}.manifest.json"
    main(["acquire", source, "--spec", json.dumps(spec), "--manifest", str(manifest), "--out", str(out), *extra])
    return json.loads(manifest.read_text(encoding="utf-8"))


def spec_of(key: str, **entry: Any) -> dict[str, Any]:
    return with_defaults({key: entry})[key]


def fails(caplog: pytest.LogCaptureFixture, source: str, spec: dict[str, Any], out: Path, *extra: str) -> str:
    """Run a command expected to fail cleanly (exit 1, no traceback); return the logged error."""
    caplog.clear()
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exited:
        acquire(source, spec, out, *extra)
    assert exited.value.code == 1
    return caplog.text


def part_of(path: Path) -> Path:
    return path.with_name(path.name + ".part")


# --- wikidata-dump -------------------------------------------------------------------------


def test_wikidata_dump_verified_by_md5sums(server: FixtureServer, tmp_path: Path) -> None:
    out = tmp_path / "data" / "wikidata-20251201-all.json.gz"
    spec = spec_of("wikidata_dump", url=server.url + DUMP, checksums_url=server.url + MD5SUMS)
    manifest = acquire("wikidata-dump", spec, out)
    assert out.read_bytes() == DUMP_BYTES
    assert not part_of(out).exists()
    assert manifest["source"] == "wikidata-dump"
    assert manifest["url"] == server.url + DUMP
    assert manifest["bytes"] == len(DUMP_BYTES)
    assert manifest["sha256"] == hashlib.sha256(DUMP_BYTES).hexdigest()
    assert manifest["checksum"] == f"md5:{hashlib.md5(DUMP_BYTES).hexdigest()}"
    assert [r[1] for r in server.requests] == [MD5SUMS, DUMP]


def test_wikidata_dump_wrong_checksum(server: FixtureServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "dump.json.gz"
    spec = spec_of("wikidata_dump", url=server.url + DUMP, checksum="sha256:" + "0" * 64)
    error = fails(caplog, "wikidata-dump", spec, out)
    assert server.url + DUMP in error and "mismatch" in error
    assert not out.exists() and not part_of(out).exists()


def test_wikidata_dump_404(server: FixtureServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "dump.json.gz"
    url = f"{server.url}{DUMP_DIR}/wikidata-20251101-all.json.gz"
    error = fails(caplog, "wikidata-dump", spec_of("wikidata_dump", url=url), out, "--retries", "2")
    assert url in error and "404" in error
    assert not out.exists() and not part_of(out).exists()
    assert len(server.requests) == 1  # a client error is not retried


def test_wikidata_dump_interrupted_then_resumed(
    server: FixtureServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "dump.json.gz"
    spec = spec_of("wikidata_dump", url=server.url + DUMP, checksums_url=server.url + MD5SUMS)
    server.cut_after(DUMP, 5000)
    error = fails(caplog, "wikidata-dump", spec, out, "--retries", "0")
    assert server.url + DUMP in error and "rerun to resume" in error
    assert not out.exists()
    kept = part_of(out).read_bytes()
    assert 0 < len(kept) <= 5000 and kept == DUMP_BYTES[: len(kept)]

    manifest = acquire("wikidata-dump", spec, out, "--retries", "0")
    assert ("GET", DUMP, f"bytes={len(kept)}-") in server.requests
    assert out.read_bytes() == DUMP_BYTES and not part_of(out).exists()
    assert (manifest["resumed_from"], manifest["bytes"]) == (len(kept), len(DUMP_BYTES))
    assert manifest["checksum"] == f"md5:{hashlib.md5(DUMP_BYTES).hexdigest()}"


def test_wikidata_dump_local_copy(tmp_path: Path) -> None:
    local = HTTP_ROOT / DUMP.lstrip("/")
    out = tmp_path / "data" / "dump.json.gz"
    spec = spec_of("wikidata_dump", local=str(local), checksum=f"md5:{hashlib.md5(DUMP_BYTES).hexdigest()}")
    manifest = acquire("wikidata-dump", spec, out)
    assert out.read_bytes() == DUMP_BYTES
    assert manifest["local"] == str(local.resolve())
    assert manifest["sha256"] == hashlib.sha256(DUMP_BYTES).hexdigest()


def test_wikidata_dump_local_copy_wrong_checksum(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    local = HTTP_ROOT / DUMP.lstrip("/")
    out = tmp_path / "dump.json.gz"
    error = fails(caplog, "wikidata-dump", spec_of("wikidata_dump", local=str(local), checksum="md5:" + "0" * 32), out)
    assert str(local.resolve()) in error
    assert not out.exists()


# --- the retry budget ----------------------------------------------------------------------


def test_retry_budget_resets_while_the_download_advances(server: FixtureServer, tmp_path: Path) -> None:
    """Three cuts with one retry: each attempt adds bytes, so the budget never runs out."""
    out = tmp_path / "dump.json.gz"
    server.cut_after(DUMP, 3000, times=3)
    manifest = acquire("wikidata-dump", spec_of("wikidata_dump", url=server.url + DUMP), out, "--retries", "1")
    assert out.read_bytes() == DUMP_BYTES
    assert manifest["attempts"] == 4
    ranges = [r[2] for r in server.requests]
    assert ranges[0] is None and all(r and r.startswith("bytes=") for r in ranges[1:])
    starts = [int(r.removeprefix("bytes=").removesuffix("-")) for r in ranges[1:]]
    assert starts == sorted(set(starts)) and starts[0] > 0


def test_retry_budget_still_bounds_attempts_without_progress(server: FixtureServer, tmp_path: Path) -> None:
    """Progress resets the budget; failures without new bytes still exhaust it."""
    dest = tmp_path / "dump.json.gz"
    server.cut_after(DUMP, 3000)
    server.fail(DUMP, 503, times=3)  # taken first: three attempts that add nothing
    with pytest.raises(http.DownloadError, match="failed after 2 attempts"):
        http.download(server.url + DUMP, dest, retries=1, progress=False)
    assert not part_of(dest).exists()
    # now the cut attempt progresses (budget reset), then one 503, then success: retries=1 suffices
    server.fail(DUMP, 503, times=0)
    record = http.download(server.url + DUMP, dest, retries=1, progress=False)
    assert record["attempts"] == 3 and dest.read_bytes() == DUMP_BYTES


# --- ted2025 -------------------------------------------------------------------------------


def test_ted2025_to_parallel_jsonl(server: FixtureServer, tmp_path: Path) -> None:
    out = tmp_path / "parallel" / "ted2025.jsonl"
    raw = tmp_path / "raw"
    spec = spec_of("ted2025", url=server.url + TED)
    manifest = acquire("ted2025", spec, out, "--languages", ",".join(ALL12), "--raw-dir", str(raw))
    rows = load_parallel_corpus(out, ALL12, fmt="jsonl")
    lines = (HTTP_ROOT / TED.lstrip("/")).read_text(encoding="utf-8").splitlines()
    assert len(rows) == len(lines) == manifest["rows"]
    assert all(list(row) == ALL12 for row in rows)
    first = json.loads(lines[0])["para_data"]
    assert rows[0]["zh"] == first["zh-cn"] and rows[0]["pt"] == first["pt-br"] and rows[0]["en"] == first["en"]
    assert manifest["languages"] == dict.fromkeys(ALL12, len(lines))
    assert manifest["raw"]["url"] == server.url + TED
    assert (raw / "multi_way.jsonl").read_bytes() == (HTTP_ROOT / TED.lstrip("/")).read_bytes()


def test_ted2025_malformed_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = (HTTP_ROOT / TED.lstrip("/")).read_text(encoding="utf-8").splitlines()
    local = tmp_path / "multi_way.jsonl"
    local.write_text("\n".join([lines[0], lines[1], '{"talk_id": "t9", "para_da', *lines[2:]]) + "\n", encoding="utf-8")
    out = tmp_path / "ted2025.jsonl"
    error = fails(caplog, "ted2025", spec_of("ted2025", local=str(local)), out, "--languages", "en,de")
    assert f"{local}:3: malformed TED2025 row" in error
    assert not out.exists() and list(tmp_path.iterdir()) == [local]


def test_ted2025_without_two_languages_writes_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "ted2025.jsonl"
    local = HTTP_ROOT / TED.lstrip("/")
    error = fails(caplog, "ted2025", spec_of("ted2025", local=str(local)), out, "--languages", "en")
    assert "no segment has two of the languages" in error
    assert not out.exists()


# --- flores --------------------------------------------------------------------------------


def test_flores_local_hub_dir_joined_by_id(tmp_path: Path) -> None:
    out = tmp_path / "flores-plus-devtest.jsonl"
    spec = spec_of("flores", local=str(HUB / "flores_plus"), split="devtest")
    manifest = acquire("flores", spec, out, "--languages", ",".join(ALL12))
    english = [json.loads(line) for line in (HUB / "flores_plus/devtest/eng_Latn.jsonl").read_text().splitlines()]
    german = {r["id"]: r["text"] for r in map(json.loads, (HUB / "flores_plus/devtest/deu_Latn.jsonl").open())}
    rows = load_parallel_corpus(out, ALL12, fmt="jsonl")
    assert len(rows) == len(english) and all(list(row) == ALL12 for row in rows)
    in_order = sorted(english, key=lambda r: r["id"])
    assert [r["en"] for r in rows] == [r["text"] for r in in_order]
    assert [r["de"] for r in rows] == [german[r["id"]] for r in in_order]
    assert manifest["languages"] == dict.fromkeys(ALL12, len(english))
    assert (manifest["local"], manifest["split"], manifest["rows"]) == (str(HUB / "flores_plus"), "devtest", len(rows))


def test_flores_keeps_sentence_ids_beside_indonesian(tmp_path: Path) -> None:
    out = tmp_path / "flores.jsonl"
    acquire("flores", spec_of("flores", local=str(HUB / "flores_plus"), split="devtest"), out, "--languages", "en,id")
    raw = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    indonesian = [json.loads(line)["text"] for line in (HUB / "flores_plus/devtest/ind_Latn.jsonl").open()]
    assert [r["id"] for r in raw] == indonesian
    assert [[v for k, v in r.items() if k not in ("en", "id")] for r in raw] == [[i + 1] for i in range(len(raw))]


# --- klar ----------------------------------------------------------------------------------
# Served from tests/fixtures/klar-release: the KLAR-CLC release's exact file shape.


@pytest.fixture
def klar_server() -> Iterator[FixtureServer]:
    with FixtureServer(KLAR_RELEASE.parent) as running:
        yield running


def check_klar(out: Path) -> None:
    klar = load_klar(out, KLAR_LANGS)
    assert set(klar.relations) == {"P36", "P30"}
    assert set(klar.relations["P36"]) == set(KLAR_LANGS)
    english = json.loads((out / "en" / "capital.json").read_text(encoding="utf-8"))
    assert english["relation_id"] == "P36"
    assert all(s["subject_en"] == s["subject"] and s["object_en"] == s["object"] for s in english["samples"])
    published = json.loads((KLAR_RELEASE / "en" / "capital.json").read_text(encoding="utf-8"))
    assert "relation_id" not in published and "subject_en" not in published["samples"][0]
    assert len(english["samples"]) == len(published["samples"])
    # The acquired form reads like the published one.
    assert load_klar(KLAR_RELEASE, KLAR_LANGS).relations["P36"]["ar"].samples == klar.relations["P36"]["ar"].samples


def test_klar_from_base_url(klar_server: FixtureServer, tmp_path: Path) -> None:
    out = tmp_path / "klar"
    base = f"{klar_server.url}/{KLAR_RELEASE.name}/"
    spec = spec_of("klar", base_url=base, languages=KLAR_LANGS, relations=["capital", "continent"])
    manifest = acquire("klar", spec, out, "--raw-dir", str(tmp_path / "raw"))
    check_klar(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(KLAR_LANGS)
    assert len(manifest["files"]) == 2 * len(KLAR_LANGS)
    assert manifest["files"][0]["url"] == f"{base}ar/capital.json"


def test_klar_missing_relation_is_atomic(
    klar_server: FixtureServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "klar"
    base = f"{klar_server.url}/{KLAR_RELEASE.name}"
    spec = spec_of("klar", base_url=base, languages=KLAR_LANGS, relations=["capital", "capital_of"])
    error = fails(caplog, "klar", spec, out, "--raw-dir", str(tmp_path / "raw"), "--retries", "0")
    assert f"{base}/ar/capital_of.json" in error and "404" in error
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".klar")]  # no leftover temporary dir


def test_klar_local_copy(tmp_path: Path) -> None:
    out = tmp_path / "klar"
    spec = spec_of("klar", local=str(KLAR_RELEASE), languages=KLAR_LANGS, relations=["capital", "continent"])
    manifest = acquire("klar", spec, out)
    check_klar(out)
    assert manifest["local"] == str(KLAR_RELEASE)
    assert manifest["files"][0]["local"] == str(KLAR_RELEASE / "ar/capital.json")


def test_klar_local_missing_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "klar"
    spec = spec_of("klar", local=str(KLAR_RELEASE), languages=["en"], relations=["capital", "occupation"])
    error = fails(caplog, "klar", spec, out)
    assert str(KLAR_RELEASE / "en/occupation.json") in error
    assert not out.exists()


# --- hub-mcq -------------------------------------------------------------------------------


def test_hub_mcq_polyfact_local(tmp_path: Path) -> None:
    out = tmp_path / "mcq" / "polyfact"
    spec = spec_of("polyfact", hub="jvonrad/PolyFact", local=str(HUB / "PolyFact"))
    manifest = acquire("hub-mcq", spec, out, "--languages", "en,de")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jsonl")) == ["test/de.jsonl", "test/en.jsonl"]
    rows, stats = load_mcq(out, ["en", "de"], split="test")
    published = len((HUB / "PolyFact/en/test.jsonl").read_text(encoding="utf-8").splitlines())
    assert stats["languages"]["en"] == published
    assert {r["language"] for r in rows} == {"en", "de"}
    assert manifest["rows"] == {"test": {"en": published, "de": stats["languages"]["de"]}}
    assert manifest["missing"] == []


def test_hub_mcq_local_without_hub(tmp_path: Path) -> None:
    out = tmp_path / "polyfact"
    manifest = acquire("hub-mcq", spec_of("polyfact", local=str(HUB / "PolyFact")), out, "--languages", "en")
    assert manifest["local"] == str(HUB / "PolyFact") and (out / "test" / "en.jsonl").is_file()


def test_hub_mcq_lite_lists_missing_languages(tmp_path: Path) -> None:
    out = tmp_path / "global-mmlu-lite"
    spec = spec_of("global_mmlu_lite", hub="CohereLabs/Global-MMLU-Lite", local=str(HUB / "Global-MMLU-Lite"))
    manifest = acquire("hub-mcq", spec, out, "--languages", "en,de")
    assert manifest["missing"] == ["de"]
    assert manifest["rows"] == {"test": {"en": 2}}
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["test", "test/en.jsonl"]
    rows = [json.loads(line) for line in (out / "test" / "en.jsonl").read_text(encoding="utf-8").splitlines()]
    published = [json.loads(line) for line in (HUB / "Global-MMLU-Lite/en/test.jsonl").read_text().splitlines()]
    assert rows == published


def test_hub_mcq_spec_languages_and_splits(tmp_path: Path) -> None:
    out = tmp_path / "global-mmlu"
    spec = spec_of(
        "global_mmlu",
        hub="CohereLabs/Global-MMLU",
        local=str(HUB / "Global-MMLU"),
        splits=["test", "dev"],
        languages=["de"],
    )
    manifest = acquire("hub-mcq", spec, out, "--languages", "en,de")
    assert manifest["rows"] == {"test": {"de": 2}, "dev": {"de": 2}}
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jsonl")) == ["dev/de.jsonl", "test/de.jsonl"]


def test_hub_mcq_all_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "global-mmlu-lite"
    spec = spec_of("global_mmlu_lite", hub="CohereLabs/Global-MMLU-Lite", local=str(HUB / "Global-MMLU-Lite"))
    error = fails(caplog, "hub-mcq", spec, out, "--languages", "de,ru")
    assert "none of the languages ['de', 'ru'] is a config" in error
    assert not out.exists()


# --- with_defaults and the pure converters -------------------------------------------------


def test_with_defaults_fills_each_source() -> None:
    acquire_section = {
        "retries": 2,
        "wikidata_dump": {"url": "http://x/d.json.gz"},
        "ted2025": {"local": "/data/multi_way.jsonl"},
        "flores": {"split": "dev"},
        "klar": {"base_url": "http://x/klar", "languages": ["en"]},
        "polyfact": None,
        "global_mmlu": {"hub": "CohereLabs/Global-MMLU", "splits": ["test", "dev"]},
    }
    out = with_defaults(acquire_section)
    assert out["retries"] == 2 and out["polyfact"] is None and "polyfact_clean" not in out
    assert out["wikidata_dump"] == {"url": "http://x/d.json.gz", "checksum": None, "checksums_url": None, "local": None}
    assert out["ted2025"]["lang_codes"] == {"zh": "zh-cn", "pt": "pt-br"} and out["ted2025"]["url"] is None
    assert out["flores"] == {"hub": "openlanguagedata/flores_plus", "local": None, "split": "dev", "lang_codes": {}}
    assert out["klar"]["languages"] == ["en"] and out["klar"]["relations"] == sorted(out["klar"]["relations"])
    assert "capital" in out["klar"]["relations"]
    assert out["global_mmlu"] == {
        "hub": "CohereLabs/Global-MMLU",
        "local": None,
        "splits": ["test", "dev"],
        "languages": None,
    }
    assert acquire_section["wikidata_dump"] == {"url": "http://x/d.json.gz"}  # the input is left alone


@pytest.mark.parametrize(
    ("key", "entry", "origin"),
    [
        ("wikidata_dump", {"checksum": "md5:" + "0" * 32}, "url"),
        ("ted2025", {"lang_codes": {}}, "url"),
        ("klar", {"languages": ["en"]}, "base_url"),
        ("polyfact_clean", {"splits": ["test"]}, "hub"),
        ("flores", {"hub": None}, "hub"),
    ],
)
def test_with_defaults_needs_an_origin(key: str, entry: dict[str, Any], origin: str) -> None:
    with pytest.raises(PolyfactError, match=rf"acquire\.{key}: set `{origin}` or `local`"):
        with_defaults({key: entry})


def test_ted_row() -> None:
    record = {"talk_id": 7, "para_data": {"en": " Paris ", "zh-cn": "巴黎", "de": "", "fr": None}}
    assert ted_row(record, ["en", "de", "fr", "zh"], {"zh": "zh-cn"}) == {"talk_id": "7", "en": "Paris", "zh": "巴黎"}
    assert ted_row(record, ["en", "de", "fr"], {"zh": "zh-cn"}) is None  # one language with text
    assert ted_row(record, ["en", "zh"], {}) is None  # zh is zh-cn in TED
    with pytest.raises(ValueError, match="para_data"):
        ted_row({"talk_id": "t"}, ["en", "de"], {})


def test_join_by_id() -> None:
    rows = join_by_id(
        {
            "en": [{"id": 3, "text": "c"}, {"id": 1, "text": " a "}, {"id": 2, "text": "b"}],
            "de": [{"id": "2", "text": "B"}, {"id": 1, "text": "A"}],
        }
    )
    assert rows == [
        {"flores_id": 1, "en": "a", "de": "A"},
        {"flores_id": 2, "en": "b", "de": "B"},
        {"flores_id": 3, "en": "c"},
    ]
    assert join_by_id({}) == []
    with pytest.raises(PolyfactError, match="FLORES\\+ de"):
        join_by_id({"de": [{"id": "x", "text": "A"}]})
    with pytest.raises(PolyfactError, match="FLORES\\+ en"):
        join_by_id({"en": [{"id": 1}]})


def test_klar_file() -> None:
    data = {
        "name": "capital",
        "prompt_templates": ["<subject> <mask>"],
        "samples": [{"subject": "France", "object": "Paris"}],
    }
    english = klar_file(data, "capital", "en")
    assert english["relation_id"] == "P36" and english["name"] == "capital"
    assert english["samples"] == [
        {"subject": "France", "object": "Paris", "subject_en": "France", "object_en": "Paris"}
    ]
    assert data["samples"] == [{"subject": "France", "object": "Paris"}]  # not modified in place
    german = klar_file(data, "capital", "de")
    assert german["samples"] == data["samples"]
    assert klar_file({**data, "relation_id": "P1376"}, "capital", "en")["relation_id"] == "P1376"
    with pytest.raises(PolyfactError, match="'capitol' has no Wikidata property"):
        klar_file(data, "capitol", "en")
    with pytest.raises(PolyfactError, match="de/capital.json: no 'samples'"):
        klar_file({"prompt_templates": []}, "capital", "de")
