"""Hugging Face `datasets` export: one config per language plus `parallel`, splits train/val/test."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
from datasets import Dataset, DatasetDict

from polyfact.dataset.splits import SPLITS
from polyfact.io import atomic_dir, read_jsonl


def _load(path: Path) -> Dataset:
    # A fingerprint derived from the JSONL bytes (instead of datasets' random one) makes the
    # saved dataset, state.json included, byte-identical for identical data.
    fingerprint = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return Dataset(pa.Table.from_pylist(read_jsonl(path)), fingerprint=fingerprint)


def export_hf(data_dir: str | Path, languages: Sequence[str], out_dir: str | Path) -> None:
    """Save `{out_dir}/{config}` as a DatasetDict for every language and for `parallel`."""
    data = Path(data_dir)
    sources = {lang: {s: data / s / f"{lang}.jsonl" for s in SPLITS} for lang in languages}
    sources["parallel"] = {s: data / "parallel" / f"{s}.jsonl" for s in SPLITS}
    with atomic_dir(out_dir) as tmp:
        for config, paths in sources.items():
            DatasetDict({s: _load(p) for s, p in paths.items()}).save_to_disk(str(tmp / config))
