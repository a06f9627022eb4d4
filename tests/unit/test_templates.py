"""Question templates in config/templates/{lang}.yaml (DESIGN.md §6)."""

from __future__ import annotations

import string
import unicodedata
from pathlib import Path

import pytest
import yaml
from polyfact.dataset.templates import load_templates
from polyfact.languages import DEFAULT_LANGUAGES
from polyfact.relations import RELATIONS

TEMPLATES_DIR = Path(__file__).parents[2] / "config" / "templates"
LANGS = ("en", "de", "fr", "es", "pt", "ru", "zh", "ja", "ar", "bn", "id", "sw")

# Unicode name prefixes a template of a non-Latin language must contain at least one of.
REQUIRED_SCRIPTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "ru": (("CYRILLIC",),),
    "ar": (("ARABIC",),),
    "bn": (("BENGALI",),),
    "zh": (("CJK",),),
    "ja": (("CJK",), ("HIRAGANA", "KATAKANA")),
}


def _load(lang: str) -> dict:
    return yaml.safe_load((TEMPLATES_DIR / f"{lang}.yaml").read_text(encoding="utf-8"))


def _all_templates():
    for lang in LANGS:
        for pid, templates in (_load(lang).get("relations") or {}).items():
            for t in templates:
                yield lang, pid, t


def _has_script(text: str, prefixes: tuple[str, ...]) -> bool:
    return any(unicodedata.name(ch, "").startswith(prefixes) for ch in text)


def test_default_languages_are_the_twelve():
    assert set(DEFAULT_LANGUAGES) == set(LANGS)


def test_every_language_has_a_file():
    have = {p.stem for p in TEMPLATES_DIR.glob("*.yaml")}
    assert set(LANGS) <= have, f"missing: {sorted(set(LANGS) - have)}"


@pytest.mark.parametrize("lang", LANGS)
def test_language_key_and_scaffold(lang):
    data = _load(lang)
    assert isinstance(data, dict)
    assert data.get("language") == lang
    scaffold = data.get("answer_scaffold")
    assert isinstance(scaffold, str) and scaffold.strip()
    assert "{" not in scaffold and "}" not in scaffold


@pytest.mark.parametrize("lang", LANGS)
def test_every_relation_has_templates(lang):
    rels = _load(lang).get("relations") or {}
    missing = [pid for pid in RELATIONS if not rels.get(pid)]
    assert not missing, f"{lang}: no templates for {missing}"
    unknown = sorted(set(rels) - set(RELATIONS))
    assert not unknown, f"{lang}: unknown relations {unknown}"
    for pid, templates in rels.items():
        assert isinstance(templates, list), (lang, pid)
        assert len(templates) == len(set(templates)), f"{lang} {pid}: duplicate templates"


@pytest.mark.parametrize(("lang", "pid", "template"), list(_all_templates()))
def test_template_shape(lang, pid, template):
    assert isinstance(template, str) and template.strip(), (lang, pid)
    assert template == template.strip(), f"{lang} {pid}: surrounding whitespace"
    assert template.count("{subject}") == 1, (lang, pid, template)
    fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    assert fields == [("subject", "", None)], (lang, pid, template)
    rendered = template.format(subject="X")
    assert "{" not in rendered and "}" not in rendered
    assert template.replace("{subject}", "X") == rendered


@pytest.mark.parametrize("lang", sorted(REQUIRED_SCRIPTS))
def test_native_script(lang):
    data = _load(lang)
    texts = [t for ts in data["relations"].values() for t in ts] + [data["answer_scaffold"]]
    for text in texts:
        for prefixes in REQUIRED_SCRIPTS[lang]:
            assert _has_script(text, prefixes), f"{lang}: {text!r} lacks {prefixes}"


@pytest.mark.parametrize(("lang", "pid", "template"), list(_all_templates()))
def test_question_punctuation(lang, pid, template):
    end = {"zh": "？", "ja": "？", "ar": "؟"}.get(lang, "?")
    assert template.endswith(end), (lang, pid, template)
    if lang == "es":
        assert template.startswith("¿"), (lang, pid, template)
    if lang == "fr":
        assert template.endswith(" ?"), (lang, pid, template)
    if lang in ("zh", "ja"):
        assert " " not in template and "?" not in template, (lang, pid, template)


def test_loader_accepts_all_files():
    loaded = load_templates(TEMPLATES_DIR, LANGS)
    assert set(loaded) == set(LANGS)
    for lang in LANGS:
        assert set(RELATIONS) <= set(loaded[lang])
