"""A fact on its way to becoming a multiple-choice item in every language."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from polyfact.facts import label_column, label_columns


@dataclass
class Item:
    fact_id: str
    subject_id: str
    property_id: str
    object_id: str
    subject: dict[str, str | None]  # label per language
    object: dict[str, str | None]
    question: dict[str, str] = field(default_factory=dict)
    option_ids: dict[str, list[str]] = field(default_factory=dict)  # per language, display order
    object_types: frozenset[str] = frozenset()  # P31 classes of the object (none for CLDR facts)


def items_from_facts(df: pd.DataFrame, languages: list[str]) -> list[Item]:
    """Items from a facts table, in fact_id order; labels missing from the table become None."""
    missing = [c for c in label_columns(languages) if c not in df.columns]
    if missing:
        raise ValueError(f"facts table has no label columns {missing}")
    items = []
    for row in df.sort_values("fact_id", kind="stable").itertuples(index=False):
        r = row._asdict()
        items.append(
            Item(
                fact_id=r["fact_id"],
                subject_id=r["subject_id"],
                property_id=r["property_id"],
                object_id=r["object_id"],
                subject={lang: _label(r[label_column("subject", lang)]) for lang in languages},
                object={lang: _label(r[label_column("object", lang)]) for lang in languages},
                object_types=_types(r.get("object_types")),
            )
        )
    return items


def _types(value: object) -> frozenset[str]:
    """P31 ids from a facts-table cell (a list, a numpy array from Parquet, or null)."""
    if value is None or isinstance(value, float | str):
        return frozenset()
    return frozenset(str(t) for t in value)  # type: ignore[attr-defined]


def _label(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
