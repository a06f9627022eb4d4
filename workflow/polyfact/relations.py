"""Relations (Wikidata properties) the pipeline can ask about."""

from __future__ import annotations

RELATIONS: dict[str, str] = {
    # PolyFact-Clean (paper, 14)
    "P17": "country",
    "P30": "continent",
    "P37": "official language",
    "P27": "country of citizenship",
    "P20": "place of death",
    "P69": "educated at",
    "P50": "author",
    "P57": "director",
    "P170": "creator",
    "P178": "developer",
    "P407": "language of work or name",
    "P176": "manufacturer",
    "P84": "architect",
    "P61": "discoverer or inventor",
    # The original PolyFact's other five (19 in all; DESIGN §11). P38 also comes from CLDR.
    "P38": "currency",
    "P19": "place of birth",
    "P136": "genre",
    "P495": "country of origin",
    "P108": "employer",
    # CLDR-derived (embedded default) beyond the paper's sets
    "P282": "writing system",
}
PAPER_RELATIONS: tuple[str, ...] = (
    "P17",
    "P30",
    "P37",
    "P27",
    "P20",
    "P69",
    "P50",
    "P57",
    "P170",
    "P178",
    "P407",
    "P176",
    "P84",
    "P61",
)


# The original PolyFact (the paper's runs, 19): PolyFact-Clean's 14 plus the four relations
# build_polyfact_clean.py excludes (P495, P136, P19 as most ambiguous; P108 in its v2) and
# currency, which resample_distractors.py drops as unverifiable (--drop_relations currency).
ORIGINAL_RELATIONS: tuple[str, ...] = (*PAPER_RELATIONS, "P38", "P19", "P136", "P495", "P108")


def relation_name(pid: str) -> str:
    """English name of a relation; raises a clear error for an unknown property id."""
    try:
        return RELATIONS[pid]
    except KeyError:
        raise ValueError(f"unknown relation {pid!r}; known: {', '.join(RELATIONS)}") from None
