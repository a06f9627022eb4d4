"""Text matching used by the quality filters: normalisation and mention tests per script."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from polyfact.languages import LANGUAGES


def normalize(text: str) -> str:
    """NFC + casefold + collapsed whitespace: the identity used for label comparisons."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


@lru_cache(maxsize=65536)
def _word_pattern(needle: str) -> re.Pattern[str]:
    # \w-boundaries rather than \b so labels that start/end with punctuation still match.
    return re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)")


def mentions(text: str, label: str, lang: str) -> bool:
    """Does `text` mention `label`? Whole words, except CJK (no word boundaries): substring."""
    needle, hay = normalize(label), normalize(text)
    if not needle:
        return False
    if LANGUAGES[lang].cjk:
        return needle in hay
    return _word_pattern(needle).search(hay) is not None
