"""The offline `cldr` source: real CLDR facts, labels in all 12 default languages."""

from __future__ import annotations

import unicodedata
from collections import Counter

import pytest
from polyfact.cldr import CLDR_RELATIONS, extract_cldr, territory_continents
from polyfact.facts import facts_frame, filter_min_label_langs, make_fact_id
from polyfact.languages import DEFAULT_LANGUAGES
from polyfact.relations import RELATIONS

LANGS = list(DEFAULT_LANGUAGES)


@pytest.fixture(scope="module")
def facts():
    return extract_cldr(CLDR_RELATIONS, LANGS)


@pytest.fixture(scope="module")
def by_key(facts):
    return {(f.subject_id, f.property_id): f for f in facts}


def test_relations_are_known_wikidata_properties():
    assert set(CLDR_RELATIONS) == {"P17", "P30", "P37", "P38", "P282"}
    assert all(pid in RELATIONS for pid in CLDR_RELATIONS)


@pytest.mark.parametrize(
    ("subject", "pid", "obj"),
    [
        ("cldr:territory:FR", "P30", "cldr:region:150"),  # Europe
        ("cldr:territory:JP", "P30", "cldr:region:142"),  # Asia
        ("cldr:territory:EG", "P30", "cldr:region:002"),  # Africa
        ("cldr:territory:AU", "P30", "cldr:region:009"),  # Oceania
        ("cldr:territory:US", "P30", "cldr:region:003"),  # North America
        ("cldr:territory:MX", "P30", "cldr:region:003"),  # Central America is North America
        ("cldr:territory:BR", "P30", "cldr:region:005"),  # South America
        ("cldr:territory:JP", "P38", "cldr:currency:JPY"),
        ("cldr:territory:DE", "P38", "cldr:currency:EUR"),
        ("cldr:territory:DE", "P37", "cldr:language:de"),
        ("cldr:territory:JP", "P37", "cldr:language:ja"),
        ("cldr:city:Europe/Paris", "P17", "cldr:territory:FR"),
        ("cldr:city:Asia/Tokyo", "P17", "cldr:territory:JP"),
        ("cldr:language:ru", "P282", "cldr:script:Cyrl"),
        ("cldr:language:de", "P282", "cldr:script:Latn"),
        ("cldr:language:ar", "P282", "cldr:script:Arab"),
    ],
)
def test_real_facts(by_key, subject, pid, obj):
    f = by_key[(subject, pid)]
    assert f.object_id == obj
    assert all(f.subject_labels[lang] for lang in LANGS), f.subject_labels
    assert all(f.object_labels[lang] for lang in LANGS), f.object_labels


@pytest.mark.parametrize(
    ("subject", "pid"),
    [
        ("cldr:territory:KE", "P37"),  # sw and en: several official languages
        ("cldr:territory:PA", "P38"),  # PAB and USD: several currencies
        ("cldr:territory:AQ", "P30"),  # Antarctica is not in Oceania (CLDR "Outlying Oceania")
        ("cldr:territory:EU", "P30"),  # a grouping, not a territory
        ("cldr:language:zh", "P282"),  # Hans and Hant
        ("cldr:language:sr", "P282"),  # Cyrl and Latn
        ("cldr:city:Etc/UTC", "P17"),
    ],
)
def test_multi_valued_and_non_territories_left_out(by_key, subject, pid):
    assert (subject, pid) not in by_key


