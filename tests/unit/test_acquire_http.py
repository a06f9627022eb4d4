"""Resumable downloads against a loopback server with injected faults (offline, deterministic)."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from polyfact.acquire import http
from polyfact.acquire.http import (
    ContentRange,
    DownloadError,
    checksum_from_listing,
    download,
    parse_checksum,
    parse_content_range,
)
from polyfact.errors import PolyfactError

from tests.conftest import REPO
from tests.fixtures.http_server import FixtureServer

DATA = random.Random(0).randbytes(300_000)
NAME = "wikidata-20251201-all.json.gz"
CUT = 100_003
CHUNK = 8192


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FixtureServer]:
    root = tmp_path / "mirror"
    root.mkdir()
    (root / NAME).write_bytes(DATA)
    with FixtureServer(root) as running:
        yield running


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "raw" / NAME


def fetch(server: FixtureServer, dest: Path, **kwargs: object) -> dict:
    options = {"chunk_bytes": CHUNK, "progress": False, "backoff_s": 0.0} | kwargs
    return download(f"{server.url}/{NAME}", dest, **options)


def part_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def test_full_download(server: FixtureServer, dest: Path) -> None:
    record = fetch(server, dest)
    assert dest.read_bytes() == DATA
    assert not part_of(dest).exists()
    assert record["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert record | {"seconds": 0} == {
        "url": f"{server.url}/{NAME}",
        "path": str(dest),
        "bytes": len(DATA),
        "sha256": record["sha256"],
        "checksum": None,
        "resumed_from": 0,
        "attempts": 1,
        "seconds": 0,
    }
    assert server.requests == [("GET", f"/{NAME}", None)]


def test_cut_keeps_the_part_and_a_rerun_resumes(server: FixtureServer, dest: Path) -> None:
    server.cut_after(NAME, CUT)
    url = f"{server.url}/{NAME}"
    with pytest.raises(DownloadError, match="rerun to resume") as failed:
        fetch(server, dest, retries=0)
    kept = part_of(dest).read_bytes()
    # urllib3 drops the last partial chunk of a cut body, so the part is a prefix up to one chunk short.
    assert CUT - CHUNK < len(kept) <= CUT and kept == DATA[: len(kept)]
    assert url in str(failed.value) and f"{len(kept)} bytes kept" in str(failed.value)
    assert not dest.exists()

    record = fetch(server, dest)
    assert server.requests[-1] == ("GET", f"/{NAME}", f"bytes={len(kept)}-")
    assert (record["resumed_from"], record["attempts"], record["bytes"]) == (len(kept), 1, len(DATA))
    assert record["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert dest.read_bytes() == DATA
    assert not part_of(dest).exists()


def test_cut_with_retries_resumes_within_one_call(server: FixtureServer, dest: Path) -> None:
    server.cut_after(NAME, CUT)
    record = fetch(server, dest, retries=1)
    assert (record["attempts"], record["resumed_from"]) == (2, 0)
    first, resume = [r[2] for r in server.requests]
    assert first is None and CUT - CHUNK < int(resume.removeprefix("bytes=").removesuffix("-")) <= CUT
    assert dest.read_bytes() == DATA


def test_server_ignoring_range_restarts_from_zero(server: FixtureServer, dest: Path) -> None:
    dest.parent.mkdir()
    part_of(dest).write_bytes(b"stale bytes that must not survive")
    server.ignore_range(NAME)
    record = fetch(server, dest)
    assert server.requests == [("GET", f"/{NAME}", "bytes=33-")]
    assert record["resumed_from"] == 33
    assert record["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert dest.read_bytes() == DATA


def test_416_with_a_complete_part_is_finalised(server: FixtureServer, dest: Path) -> None:
    dest.parent.mkdir()
    part_of(dest).write_bytes(DATA)
    record = fetch(server, dest, checksum=f"md5:{hashlib.md5(DATA).hexdigest()}")
    assert server.requests == [("GET", f"/{NAME}", f"bytes={len(DATA)}-")]
    assert (record["resumed_from"], record["bytes"]) == (len(DATA), len(DATA))
    assert record["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert dest.read_bytes() == DATA and not part_of(dest).exists()


def test_416_with_a_longer_part_restarts(server: FixtureServer, dest: Path) -> None:
    dest.parent.mkdir()
    part_of(dest).write_bytes(DATA + b"junk")
    record = fetch(server, dest, retries=0)
    assert [r[2] for r in server.requests] == [f"bytes={len(DATA) + 4}-", None]
    assert record["attempts"] == 1
    assert dest.read_bytes() == DATA


@pytest.mark.parametrize("algo", ["sha256", "md5"])
def test_checksum_mismatch_deletes_everything(server: FixtureServer, dest: Path, algo: str) -> None:
    wrong = "0" * len(hashlib.new(algo).hexdigest())
    with pytest.raises(DownloadError) as failed:
        fetch(server, dest, checksum=f"{algo}:{wrong}")
    message = str(failed.value)
    assert f"{server.url}/{NAME}" in message
    assert wrong in message and hashlib.new(algo, DATA).hexdigest() in message
    assert not dest.exists() and not part_of(dest).exists()


def test_matching_checksum_is_recorded(server: FixtureServer, dest: Path) -> None:
    digest = hashlib.sha1(DATA).hexdigest()
    record = fetch(server, dest, checksum=f"SHA1:{digest.upper()}")
    assert record["checksum"] == f"sha1:{digest}"
    assert record["sha256"] == hashlib.sha256(DATA).hexdigest()


def test_404_fails_at_once_and_writes_nothing(server: FixtureServer, dest: Path) -> None:
    url = f"{server.url}/missing.gz"
    with pytest.raises(DownloadError, match="404") as failed:
        download(url, dest, retries=3, backoff_s=0, progress=False)
    assert url in str(failed.value)
    assert len(server.requests) == 1
    assert not dest.exists() and not part_of(dest).exists()


def test_client_error_leaves_part_and_existing_dest_alone(server: FixtureServer, dest: Path) -> None:
    dest.parent.mkdir()
    dest.write_bytes(b"previous complete file")
    part_of(dest).write_bytes(DATA[:CUT])
    server.fail(NAME, 403)
    with pytest.raises(DownloadError, match="403"):
        fetch(server, dest)
    assert dest.read_bytes() == b"previous complete file"
    assert part_of(dest).read_bytes() == DATA[:CUT]
    fetch(server, dest)
    assert dest.read_bytes() == DATA


def test_503_then_success(server: FixtureServer, dest: Path) -> None:
    server.fail(NAME, 503)
    record = fetch(server, dest, retries=1)
    assert record["attempts"] == 2
    assert dest.read_bytes() == DATA


def test_retries_back_off_exponentially_then_give_up(
    server: FixtureServer, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []
    monkeypatch.setattr(http.time, "sleep", delays.append)
    server.fail(NAME, 429, times=4)
    with pytest.raises(DownloadError, match="failed after 4 attempts"):
        fetch(server, dest, retries=3, backoff_s=2.0)
    assert delays == [2.0, 4.0, 8.0]
    assert not dest.exists() and not part_of(dest).exists()


def test_parse_checksum() -> None:
    assert parse_checksum(" MD5:" + "AB" * 16) == ("md5", "ab" * 16)
    assert parse_checksum("sha256:" + "0" * 64) == ("sha256", "0" * 64)
    for bad in ["crc32:deadbeef", "md5:" + "a" * 31, "sha1:" + "g" * 40, "a" * 64, ""]:
        with pytest.raises(PolyfactError, match="checksum"):
            parse_checksum(bad)


def test_checksum_from_listing() -> None:
    listing = f"{'1' * 32}  {NAME}-rss.txt\n{'A' * 32}  {NAME}\n{'2' * 32} *wikidata-20251201-lexemes.json.gz\n\n"
    assert checksum_from_listing(listing, NAME, "md5") == "a" * 32
    assert checksum_from_listing(listing, "wikidata-20251201-lexemes.json.gz", "md5") == "2" * 32
    with pytest.raises(PolyfactError, match="wikidata-20251201-all.json.bz2"):
        checksum_from_listing(listing, "wikidata-20251201-all.json.bz2", "md5")
    with pytest.raises(PolyfactError, match="sha1 needs 40"):
        checksum_from_listing(listing, NAME, "sha1")


def test_parse_content_range() -> None:
    assert parse_content_range("bytes 100-299/300") == ContentRange(100, 299, 300)
    assert parse_content_range("bytes */300") == ContentRange(None, None, 300)
    assert parse_content_range("bytes 0-9/*") == ContentRange(0, 9, None)
    for bad in ["", "bytes 1-/300", "items 0-9/10", "bytes 0-9/300 extra"]:
        assert parse_content_range(bad) is None


def test_fixture_server_ranges_and_head(server: FixtureServer) -> None:
    url = f"{server.url}/{NAME}"
    part = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=5)
    assert (part.status_code, part.content, part.headers["Content-Range"]) == (206, DATA[10:20], "bytes 10-19/300000")
    head = requests.head(url, timeout=5)
    assert (head.headers["Content-Length"], head.headers["Accept-Ranges"], head.content) == ("300000", "bytes", b"")
    beyond = requests.get(url, headers={"Range": "bytes=300000-"}, timeout=5)
    assert (beyond.status_code, beyond.headers["Content-Range"]) == (416, "bytes */300000")


def test_fixture_server_script_serves_until_sigterm(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    command = [sys.executable, str(REPO / "scripts" / "fixture-server"), str(tmp_path), "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        line = process.stdout.readline()
        assert line.startswith(f"serving {tmp_path} at http://127.0.0.1:")
        assert requests.get(f"{line.split()[-1]}/a.txt", timeout=5).text == "hello"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
