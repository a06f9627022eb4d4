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
    # CLDR-derived (embedded default) beyond the paper's set
    "P38": "currency",
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


def relation_name(pid: str) -> str:
    """English name of a relation; raises a clear error for an unknown property id."""
    try:
        return RELATIONS[pid]
    except KeyError:
        raise ValueError(f"unknown relation {pid!r}; known: {', '.join(RELATIONS)}") from None
