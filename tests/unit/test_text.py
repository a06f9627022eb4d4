"""The shared text normal form: NFC everywhere, surrounding whitespace stripped only from labels."""

from __future__ import annotations

import unicodedata

from polyfact.text import clean_text, nfc


def test_clean_text_is_nfc_and_stripped_with_inner_spaces_kept() -> None:
    decomposed = unicodedata.normalize("NFD", "  Ägypten  und\tKöln \n")
    assert clean_text(decomposed) == "Ägypten  und\tKöln"
    assert unicodedata.is_normalized("NFC", clean_text(decomposed))
    assert clean_text(" \u3000东京\u3000") == "东京"  # ideographic spaces are whitespace too
    assert clean_text("   ") == ""


def test_nfc_keeps_surrounding_whitespace() -> None:
    template = nfc(unicodedata.normalize("NFD", " <subject> liegt in <mask> (Köln) "))
    assert template == " <subject> liegt in <mask> (Köln) " and unicodedata.is_normalized("NFC", template)
