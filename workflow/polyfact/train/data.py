"""Reading the dataset the data stages wrote, in the shapes the trainers take."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polyfact.dataset.splits import SPLITS
from polyfact.errors import PolyfactError
from polyfact.io import read_jsonl


def records_by_language(data_dir: str | Path, split: str, languages: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """`{data_dir}/{split}/{lang}.jsonl` for each language."""
    out = {}
    for lang in languages:
        path = Path(data_dir) / split / f"{lang}.jsonl"
        if not path.is_file():
            raise PolyfactError(f"no {split} data for language {lang!r}: {path}")
        out[lang] = read_jsonl(path)
    return out


def parallel_rows(data_dir: str | Path) -> list[dict[str, Any]]:
    """The parallel view (one row per fact, every language) of all splits."""
    return [row for split in SPLITS for row in read_jsonl(Path(data_dir) / "parallel" / f"{split}.jsonl")]
