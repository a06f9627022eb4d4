"""Question templates per language and relation (config/templates/{lang}.yaml)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import yaml

from polyfact.errors import PolyfactError
from polyfact.relations import relation_name

Templates = dict[str, dict[str, list[str]]]  # lang -> relation -> templates


def load_templates(templates_dir: str | Path, languages: Sequence[str]) -> Templates:
    """Load the templates of `languages`; a missing file or relation list fails naming it."""
    out: Templates = {}
    for lang in languages:
        path = Path(templates_dir) / f"{lang}.yaml"
        if not path.is_file():
            raise PolyfactError(f"no question templates for language {lang!r}: {path}")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if data.get("language") != lang:
            raise PolyfactError(f"{path}: 'language' is {data.get('language')!r}, expected {lang!r}")
        out[lang] = {pid: list(ts) for pid, ts in (data.get("relations") or {}).items()}
    return out


def check_templates(templates: Templates, languages: Sequence[str], relations: Sequence[str]) -> None:
    """Fail naming every relation that lacks templates in some language: extraction takes any
    property, but a question can only be written from a template."""
    missing = {pid: [lang for lang in languages if not templates.get(lang, {}).get(pid)] for pid in relations}
    gaps = [f"{pid} ({relation_name(pid)}) in {', '.join(langs)}" for pid, langs in missing.items() if langs]
    if gaps:
        raise PolyfactError(
            "no question templates for relation " + "; ".join(gaps) + " (add them under `relations:` in the "
            "templates directory's {lang}.yaml, or leave the relation out of facts.relations)"
        )


def pick_template(templates: Sequence[str], fact_id: str, lang: str, seed: int) -> str:
    """A template chosen by a stable hash of (seed, fact, language): reproducible and order-free."""
    h = hashlib.sha256(f"{seed}|{fact_id}|{lang}".encode()).digest()
    return templates[int.from_bytes(h[:8], "big") % len(templates)]


def render_question(templates: Templates, lang: str, relation: str, subject: str, fact_id: str, seed: int) -> str:
    try:
        options = templates[lang][relation]
    except KeyError:
        raise KeyError(f"no template for language {lang!r}, relation {relation!r}") from None
    return pick_template(options, fact_id, lang, seed).format(subject=subject)
