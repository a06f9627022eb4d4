"""Digests of config slices and package code, used in rule `params` so that Snakemake reruns
exactly the jobs whose configuration or code changed (it does not track imported modules)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent


def config_digest(config: Mapping[str, Any], *keys: str) -> str:
    """Digest of the named top-level config sections (missing ones count as null)."""
    payload = json.dumps({k: config.get(k) for k in keys}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def code_digest(*modules: str) -> str:
    """Digest of the source of the named package modules (`dataset` = the whole subpackage)."""
    h = hashlib.sha256()
    for module in sorted(modules):
        base = PACKAGE_DIR.joinpath(*module.split("."))
        files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
        if not files or not files[0].exists():
            raise ValueError(f"code_digest: no module polyfact.{module}")
        for f in files:
            h.update(str(f.relative_to(PACKAGE_DIR)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]
