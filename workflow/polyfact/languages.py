"""Languages the pipeline knows: scripts, resource groups and Wikidata label fallbacks."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    scripts: frozenset[str]  # Unicode script families a native label may use
    resource: str  # "high" or "low" (paper grouping)
    cjk: bool = False  # no word boundaries: substring matching for leakage


_LATIN = frozenset({"LATIN"})
LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in [
        Language("en", "English", _LATIN, "high"),
        Language("de", "German", _LATIN, "high"),
        Language("fr", "French", _LATIN, "high"),
        Language("es", "Spanish", _LATIN, "high"),
        Language("pt", "Portuguese", _LATIN, "high"),
        Language("ru", "Russian", frozenset({"CYRILLIC"}), "high"),
        Language("zh", "Chinese", frozenset({"CJK"}), "high", cjk=True),
        Language("ja", "Japanese", frozenset({"CJK", "HIRAGANA", "KATAKANA"}), "high", cjk=True),
        Language("ar", "Arabic", frozenset({"ARABIC"}), "high"),
        Language("bn", "Bengali", frozenset({"BENGALI"}), "low"),
        Language("id", "Indonesian", _LATIN, "low"),
        Language("sw", "Swahili", _LATIN, "low"),
    ]
}
DEFAULT_LANGUAGES: tuple[str, ...] = tuple(LANGUAGES)

# Wikidata label keys tried in order. Chinese must be Simplified: zh-hans first, then the
# Simplified regional variants, then the generic and Traditional variants, which
# `label_for` converts to Simplified. `mul` holds the language-independent default name.
_ZH_SIMPLIFIED = ("zh-hans", "zh-cn", "zh-sg", "zh-my")
_ZH_CONVERT = ("zh", "zh-hant", "zh-tw", "zh-hk", "zh-mo")
LABEL_FALLBACKS: dict[str, tuple[str, ...]] = {
    "zh": _ZH_SIMPLIFIED + _ZH_CONVERT,
    "pt": ("pt", "pt-br"),
    "en": ("en", "en-gb", "en-us"),
}


def label_keys(lang: str) -> tuple[str, ...]:
    """Wikidata label language keys to try for `lang`, best first (then `mul`)."""
    return LABEL_FALLBACKS.get(lang, (lang,)) + ("mul",)


def to_simplified(text: str) -> str:
    """Convert Chinese text to Simplified with MediaWiki's conversion tables."""
    import zhconv  # imported lazily: only Chinese labels need it

    return zhconv.convert(text, "zh-hans")


def label_for(labels: dict[str, str], lang: str) -> str | None:
    """Pick the label of `lang` from a {wikidata-language: text} mapping, with fallbacks."""
    for key in label_keys(lang):
        text = labels.get(key)
        if text:
            if lang == "zh" and key in _ZH_CONVERT:
                text = to_simplified(text)
            return unicodedata.normalize("NFC", text.strip())
    return None


@lru_cache(maxsize=65536)
def char_script(ch: str) -> str | None:
    """Script family of a letter ('LATIN', 'CJK', ...); None for non-letters (digits, punctuation)."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    name = unicodedata.name(ch, "").removeprefix("FULLWIDTH ").removeprefix("HALFWIDTH ")
    if not name or name.startswith("MODIFIER LETTER"):  # ʼ, ˈ …: script-neutral marks
        return None
    if name.startswith("CJK") or "IDEOGRAPH" in name:
        return "CJK"
    if name.startswith("KATAKANA-HIRAGANA"):  # ー, shared by both kana
        return "KATAKANA"
    return name.split(" ", 1)[0]


def foreign_letters(text: str, lang: str) -> list[str]:
    """Letters in `text` whose script is not native to `lang` (e.g. Latin inside Bengali)."""
    allowed = LANGUAGES[lang].scripts
    return [ch for ch in text if (s := char_script(ch)) is not None and s not in allowed]
