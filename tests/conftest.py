"""Shared test helpers: repository paths and small constructed facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyfact.facts import Fact

REPO = Path(__file__).resolve().parents[1]
LANGS = ["en", "de", "ru", "zh", "bn"]


def labels(**per_lang: str) -> dict[str, str]:
    return dict(per_lang)


def country_fact(code: str, names: dict[str, str], continent: str, cont_names: dict[str, str]) -> Fact:
    return Fact(f"t:{code}", "P30", f"c:{continent}", names, cont_names)


@pytest.fixture
def repo() -> Path:
    return REPO
