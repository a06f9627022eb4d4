"""Convert acquired external data into the forms the pipeline's rules read (pure functions).

Each source arrives in its publisher's layout; these functions turn one record or file of it
into ours, so the consumers (`load_parallel_corpus`, `load_klar`, `load_mcq`) stay unchanged:
- TED2025 multi-way (`multi_way.jsonl`: `para_data {ted_code: text}`) and FLORES+ (one Hub
  config per language, rows joined by `id`) become parallel JSONL rows `{lang: text}`;
- KLAR-CLC files gain the `relation_id` (Wikidata property) that `load_klar` keys relations by;
- Hub MCQ sets (Global-MMLU, the released PolyFact) are kept row for row, one JSONL per split
  and language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from polyfact.errors import PolyfactError

# FLORES+ configs of our languages (Mandarin in Simplified script: there is no zho_Hans).
FLORES_CODES = {
    "en": "eng_Latn",
    "de": "deu_Latn",
    "fr": "fra_Latn",
    "es": "spa_Latn",
    "pt": "por_Latn",
    "ru": "rus_Cyrl",
    "zh": "cmn_Hans",
    "ja": "jpn_Jpan",
    "ar": "arb_Arab",
    "bn": "ben_Beng",
    "id": "ind_Latn",
    "sw": "swh_Latn",
}

# Hub MCQ sets with one config per language: config key -> data/mcq/{name}.
HUB_MCQ_SOURCES = {
    "global_mmlu": "global-mmlu",
    "global_mmlu_lite": "global-mmlu-lite",
    "polyfact": "polyfact",
    "polyfact_clean": "polyfact-clean",
}

# KLAR-CLC names its relations; load_klar keys them by Wikidata property.
KLAR_RELATIONS = {
    "applies_to_jurisdiction": "P1001",
    "capital": "P36",
    "capital_of": "P1376",
    "continent": "P30",
    "country_of_citizenship": "P27",
    "developer": "P178",
    "field_of_work": "P101",
    "headquarters_location": "P159",
    "instrument": "P1303",
    "language_of_work_or_name": "P407",
    "languages_spoken": "P1412",
    "location_of_formation": "P740",
    "manufacturer": "P176",
    "native_language": "P103",
    "occupation": "P106",
    "official_language": "P37",
    "owned_by": "P127",
    "place_of_birth": "P19",
    "place_of_death": "P20",
    "religion": "P140",
}


def ted_row(record: Mapping[str, Any], languages: Sequence[str], codes: Mapping[str, str]) -> dict[str, Any] | None:
    """One TED2025 multi-way segment as `{talk_id, lang: text}` over `languages` (our codes;
    `codes` maps them to TED's, e.g. zh → zh-cn); None when fewer than two have text."""
    para = record.get("para_data")
    if not isinstance(para, Mapping):
        raise ValueError("no para_data object")
    texts = {}
    for lang in languages:
        text = para.get(codes.get(lang, lang))
        if isinstance(text, str) and text.strip():
            texts[lang] = text.strip()
    if len(texts) < 2:
        return None
    return {"talk_id": str(record.get("talk_id", "")), **texts}


def join_by_id(per_language: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """FLORES+ rows of each language (`id`, `text`) joined into one parallel row per sentence,
    in id order, as `{flores_id, lang: text}` (not `id`: that is Indonesian's column); a sentence
    missing in some language keeps the others."""
    joined: dict[int, dict[str, Any]] = {}
    for lang, rows in per_language.items():
        for row in rows:
            try:
                key = int(row["id"])
                text = str(row["text"]).strip()
            except (KeyError, TypeError, ValueError) as err:
                raise PolyfactError(f"FLORES+ {lang}: a row without an integer id and text ({err})") from None
            joined.setdefault(key, {"flores_id": key})[lang] = text
    return [joined[key] for key in sorted(joined)]


def klar_file(data: Mapping[str, Any], relation: str, language: str) -> dict[str, Any]:
    """A KLAR-CLC relation file with its `relation_id` (the Wikidata property of the relation's
    name) and English labels on English samples (KLAR leaves subject_en/object_en out there).
    load_klar reads the published form as well, deriving both the same way, and fills other
    languages' missing English labels from en/; everything else is kept as published (the
    candidate string included: only load_klar splits it, on the release's ", ")."""
    if relation not in KLAR_RELATIONS:
        raise PolyfactError(
            f"KLAR relation {relation!r} has no Wikidata property here; known: {sorted(KLAR_RELATIONS)}"
        )
    for key in ("prompt_templates", "samples"):
        if key not in data:
            raise PolyfactError(f"KLAR {language}/{relation}.json: no {key!r}")
    samples = []
    for sample in data["samples"]:
        sample = dict(sample)
        if language == "en":
            sample.setdefault("subject_en", sample.get("subject"))
            sample.setdefault("object_en", sample.get("object"))
        samples.append(sample)
    return {
        "name": data.get("name", relation),
        "relation_id": data.get("relation_id") or KLAR_RELATIONS[relation],
        "prompt_templates": list(data["prompt_templates"]),
        "samples": samples,
    }


# Defaults of each `acquire` source's keys, filled in by `with_defaults` when the workflow is
# parsed (the config schema cannot: a source may be null).
SOURCE_DEFAULTS: dict[str, dict[str, Any]] = {
    "wikidata_dump": {"checksum": None, "checksums_url": None, "local": None},
    # TED's Chinese is zh-cn; Portuguese is read as pt-br, as the authors did (ted_loader.py).
    "ted2025": {"url": None, "checksum": None, "local": None, "lang_codes": {"zh": "zh-cn", "pt": "pt-br"}},
    "flores": {"hub": "openlanguagedata/flores_plus", "local": None, "split": "devtest", "lang_codes": {}},
    "klar": {
        "base_url": None,
        "local": None,
        "languages": [
            "ar",
            "ca",
            "el",
            "en",
            "es",
            "fa",
            "fr",
            "he",
            "hu",
            "ja",
            "ko",
            "nl",
            "ru",
            "tr",
            "uk",
            "vi",
            "zh",
        ],
        "relations": sorted(KLAR_RELATIONS),
    },
    **{key: {"hub": None, "local": None, "splits": ["test"], "languages": None} for key in HUB_MCQ_SOURCES},
    "encoder": {"hub": None, "revision": "main", "local": None},
}


def with_defaults(acquire: Mapping[str, Any]) -> dict[str, Any]:
    """The `acquire` section with every configured source's unset keys at their defaults, and
    a clear error for a source that names neither a download nor a local copy."""
    out = dict(acquire)
    for key, defaults in SOURCE_DEFAULTS.items():
        spec = acquire.get(key)
        if spec is None:
            continue
        spec = {**defaults, **spec}
        origin = {"wikidata_dump": "url", "ted2025": "url", "klar": "base_url"}.get(key, "hub")
        if not spec.get(origin) and not spec.get("local"):
            raise PolyfactError(f"config acquire.{key}: set `{origin}` or `local`")
        out[key] = spec
    return out
