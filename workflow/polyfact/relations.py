"""Relations (Wikidata properties) the pipeline has names and templates for.

Extraction takes any property id; building a dataset needs the relation's question templates
in every language (`polyfact.dataset.templates.check_templates`), not a registry entry.
"""

from __future__ import annotations

import re

PROPERTY_ID = re.compile(r"P[1-9][0-9]*")

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


def check_property_id(pid: str) -> str:
    """`pid` if it is a Wikidata property id (P and a number); a clear error otherwise."""
    if not PROPERTY_ID.fullmatch(pid):
        raise ValueError(f"{pid!r} is not a Wikidata property id (P and a number, e.g. P17)")
    return pid


def relation_name(pid: str) -> str:
    """English name of a relation: the registry's, or the id itself for a property outside it."""
    return RELATIONS.get(check_property_id(pid), pid)
