"""One text normal form for labels read from benchmark files (KLAR, the released PolyFact), so
that the same label compares equal wherever it was read: NFC (a composed and a decomposed "Ä" are
one string) and, for labels, no surrounding whitespace (which files add by accident). Inner
whitespace is kept: it is part of the label."""

from __future__ import annotations

import unicodedata


def nfc(text: str) -> str:
    """NFC only, for text whose surrounding whitespace matters (a prompt template, a display name)."""
    return unicodedata.normalize("NFC", text)


def clean_text(text: str) -> str:
    """NFC, then strip: the normal form for comparing and storing labels."""
    return nfc(text).strip()
