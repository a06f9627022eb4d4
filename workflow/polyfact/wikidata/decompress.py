"""Decompressed views of a dump file, from the fastest decompressor installed.

The dump is read at the speed of its decompression, so the backend matters more than any
parsing trick (`benchmarks/extract_dump.py` measures them side by side):

- gzip: ISA-L (`isal`) decompresses about 4-5x faster than `gzip -dc` on one core, zlib-ng
  about 3x; `rapidgzip` decompresses one gzip stream on many cores and seeks through the
  index it builds while reading. Python's own zlib is the fallback.
- bzip2: `indexed_bzip2` decompresses on many cores and seeks by block offsets; Python's
  `bz2` is the fallback.

Every backend yields the same bytes; a truncated or corrupt archive raises one of the
stream's `errors`, which the extractor turns into a `DumpError`.
"""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from polyfact.errors import PolyfactError

GZIP_BACKENDS = ("rapidgzip", "isal", "zlib-ng", "zlib")
BZIP2_BACKENDS = ("indexed_bzip2", "bz2")
BACKENDS = ("auto", *GZIP_BACKENDS, *BZIP2_BACKENDS, "plain")
# With this many parser workers or more (workers + 1 cores), `auto` takes rapidgzip for gzip:
# one ISA-L thread decompresses ~1.2 GB/s of JSON, one rapidgzip thread ~0.65 GB/s and one
# parser ~0.6 GB/s, so from about four cores rapidgzip's threads and the parsers together pass
# one ISA-L thread (`benchmarks/extract_dump.py` prints these rates).
PARALLEL_GZIP_FROM_WORKERS = 3
_MODULES = {
    "rapidgzip": "rapidgzip",
    "isal": "isal",
    "zlib-ng": "zlib_ng",
    "indexed_bzip2": "indexed_bzip2",
}
# How opening a damaged archive fails (rapidgzip and indexed_bzip2 read the header at once).
OPEN_ERRORS = (EOFError, OSError, RuntimeError, ValueError)


class DecompressorError(PolyfactError):
    """The requested decompressor does not fit the file or is not installed."""


def installed(backend: str) -> bool:
    module = _MODULES.get(backend)
    return module is None or importlib.util.find_spec(module) is not None


def compression(path: Path) -> str:
    """`gz`, `bz2` or `plain`, from the file name."""
    return {".gz": "gz", ".bz2": "bz2"}.get(path.suffix, "plain")


def choose_backend(path: Path, requested: str = "auto", workers: int = 1) -> str:
    """The backend to read `path` with: `requested`, checked, or the fastest installed."""
    kind = compression(path)
    fitting = {"gz": GZIP_BACKENDS, "bz2": BZIP2_BACKENDS, "plain": ("plain",)}[kind]
    if requested != "auto":
        if requested not in fitting:
            raise DecompressorError(f"decompressor {requested!r} cannot read {path.name}; choose from {fitting}")
        if not installed(requested):
            raise DecompressorError(f"decompressor {requested!r} is not installed (pip install {_MODULES[requested]})")
        return requested
    candidates = [b for b in fitting if installed(b)]
    if kind == "gz" and workers < PARALLEL_GZIP_FROM_WORKERS and "rapidgzip" in candidates and len(candidates) > 1:
        candidates.remove("rapidgzip")
    return candidates[0]


@dataclass
class Stream:
    """An open decompressed stream and how far into the compressed file it has read."""

    file: BinaryIO
    backend: str
    compressed_position: Callable[[], int]
    # How this backend reports a damaged archive while reading: gzip's EOFError and OSError
    # (BadGzipFile) plus the library's own error; RuntimeError or ValueError from rapidgzip
    # and indexed_bzip2.
    errors: tuple[type[BaseException], ...]


@contextmanager
def open_stream(path: Path, backend: str, threads: int = 1) -> Iterator[Stream]:
    """Open `path` with `backend` (`choose_backend`'s answer); closes everything on exit."""
    if backend in ("rapidgzip", "indexed_bzip2"):
        if backend == "rapidgzip":
            import rapidgzip

            file = rapidgzip.RapidgzipFile(str(path), parallelization=max(threads, 1))
        else:
            import indexed_bzip2

            file = indexed_bzip2.IndexedBzip2File(str(path), parallelization=max(threads, 1))
        try:
            # Both report the compressed position in bits.
            errors = (EOFError, OSError, RuntimeError, ValueError)  # ValueError: a bad deflate block
            yield Stream(file, backend, lambda: file.tell_compressed() // 8, errors)
        finally:
            file.close()
        return
    with open(path, "rb") as raw:
        if backend == "plain":
            yield Stream(raw, backend, raw.tell, (OSError,))
            return
        errors: tuple[type[BaseException], ...] = (EOFError, OSError)
        if backend == "zlib":
            file: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
            errors += (zlib.error,)
        elif backend == "isal":
            from isal import igzip, igzip_lib

            file = igzip.IGzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
            errors += (igzip_lib.IsalError,)
        elif backend == "zlib-ng":
            from zlib_ng import gzip_ng, zlib_ng

            file = gzip_ng.GzipNGFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
            errors += (zlib_ng.error,)
        elif backend == "bz2":
            file = bz2.BZ2File(raw, mode="rb")  # type: ignore[assignment]
        else:
            raise DecompressorError(f"unknown decompressor {backend!r}; choose from {BACKENDS}")
        with file:
            yield Stream(file, backend, raw.tell, errors)
