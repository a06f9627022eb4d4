"""The LLM stage's prompts (config/llm/prompts.yaml), request seeds and answer parsing, shared
by question writing, label translation and the judge audit."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from polyfact.errors import PolyfactError

REQUIRED = {
    "questions": ("system", "user", "paraphrase", "prefix", "relations"),
    "translation": ("system", "user"),
    "audit": ("system", "user", "prefix"),
}


def load_prompts(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The prompts file, every section and key present (a missing one fails naming it)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise PolyfactError(f"{path}: cannot read the LLM prompts: {err}") from None
    for section, keys in REQUIRED.items():
        missing = [k for k in keys if k not in (data.get(section) or {})]
        if missing:
            raise PolyfactError(f"{path}: section {section!r} lacks {missing}")
    return data


def relation_description(prompts: Mapping[str, Any], pid: str) -> str:
    try:
        return str(prompts["questions"]["relations"][pid])
    except KeyError:
        raise PolyfactError(f"config/llm prompts: no description for relation {pid} in questions.relations") from None


def prompt_version(*parts: str) -> str:
    """Short digest naming a prompt's text (recorded with every answer written from it)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def request_seed(seed: int, *parts: object) -> int:
    """A request's own sampling seed, from the run seed and what the request is (31 bits,
    within what vLLM and torch accept)."""
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def json_string_field(prefix: str, text: str) -> str | None:
    """The string value an answer continues after `prefix` (which ends inside a JSON string:
    `{"question": "`), read up to its closing quote with JSON escapes; None when the string
    is never closed (the answer was cut off or is not JSON)."""
    if not prefix.endswith('"'):
        raise PolyfactError(f"prompt prefix {prefix!r} must end by opening a JSON string")
    try:
        value, _ = json.JSONDecoder().raw_decode('"' + text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, str) else None
