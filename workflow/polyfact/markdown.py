"""Markdown tables for the reports (data, models, results, significance, interpretability)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def cell(value: Any, missing: str) -> str:
    """Floats to 3 decimals, None as `missing`, anything else as its string."""
    if value is None:
        return missing
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def table(header: Sequence[str], body: Sequence[Sequence[Any]], missing: str = "–") -> list[str]:
    """The lines of a markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v, missing) for v in row) + " |" for row in body]
    return lines
