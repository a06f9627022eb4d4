"""The offline `cldr` source: real facts from Unicode CLDR (via Babel), labelled in every language.

Relations (same meaning as the Wikidata properties):

- P30  country -> continent        CLDR territory containment (see `_SUBREGIONS`)
- P37  country -> official language  `babel.languages.get_official_languages` (de jure)
- P38  country -> currency         `babel.numbers.get_territory_currencies` on `CURRENCY_DATE`
- P17  city -> country             exemplar cities of time zones + CLDR zone -> territory
- P282 language -> writing system  the likely script of a language (`likely_subtags`)

Every (subject, relation) keeps exactly one object; subjects with several (KE has two
official languages, PA two currencies, zh two scripts) are left out, as §5 asks.

Ids are namespaced by kind (`cldr:territory:FR`, `cldr:region:150`, `cldr:language:fr`,
`cldr:currency:EUR`, `cldr:script:Latn`, `cldr:city:Europe/Paris`). Labels come from the
CLDR locale of each language (`Locale.parse(lang)`; `zh` is Simplified), NFC-normalised;
a label CLDR lacks is None.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from functools import cache

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import get_timezone_location
from babel.languages import get_official_languages
from babel.numbers import get_territory_currencies

from polyfact.facts import Fact, make_fact_id

CLDR_RELATIONS: tuple[str, ...] = ("P17", "P30", "P37", "P38", "P282")

# Currencies change (ZW, HR, SL...): a fixed date keeps the facts stable across runs.
CURRENCY_DATE = date(2025, 1, 1)

KIND_COUNTRY = "cldr:kind:country"
KIND_CONTINENT = "cldr:kind:continent"
KIND_LANGUAGE = "cldr:kind:language"
KIND_CURRENCY = "cldr:kind:currency"
KIND_SCRIPT = "cldr:kind:script"
KIND_CITY = "cldr:kind:city"

# CLDR territory containment (common/supplemental/supplementalData.xml, CLDR 49, the
# version Babel 2.19 ships). Babel does not ship this table, so its regular (non-grouping,
# non-deprecated) part is copied here: subregion -> (continent, member territories).
# Continents follow the 6-continent reading of CLDR/UN M49: the Americas (019) split into
# North America (003 = 021 Northern America + 013 Central America + 029 Caribbean) and
# South America (005). "Outlying Oceania" (QO: AQ AC CP DG TA) is left out: Antarctica and
# a few remote islands are not in Oceania in any ordinary sense.
AFRICA, ASIA, EUROPE, OCEANIA, NORTH_AMERICA, SOUTH_AMERICA = "002", "142", "150", "009", "003", "005"
CONTINENTS: tuple[str, ...] = (AFRICA, NORTH_AMERICA, SOUTH_AMERICA, OCEANIA, ASIA, EUROPE)
_SUBREGIONS: dict[str, tuple[str, str]] = {
    # Africa
    "011": (AFRICA, "BF BJ CI CV GH GM GN GW LR ML MR NE NG SH SL SN TG"),
    "014": (AFRICA, "BI DJ ER ET IO KE KM MG MU MW MZ RE RW SC SO SS TF TZ UG YT ZM ZW"),
    "015": (AFRICA, "DZ EG EH LY MA SD TN EA IC"),
    "017": (AFRICA, "AO CD CF CG CM GA GQ ST TD"),
    "018": (AFRICA, "BW LS NA SZ ZA"),
    # Americas
    "005": (SOUTH_AMERICA, "AR BO BR BV CL CO EC FK GF GS GY PE PY SR UY VE"),
    "013": (NORTH_AMERICA, "BZ CR GT HN MX NI PA SV"),
    "021": (NORTH_AMERICA, "BM CA GL PM US"),
    "029": (
        NORTH_AMERICA,
        "AG AI AW BB BL BQ BS CU CW DM DO GD GP HT JM KN KY LC MF MQ MS PR SX TC TT VC VG VI",
    ),
    # Asia
    "030": (ASIA, "CN HK JP KP KR MN MO TW"),
    "034": (ASIA, "AF BD BT IN IR LK MV NP PK"),
    "035": (ASIA, "BN ID KH LA MM MY PH SG TH TL VN"),
    "143": (ASIA, "TM TJ KG KZ UZ"),
    "145": (ASIA, "AE AM AZ BH CY GE IL IQ JO KW LB OM PS QA SA SY TR YE"),
    # Europe
    "039": (EUROPE, "AD AL BA ES GI GR HR IT ME MK MT RS PT SI SM VA XK"),
    "151": (EUROPE, "BG BY CZ HU MD PL RO RU SK UA"),
    "154": (EUROPE, "GG IM JE AX DK EE FI FO GB IE IS LT LV NO SE SJ CQ"),
    "155": (EUROPE, "AT BE CH DE FR LI LU MC NL"),
    # Oceania
    "053": (OCEANIA, "AU CC CX HM NF NZ"),
    "054": (OCEANIA, "FJ NC PG SB VU"),
    "057": (OCEANIA, "FM GU KI MH MP NR PW UM"),
    "061": (OCEANIA, "AS CK NU PF PN TK TO TV WF WS"),
}


def territory_continents() -> dict[str, str]:
    """Territory code -> continent code, from the CLDR containment above (each exactly once)."""
    out: dict[str, str] = {}
    for subregion, (continent, members) in _SUBREGIONS.items():
        for code in members.split():
            if code in out:  # pragma: no cover - guards the embedded table
                raise AssertionError(f"territory {code} in two subregions (…, {subregion})")
            out[code] = continent
    return out


def territory_id(code: str) -> str:
    return f"cldr:territory:{code}"


def region_id(code: str) -> str:
    return f"cldr:region:{code}"


def language_id(code: str) -> str:
    return f"cldr:language:{code}"


def currency_id(code: str) -> str:
    return f"cldr:currency:{code}"


def script_id(code: str) -> str:
    return f"cldr:script:{code}"


def city_id(zone: str) -> str:
    return f"cldr:city:{zone}"


# ---------------------------------------------------------------------------------------
# Labels


@cache
def _locale(lang: str) -> Locale:
    try:
        return Locale.parse(lang)
    except (UnknownLocaleError, ValueError) as e:
        raise ValueError(f"cldr: no CLDR locale for language {lang!r} ({e})") from None


@cache
def _likely_script(lang: str) -> str | None:
    """The script CLDR thinks `lang` is written in (`ru` -> `Cyrl`), or None."""
    full = get_global("likely_subtags").get(lang)
    if not full:
        return None
    parts = full.split("_")
    return parts[1] if len(parts) > 1 and len(parts[1]) == 4 else None


def _clean(text: str | None) -> str | None:
    if not text:
        return None
    text = unicodedata.normalize("NFC", text.strip())
    return text or None


def _city_label(zone: str, lang: str) -> str | None:
    """Exemplar city of a time zone in `lang`.

    CLDR omits exemplar cities that equal the name derived from the zone id
    (`America/New_York` -> "New York"); Babel then derives it. That derived name is the
    CLDR answer for Latin-script languages, but for others (ru, zh, ar, ...) it would be a
    Latin fallback, not a native label, so it counts as missing there.
    """
    loc = _locale(lang)
    city = loc.time_zones.get(zone, {}).get("city")
    if not city:
        metazone = get_global("meta_zones").get(zone)
        city = loc.meta_zones.get(metazone, {}).get("city") if metazone else None
    if not city and _likely_script(loc.language) == "Latn":
        city = get_timezone_location(zone, locale=loc, return_city=True)
    return _clean(city)


def _labels(languages: Sequence[str], lookup: Callable[[str], str | None]) -> dict[str, str | None]:
    return {lang: lookup(lang) for lang in languages}


def _territory_labels(code: str, languages: Sequence[str]) -> dict[str, str | None]:
    return _labels(languages, lambda lang: _clean(_locale(lang).territories.get(code)))


def _language_labels(code: str, languages: Sequence[str]) -> dict[str, str | None]:
    return _labels(languages, lambda lang: _clean(_locale(lang).languages.get(code)))


def _currency_labels(code: str, languages: Sequence[str]) -> dict[str, str | None]:
    return _labels(languages, lambda lang: _clean(_locale(lang).currencies.get(code)))


def _script_labels(code: str, languages: Sequence[str]) -> dict[str, str | None]:
    return _labels(languages, lambda lang: _clean(_locale(lang).scripts.get(code)))


def _city_labels(zone: str, languages: Sequence[str]) -> dict[str, str | None]:
    return _labels(languages, lambda lang: _city_label(zone, lang))


# ---------------------------------------------------------------------------------------
# Relations: each yields (subject code, object code) pairs, one object per subject.


def _countries() -> list[str]:
    """The territories facts are about: every one CLDR places in a continent, sorted."""
    return sorted(territory_continents())


def _pairs_p30() -> list[tuple[str, str]]:
    cont = territory_continents()
    return [(t, cont[t]) for t in _countries()]


def _pairs_p37() -> list[tuple[str, str]]:
    out = []
    for t in _countries():
        official = get_official_languages(t)  # de jure, official only
        # ME's only official language is given as sr_Latn (Montenegrin in Wikidata): a
        # script-qualified code is not a plain language, so such facts are left out.
        if len(official) == 1 and "_" not in official[0]:
            out.append((t, official[0]))
    return out


def _pairs_p38() -> list[tuple[str, str]]:
    out = []
    for t in _countries():
        cur = get_territory_currencies(t, start_date=CURRENCY_DATE, end_date=CURRENCY_DATE, tender=True)
        if len(cur) == 1:
            out.append((t, cur[0]))
    return out


def _pairs_p17() -> list[tuple[str, str]]:
    countries = set(_countries())
    zones = get_global("zone_territories")
    return sorted(
        (zone, t) for zone, t in zones.items() if "/" in zone and not zone.startswith("Etc/") and t in countries
    )


def _pairs_p282() -> list[tuple[str, str]]:
    """Language -> its likely script, for languages CLDR writes in one script everywhere.

    `likely_subtags` also maps language+region (`sr_ME` -> `sr_Latn_ME`, `zh_TW` ->
    `zh_Hant_TW`, `pa_PK` -> `pa_Arab_PK`); a language whose regional entries name another
    script is written in several and is left out (exactly one object per subject).
    """
    likely = get_global("likely_subtags")
    aliases = get_global("language_aliases")
    scripts: dict[str, set[str]] = {}
    for key, full in likely.items():
        parts = key.split("_")
        if len(parts) == 1 or (len(parts) == 2 and (len(parts[1]) == 2 or parts[1].isdigit())):
            value = full.split("_")
            if len(value) > 1 and len(value[1]) == 4:
                scripts.setdefault(parts[0], set()).add(value[1])
    named = _locale("en").languages
    out = []
    for lang in sorted(scripts):
        if lang in aliases or lang not in named or lang == "und" or lang not in likely:
            continue
        if len(scripts[lang]) == 1:
            out.append((lang, next(iter(scripts[lang]))))
    return out


_Labeller = Callable[[str, Sequence[str]], dict[str, str | None]]
_Role = tuple[Callable[[str], str], _Labeller, str]
_COUNTRY: _Role = (territory_id, _territory_labels, KIND_COUNTRY)
_CONTINENT: _Role = (region_id, _territory_labels, KIND_CONTINENT)
_LANGUAGE: _Role = (language_id, _language_labels, KIND_LANGUAGE)
_CURRENCY: _Role = (currency_id, _currency_labels, KIND_CURRENCY)
_SCRIPT: _Role = (script_id, _script_labels, KIND_SCRIPT)
_CITY: _Role = (city_id, _city_labels, KIND_CITY)
# pid: (pairs, subject role, object role); a role is (id maker, labeller, kind)
_RELATIONS: dict[str, tuple[Callable[[], list[tuple[str, str]]], _Role, _Role]] = {
    "P17": (_pairs_p17, _CITY, _COUNTRY),
    "P30": (_pairs_p30, _COUNTRY, _CONTINENT),
    "P37": (_pairs_p37, _COUNTRY, _LANGUAGE),
    "P38": (_pairs_p38, _COUNTRY, _CURRENCY),
    "P282": (_pairs_p282, _LANGUAGE, _SCRIPT),
}


def extract_cldr(relations: Sequence[str], languages: Sequence[str]) -> list[Fact]:
    """Real facts for `relations` (Wikidata property ids) labelled in `languages`, from CLDR.

    Deterministic: sorted by fact_id. Raises ValueError for a relation this source does
    not support or a language CLDR has no locale for.
    """
    unknown = [r for r in relations if r not in _RELATIONS]
    if unknown:
        raise ValueError(
            f"cldr source does not support relation(s) {', '.join(map(repr, unknown))}; "
            f"supported: {', '.join(CLDR_RELATIONS)}"
        )
    languages = list(dict.fromkeys(languages))
    for lang in languages:
        _locale(lang)  # fail early on an unknown language
    facts: list[Fact] = []
    label_cache: dict[tuple[str, str], Mapping[str, str | None]] = {}

    def labels(kind: str, code: str, fn: _Labeller) -> Mapping[str, str | None]:
        key = (kind, code)
        if key not in label_cache:
            label_cache[key] = fn(code, languages)
        return label_cache[key]

    for pid in dict.fromkeys(relations):
        pairs, (s_id, s_lab, s_kind), (o_id, o_lab, o_kind) = _RELATIONS[pid]
        for subj, obj in pairs():
            facts.append(
                Fact(
                    subject_id=s_id(subj),
                    property_id=pid,
                    object_id=o_id(obj),
                    subject_labels=dict(labels(s_kind, subj, s_lab)),
                    object_labels=dict(labels(o_kind, obj, o_lab)),
                    subject_types=(s_kind,),
                    object_types=(o_kind,),
                )
            )
    facts.sort(key=lambda f: make_fact_id(f.subject_id, f.property_id, f.object_id))
    return facts
