"""The facts table every source produces, and the selection steps shared by all sources.

Columns: fact_id, subject_id, property_id, object_id, label columns (null where the label is
missing), subject_types, object_types (P31 ids, possibly empty).

Label columns are `subject_label_{lang}` / `object_label_{lang}`: the plain `subject_{lang}`
would make Indonesian (`id`) labels collide with the `subject_id` entity column.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from polyfact.errors import PolyfactError
from polyfact.io import atomic_path

ID_COLUMNS = ("fact_id", "subject_id", "property_id", "object_id")


@dataclass
class Fact:
    """One (subject, property, object) triple with labels per language."""

    subject_id: str
    property_id: str
    object_id: str
    subject_labels: Mapping[str, str | None]
    object_labels: Mapping[str, str | None]
    subject_types: Sequence[str] = field(default_factory=tuple)
    object_types: Sequence[str] = field(default_factory=tuple)


def make_fact_id(subject_id: str, property_id: str, object_id: str) -> str:
    return f"{subject_id}|{property_id}|{object_id}"


def label_column(role: str, lang: str) -> str:
    """Column of the `role` ("subject" or "object") label in `lang`."""
    return f"{role}_label_{lang}"


def label_columns(languages: Sequence[str]) -> list[str]:
    return [label_column(role, lang) for role in ("subject", "object") for lang in languages]


def facts_frame(facts: Iterable[Fact], languages: Sequence[str]) -> pd.DataFrame:
    """Build the facts table, sorted by fact_id so the same facts give the same bytes."""
    rows = []
    for f in facts:
        row: dict[str, object] = {
            "fact_id": make_fact_id(f.subject_id, f.property_id, f.object_id),
            "subject_id": f.subject_id,
            "property_id": f.property_id,
            "object_id": f.object_id,
        }
        for lang in languages:
            row[label_column("subject", lang)] = f.subject_labels.get(lang) or None
            row[label_column("object", lang)] = f.object_labels.get(lang) or None
        row["subject_types"] = sorted(set(f.subject_types))
        row["object_types"] = sorted(set(f.object_types))
        rows.append(row)
    columns = [*ID_COLUMNS, *label_columns(languages), "subject_types", "object_types"]
    df = pd.DataFrame(rows, columns=columns)
    if df["fact_id"].duplicated().any():
        dup = df.loc[df["fact_id"].duplicated(), "fact_id"].iloc[0]
        raise ValueError(f"duplicate fact {dup!r} in facts table")
    return df.sort_values("fact_id", kind="stable").reset_index(drop=True)


def count_labels(df: pd.DataFrame, role: str, languages: Sequence[str]) -> pd.Series:
    return df[[label_column(role, lang) for lang in languages]].notna().sum(axis=1)


def filter_min_label_langs(df: pd.DataFrame, languages: Sequence[str], k: int) -> pd.DataFrame:
    """Keep facts whose subject and object both have labels in at least `k` languages."""
    keep = (count_labels(df, "subject", languages) >= k) & (count_labels(df, "object", languages) >= k)
    return df[keep].reset_index(drop=True)


def sample_round_robin(df: pd.DataFrame, relations: Sequence[str], max_facts: int | None, seed: int) -> pd.DataFrame:
    """Take up to `max_facts` facts, one relation at a time in turn (seeded order within each).

    Round-robin keeps small relations whole and caps big ones evenly, as the paper samples.
    The result is sorted by fact_id (stable bytes).
    """
    if max_facts is None or len(df) <= max_facts:
        return df.sort_values("fact_id", kind="stable").reset_index(drop=True)
    queues = []
    for pid in relations:
        ids = sorted(df.loc[df["property_id"] == pid, "fact_id"])
        random.Random(f"{seed}:{pid}").shuffle(ids)
        queues.append(ids)
    chosen: list[str] = []
    depth = 0
    while len(chosen) < max_facts and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q) and len(chosen) < max_facts:
                chosen.append(q[depth])
        depth += 1
    out = df[df["fact_id"].isin(set(chosen))]
    return out.sort_values("fact_id", kind="stable").reset_index(drop=True)


def write_facts(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the facts table as Parquet, atomically and with deterministic bytes."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_facts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a facts table and check it has the contract's columns."""
    df = pq.read_table(path).to_pandas()
    missing = [c for c in ID_COLUMNS if c not in df.columns]
    if missing:
        raise PolyfactError(f"{path}: not a facts table, missing columns {missing}")
    return df
