"""Resumable, verified HTTP downloads for the data rules.

Multi-gigabyte dumps break mid-transfer, so bytes go to `<dest>.part` and a rerun resumes it
with a Range request; only a complete file whose checksum matches is renamed to `dest`, so a
killed job never leaves something that looks finished to Snakemake.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, NamedTuple

import requests
from tqdm import tqdm

from polyfact.errors import PolyfactError

log = logging.getLogger(__name__)

HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64}
CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


class DownloadError(PolyfactError):
    """A download that failed or did not verify; the message names the URL."""


class _Transient(Exception):
    """A failure worth retrying (dropped connection, short body, 429/5xx)."""


RETRYABLE = (_Transient, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ContentRange(NamedTuple):
    """A parsed `Content-Range`; None where the header has `*`."""

    start: int | None
    end: int | None
    total: int | None


def parse_checksum(text: str) -> tuple[str, str]:
    """`"sha256:<hex>"` as (algo, lowercase hex), rejected early rather than after a long download."""
    algo, sep, digest = text.strip().partition(":")
    algo, digest = algo.lower(), digest.lower()
    if not sep or algo not in HEX_LENGTHS:
        raise PolyfactError(f"checksum {text!r}: expected {', '.join(f'{a}:<hex>' for a in HEX_LENGTHS)}")
    if len(digest) != HEX_LENGTHS[algo] or not re.fullmatch(r"[0-9a-f]+", digest):
        raise PolyfactError(f"checksum {text!r}: {algo} needs {HEX_LENGTHS[algo]} hex digits")
    return algo, digest


def checksum_from_listing(listing: str, filename: str, algo: str) -> str:
    """The hex digest of `filename` in a `<hex>  <filename>` listing (Wikimedia's `*-md5sums.txt`)."""
    for line in listing.splitlines():
        fields = line.split(maxsplit=1)
        if len(fields) == 2 and fields[1].strip().removeprefix("*") == filename:
            return parse_checksum(f"{algo}:{fields[0]}")[1]
    raise PolyfactError(f"no {algo} checksum for {filename} in the listing")


def parse_content_range(header: str) -> ContentRange | None:
    """`bytes 0-99/1000`, `bytes */1000` or `bytes 0-99/*`; None when malformed."""
    match = CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        return None
    start, end, total = (None if g in (None, "*") else int(g) for g in match.groups())
    return ContentRange(start, end, total)


def hash_file(path: Path, hashers: Iterable[Any]) -> int:
    """Feed a file's bytes to every hasher (hashlib objects) in one pass; returns its size."""
    hashers, size = list(hashers), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            for hasher in hashers:
                hasher.update(chunk)
            size += len(chunk)
    return size


class _Part:
    """The `.part` file and running digests of its bytes, kept in step so a resume hashes the whole file."""

    def __init__(self, path: Path, algos: set[str]) -> None:
        self.path = path
        self.algos = algos
        self.file: IO[bytes] | None = None
        self._reset_digests()
        if path.exists():
            self.size = hash_file(path, self.hashers.values())

    def _reset_digests(self) -> None:
        self.hashers = {algo: hashlib.new(algo) for algo in self.algos}
        self.size = 0

    def _hash(self, chunk: bytes) -> None:
        for hasher in self.hashers.values():
            hasher.update(chunk)
        self.size += len(chunk)

    def _opened(self) -> IO[bytes]:
        if self.file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.path.open("ab")
        return self.file

    def write(self, chunk: bytes) -> None:
        self._opened().write(chunk)
        self._hash(chunk)

    def restart(self) -> None:
        """Drop the bytes kept so far (the server sent the whole file, or the part cannot be resumed)."""
        if self.file is not None:
            self.file.truncate(0)
        elif self.path.exists():
            self.path.unlink()
        self._reset_digests()

    def finish(self) -> None:
        """Flush and fsync before the rename, so `dest` never names a file still in the page cache only."""
        file = self._opened()
        file.flush()
        os.fsync(file.fileno())
        self.close()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def digests(self) -> dict[str, str]:
        return {algo: hasher.hexdigest() for algo, hasher in self.hashers.items()}


def download(
    url: str,
    dest: str | Path,
    *,
    checksum: str | None = None,
    retries: int = 5,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    chunk_bytes: int = 1 << 20,
    progress: bool = True,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """Download `url` to `dest`, resuming `<dest>.part`, and verify it against `checksum` ("algo:hex").

    `retries` bounds the retries since bytes last arrived: an attempt that grows the part resets
    the budget (and the backoff), so a long transfer over a flaky link keeps going while it advances.

    Returns a provenance record (url, path, bytes, sha256, checksum, resumed_from, attempts, seconds).
    """
    dest = Path(dest)
    expected = parse_checksum(checksum) if checksum else None
    part = _Part(dest.with_name(dest.name + ".part"), {"sha256"} | ({expected[0]} if expected else set()))
    resumed_from = part.size
    if resumed_from:
        log.info("resuming %s from byte %d of %s", url, resumed_from, part.path)
    started = time.monotonic()
    client = session or requests.Session()
    attempts = failures = 0  # failures: failed attempts since bytes last arrived
    try:
        with tqdm(desc=dest.name, unit="B", unit_scale=True, unit_divisor=1024, disable=not progress) as bar:
            while True:
                attempts += 1
                size_before = part.size
                try:
                    _fetch(client, url, part, bar, timeout_s=timeout_s, chunk_bytes=chunk_bytes)
                    break
                except RETRYABLE as exc:
                    # progress resets the budget: this failure is the first since bytes last arrived
                    failures = 1 if part.size > size_before else failures + 1
                    if failures > retries:
                        raise DownloadError(
                            f"{url}: failed after {attempts} attempts ({exc}); "
                            f"{part.size} bytes kept in {part.path}, rerun to resume"
                        ) from exc
                    delay = backoff_s * 2 ** (failures - 1)
                    log.warning("%s: %s; retrying from byte %d in %.1f s", url, exc, part.size, delay)
                    time.sleep(delay)
        part.finish()
    finally:
        part.close()
        if session is None:
            client.close()
    digests = part.digests()
    if expected:
        algo, want = expected
        if digests[algo] != want:
            part.path.unlink()
            raise DownloadError(f"{url}: {algo} mismatch, expected {want} but got {digests[algo]} (download deleted)")
    os.replace(part.path, dest)
    record = {
        "url": url,
        "path": str(dest),
        "bytes": part.size,
        "sha256": digests["sha256"],
        "checksum": f"{expected[0]}:{expected[1]}" if expected else None,
        "resumed_from": resumed_from,
        "attempts": attempts,
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info("downloaded %s to %s (%d bytes, %d attempts)", url, dest, part.size, attempts)
    return record


def _fetch(session: requests.Session, url: str, part: _Part, bar: tqdm, *, timeout_s: float, chunk_bytes: int) -> None:
    """One attempt that leaves the whole file in `part`, or raises (`_Transient` when a retry can help)."""
    if not _stream(session, url, part, bar, timeout_s=timeout_s, chunk_bytes=chunk_bytes):
        _stream(session, url, part, bar, timeout_s=timeout_s, chunk_bytes=chunk_bytes)


def _stream(session: requests.Session, url: str, part: _Part, bar: tqdm, *, timeout_s: float, chunk_bytes: int) -> bool:
    """One request appended to `part`; False when the part did not fit the server's file and was dropped."""
    # identity: the bytes on disk must be the bytes the server's checksum covers, never a decoded body.
    headers = {"Accept-Encoding": "identity"}
    if part.size:
        headers["Range"] = f"bytes={part.size}-"
    with session.get(url, headers=headers, stream=True, timeout=timeout_s) as response:
        status = response.status_code
        content_range = parse_content_range(response.headers.get("Content-Range", ""))
        if status == 416 and part.size:
            if content_range is not None and content_range.total == part.size:
                return True
            log.warning("%s: %s (%d bytes) does not fit the file on the server; restarting", url, part.path, part.size)
            part.restart()
            return False
        if status == 429 or status >= 500:
            raise _Transient(f"HTTP {status}")
        if status == 206:
            if content_range is None or content_range.start != part.size:
                message = f"asked for bytes from {part.size}, got Content-Range {content_range}; restarting"
                part.restart()
                raise _Transient(message)
            total = content_range.total
        elif status == 200:
            if part.size:
                log.warning("%s: server ignored the Range request; restarting from byte 0", url)
                part.restart()
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
        else:
            raise DownloadError(f"{url}: HTTP {status} {response.reason}")
        bar.reset(total=total)
        bar.update(part.size)
        for chunk in response.iter_content(chunk_bytes):
            part.write(chunk)
            bar.update(len(chunk))
    if total is not None and part.size < total:
        raise _Transient(f"body ended at byte {part.size} of {total}")
    return True