def test_labels_come_from_each_language(by_key):
    germany = by_key[("cldr:territory:DE", "P37")].subject_labels
    assert germany["en"] == "Germany"
    assert germany["fr"] == "Allemagne"
    assert germany["de"] == "Deutschland"
    assert germany["ru"] == "Германия"
    assert germany["zh"] == "德国"  # Simplified (Traditional would be 德國)
    assert germany["ja"] == "ドイツ"
    assert germany["sw"] == "Ujerumani"
    europe = by_key[("cldr:territory:FR", "P30")].object_labels
    assert europe["fr"] == "Europe" and europe["es"] == "Europa" and europe["zh"] == "欧洲"
    paris = by_key[("cldr:city:Europe/Paris", "P17")].subject_labels
    assert paris["ru"] == "Париж" and paris["zh"] == "巴黎" and paris["es"] == "París"
    cyrl = by_key[("cldr:language:ru", "P282")].object_labels
    assert cyrl["en"] == "Cyrillic" and cyrl["ru"] == "кириллица"
    yen = by_key[("cldr:territory:JP", "P38")].object_labels
    assert yen["en"] == "Japanese Yen" and yen["zh"] == "日元"


def test_enough_fully_labelled_facts(facts):
    full = filter_min_label_langs(facts_frame(facts, LANGS), LANGS, len(LANGS))
    complete = full["property_id"].value_counts().to_dict()
    assert sum(complete.values()) >= 800
    assert sum(1 for n in complete.values() if n > 0) >= 4
    for pid in ("P17", "P30", "P37", "P38"):
        assert complete[pid] >= 100, complete


def test_ids_types_and_labels_well_formed(facts):
    prefixes = {
        "P17": ("cldr:city:", "cldr:territory:"),
        "P30": ("cldr:territory:", "cldr:region:"),
        "P37": ("cldr:territory:", "cldr:language:"),
        "P38": ("cldr:territory:", "cldr:currency:"),
        "P282": ("cldr:language:", "cldr:script:"),
    }
    for f in facts:
        assert "|" not in f.subject_id and "|" not in f.object_id
        s_prefix, o_prefix = prefixes[f.property_id]
        assert f.subject_id.startswith(s_prefix) and f.object_id.startswith(o_prefix)
        assert len(f.subject_types) == 1 and f.subject_types[0].startswith("cldr:kind:")
        assert len(f.object_types) == 1 and f.object_types[0].startswith("cldr:kind:")
        assert set(f.subject_labels) == set(LANGS) == set(f.object_labels)
        for label in [*f.subject_labels.values(), *f.object_labels.values()]:
            assert label is None or (label == label.strip() and label == unicodedata.normalize("NFC", label))
    kinds = {(f.property_id, f.subject_types[0], f.object_types[0]) for f in facts}
    assert ("P30", "cldr:kind:country", "cldr:kind:continent") in kinds
    assert ("P17", "cldr:kind:city", "cldr:kind:country") in kinds


def test_one_object_per_subject_and_sorted(facts):
    counts = Counter((f.subject_id, f.property_id) for f in facts)
    assert max(counts.values()) == 1
    ids = [make_fact_id(f.subject_id, f.property_id, f.object_id) for f in facts]
    assert ids == sorted(ids)
    df = facts_frame(facts, LANGS)  # no duplicate fact ids
    assert len(df) == len(facts)


def test_continent_table_covers_every_continent_once():
    cont = territory_continents()
    assert set(cont.values()) == {"002", "003", "005", "009", "142", "150"}
    assert cont["RU"] == "150" and cont["TR"] == "142" and cont["NZ"] == "009"
    assert not {"AQ", "EU", "UN", "EZ", "QO", "ZZ"} & set(cont)
    assert all(len(code) == 2 and code.isupper() for code in cont)


def test_deterministic(facts):
    again = extract_cldr(CLDR_RELATIONS, LANGS)
    assert again == facts


def test_subset_of_relations_and_languages():
    out = extract_cldr(["P38"], ["fr", "zh"])
    assert out and {f.property_id for f in out} == {"P38"}
    jp = next(f for f in out if f.subject_id == "cldr:territory:JP")
    assert dict(jp.subject_labels) == {"fr": "Japon", "zh": "日本"}


def test_unknown_relation_is_an_error():
    with pytest.raises(ValueError, match=r"P69.*supported: P17, P30, P37, P38, P282"):
        extract_cldr(["P30", "P69"], LANGS)


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="xx-notalang"):
        extract_cldr(["P30"], ["en", "xx-notalang"])
