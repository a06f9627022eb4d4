"""KLAR-format benchmark (§8): a directory `{lang}/{relation}.json` of cloze facts aligned across
languages by sample `index`. Two measurements per fact and language on the same 3-shot context:
(a) greedy generation judged by a lenient match against the gold, and (b) log-probability scores
of the listed candidates, ranked by position-aligned entity ids so RankC compares languages.

The loader reads the KLAR-CLC release as published (no `relation_id`, English samples without
`subject_en`/`object_en`, some other files without them too) as well as the acquired form. Every
evaluated fact is labelled against the training facts (contaminated / clean-shared / non-shared,
the authors' breakdown), so one run yields the decontaminated and the undecontaminated score.

The science (parsing, alignment, prompts, matching, contamination) lives in small pure functions;
the model is touched only by `generate_answers` and, through `polyfact.evaluate.scoring`, by
candidate scoring.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.acquire.sources import KLAR_RELATIONS
from polyfact.errors import PolyfactError
from polyfact.evaluate.scoring import NORMALISATIONS, normalise, score_continuations
from polyfact.evaluate.summary import accuracy_by_language
from polyfact.models.padding import length_batches, pad_batch, pad_id
from polyfact.text import clean_text, nfc

SUBJECT = "<subject>"
MASK = "<mask>"
SAMPLE_FIELDS = ("subject", "object", "object_candidates", "index")
ENGLISH_FIELDS = ("subject_en", "object_en")
FILE_KEYS = ("name", "prompt_templates", "samples")
# The release's list separator: an ASCII comma and a space, in every language's files (checked in
# en ar fa he ja zh ko es ca). Commas of other scripts belong to names ("رالي، كارولاينا الشمالية",
# "گوادالاخارا، خالیسکو"), as do brackets ("Lincoln (Anglaterra)").
CANDIDATE_SEPARATOR = ", "
DEMONSTRATION_MODES = ("shared", "per_language")
CONTAMINATION_MATCHES = ("pair", "triple")
# Contamination labels of a fact; `unknown`: no English labels in any language to compare.
CONTAMINATION_LABELS = ("contaminated", "clean_shared", "non_shared", "unknown")


@dataclass(frozen=True)
class KlarSample:
    """One fact in one language. `index` is kept as text so `3` and `"3"` name the same fact.
    `subject_en`/`object_en` are None when neither the file nor the English file gives them."""

    index: str
    subject: str
    object: str
    candidates: tuple[str, ...]
    gold_position: int  # position of `object` in `candidates` (first occurrence)
    subject_en: str | None
    object_en: str | None

    @property
    def english(self) -> tuple[str, str] | None:
        if self.subject_en is None or self.object_en is None:
            return None
        return (self.subject_en, self.object_en)


@dataclass(frozen=True)
class KlarRelation:
    """One relation file of one language."""

    path: Path
    language: str
    name: str
    relation_id: str
    templates: tuple[str, ...]
    samples: tuple[KlarSample, ...]

    def by_index(self) -> dict[str, KlarSample]:
        return {s.index: s for s in self.samples}


@dataclass(frozen=True)
class Klar:
    """A loaded benchmark: relation_id -> language -> relation file (languages lacking it are
    absent), and the prompt template every language uses (an index into `prompt_templates`)."""

    root: Path
    languages: tuple[str, ...]
    relations: Mapping[str, Mapping[str, KlarRelation]]
    template_index: int = 0


@dataclass(frozen=True)
class KlarFact:
    """A fact present in every evaluated language; `entity_ids` is None when the candidate lists
    are not parallel across languages (then no RankC ranking is possible)."""

    fact_id: str
    relation_id: str
    index: str
    samples: Mapping[str, KlarSample]  # language -> sample
    entity_ids: tuple[str, ...] | None
    demonstrations: Mapping[str, tuple[str, ...]]  # language -> demonstration indices, in prompt order


@dataclass(frozen=True)
class TrainingFacts:
    """What the model was trained on, for labelling KLAR facts: the match keys of the training
    records (see `contamination_key`) and the Wikidata properties they cover."""

    match: str
    keys: frozenset[tuple[str, ...]]
    relations: frozenset[str]


# --- parsing ---------------------------------------------------------------------------------


def parse_candidates(raw: str | Sequence[str]) -> tuple[str, ...]:
    """Candidate labels from the release's `", "`-separated string, NFC, stripped, empties
    dropped; other scripts' commas stay inside names. A list of strings is accepted as is."""
    parts = nfc(raw).split(CANDIDATE_SEPARATOR) if isinstance(raw, str) else list(raw)
    return tuple(c for c in (clean_text(str(p)) for p in parts) if c)


def relation_id_of(stem: str, name: str) -> str:
    """A file's relation id when it names none (the release never does): the Wikidata property
    of the KLAR relation (by file name, then by `name`), else the file name itself."""
    return KLAR_RELATIONS.get(stem) or KLAR_RELATIONS.get(name) or stem


def index_key(index: str) -> tuple[int, int, str]:
    """Sort numeric indices numerically (so 2 < 10), others after them as text."""
    return (0, int(index), "") if index.lstrip("-").isdigit() else (1, 0, index)


def _text(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolyfactError(f"{where}: field {field!r} must be a non-empty string, got {value!r}")
    return clean_text(value)


def _templates(value: Any, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise PolyfactError(f"{path}: 'prompt_templates' must be a non-empty list of strings, got {value!r}")
    out = []
    for number, template in enumerate(value, start=1):
        if not isinstance(template, str):
            raise PolyfactError(f"{path}: prompt template {number} is not a string: {template!r}")
        template = nfc(template)
        for marker in (SUBJECT, MASK):
            if marker not in template:
                raise PolyfactError(f"{path}: prompt template {number} lacks {marker}: {template!r}")
        out.append(template)
    return tuple(out)


def check_template(relation: KlarRelation, template_index: int) -> str:
    """The template a run uses: it must exist and name the subject before <mask>, since the
    cloze is cut at <mask>."""
    if not 0 <= template_index < len(relation.templates):
        raise PolyfactError(
            f"{relation.path}: template index {template_index} is out of range "
            f"(the file has {len(relation.templates)} prompt templates)"
        )
    template = relation.templates[template_index]
    if template.index(SUBJECT) > template.index(MASK):
        raise PolyfactError(
            f"{relation.path}: prompt template {template_index + 1} (index {template_index}) has {MASK} "
            f"before {SUBJECT}, so a cloze cut at {MASK} would not name the subject: {template!r}"
        )
    return template


def _sample(raw: Any, position: int, path: Path, language: str) -> KlarSample:
    if not isinstance(raw, dict):
        raise PolyfactError(f"{path}: samples[{position}] is not an object: {raw!r}")
    index = raw.get("index")
    where = f"{path}: samples[{position}] (index {index!r})"
    missing = [f for f in SAMPLE_FIELDS if f not in raw]
    if missing:
        raise PolyfactError(f"{where}: missing field(s) {', '.join(missing)}")
    if isinstance(index, bool) or not isinstance(index, int | str) or (isinstance(index, str) and not index.strip()):
        raise PolyfactError(f"{where}: 'index' must be an integer or a non-empty string")
    subject = _text(raw["subject"], where, "subject")
    gold = _text(raw["object"], where, "object")
    candidates_raw = raw["object_candidates"]
    if not isinstance(candidates_raw, str) and not (
        isinstance(candidates_raw, list) and all(isinstance(c, str) for c in candidates_raw)
    ):
        raise PolyfactError(f"{where}: 'object_candidates' must be a comma-separated string, got {candidates_raw!r}")
    candidates = parse_candidates(candidates_raw)
    if gold not in candidates:
        raise PolyfactError(f"{where}: gold object {gold!r} is not among the candidates {list(candidates)}")
    present = [f for f in ENGLISH_FIELDS if f in raw]
    if len(present) == 1:
        raise PolyfactError(f"{where}: has {present[0]!r} but not its pair (give both English labels or neither)")
    if present:
        english: tuple[str | None, str | None] = (
            _text(raw["subject_en"], where, "subject_en"),
            _text(raw["object_en"], where, "object_en"),
        )
    elif language == "en":
        english = (subject, gold)  # English samples are English already
    else:
        english = (None, None)  # filled from the English file by load_klar where it can be
    return KlarSample(str(index).strip(), subject, gold, candidates, candidates.index(gold), *english)


def parse_relation_file(path: Path, language: str) -> KlarRelation:
    """Read and validate one `{lang}/{relation}.json`; every error names the file and the item.
    `relation_id` is optional (the release has none): see `relation_id_of`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PolyfactError(f"{path}: invalid JSON: {e}") from e
    except UnicodeDecodeError as e:
        raise PolyfactError(f"{path}: not UTF-8 text: {e}") from e
    if not isinstance(data, dict):
        raise PolyfactError(f"{path}: expected a JSON object with keys {list(FILE_KEYS)}, got {type(data).__name__}")
    missing = [k for k in FILE_KEYS if k not in data]
    if missing:
        raise PolyfactError(f"{path}: missing key(s) {', '.join(missing)}")
    name = data["name"]
    if not isinstance(name, str):
        raise PolyfactError(f"{path}: 'name' must be a string, got {name!r}")
    if "relation_id" in data:
        relation_id = _text(data["relation_id"], str(path), "relation_id")
    else:
        relation_id = relation_id_of(path.stem, clean_text(name))
    templates = _templates(data["prompt_templates"], path)
    if not isinstance(data["samples"], list):
        raise PolyfactError(f"{path}: 'samples' must be a list, got {type(data['samples']).__name__}")
    samples: list[KlarSample] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(data["samples"]):
        sample = _sample(raw, position, path, language)
        if sample.index in seen:
            raise PolyfactError(
                f"{path}: samples[{position}]: duplicate index {sample.index!r} (also samples[{seen[sample.index]}])"
            )
        seen[sample.index] = position
        samples.append(sample)
    return KlarRelation(path, language, nfc(name), relation_id, templates, tuple(samples))


def discover_languages(klar_dir: str | Path) -> tuple[str, ...]:
    """The language directories present (those holding `*.json`), sorted: what `languages: null`
    evaluates, decided when the job runs since the directory is acquired inside the workflow."""
    root = Path(klar_dir)
    if not root.is_dir():
        raise PolyfactError(f"{root}: no such KLAR directory")
    found = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.json"))))
    if not found:
        raise PolyfactError(f"{root}: no language directories with relation files ({{lang}}/*.json)")
    return found


def _language_files(root: Path, lang: str) -> dict[str, KlarRelation]:
    lang_dir = root / lang
    if not lang_dir.is_dir():
        available = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise PolyfactError(f"{lang_dir}: no such language directory (available: {available})")
    files = sorted(lang_dir.glob("*.json"))
    if not files:
        raise PolyfactError(f"{lang_dir}: no relation files (*.json)")
    out: dict[str, KlarRelation] = {}
    for path in files:
        rel = parse_relation_file(path, lang)
        if rel.relation_id in out:
            raise PolyfactError(f"{path}: relation_id {rel.relation_id!r} also used by {out[rel.relation_id].path}")
        out[rel.relation_id] = rel
    return out


def with_english_labels(relation: KlarRelation, english: KlarRelation | None) -> KlarRelation:
    """Samples without `subject_en`/`object_en` take them from the English file's sample of the
    same index (the English subject and object); with no such sample they stay None."""
    if english is None or all(s.english is not None for s in relation.samples):
        return relation
    by_index = english.by_index()
    samples = tuple(
        dataclasses.replace(s, subject_en=by_index[s.index].subject, object_en=by_index[s.index].object)
        if s.english is None and s.index in by_index
        else s
        for s in relation.samples
    )
    return dataclasses.replace(relation, samples=samples)


def load_klar(klar_dir: str | Path, languages: Sequence[str] | None = None, template_index: int = 0) -> Klar:
    """Load `{klar_dir}/{lang}/*.json` for the requested languages (None: every language directory
    present; any directory name is a language code). Relations are grouped by `relation_id`; a
    relation missing in some language is allowed (its facts become incomplete). English labels
    missing from a sample are taken from `en/` (read for that even when English is not
    evaluated). The template at `template_index` is checked in every file."""
    root = Path(klar_dir)
    languages = tuple(discover_languages(root) if languages is None else languages)
    if not languages:
        raise PolyfactError(f"{root}: no languages requested")
    if len(set(languages)) != len(languages):
        raise PolyfactError(f"{root}: languages listed twice: {list(languages)}")
    loaded = {lang: _language_files(root, lang) for lang in languages}
    english = loaded.get("en")
    if english is None and (root / "en").is_dir():
        english = _language_files(root, "en")
    relations: dict[str, dict[str, KlarRelation]] = {}
    for lang, files in loaded.items():
        for relation_id, rel in files.items():
            rel = with_english_labels(rel, (english or {}).get(relation_id))
            check_template(rel, template_index)
            relations.setdefault(relation_id, {})[lang] = rel
    return Klar(root, languages, relations, template_index)


# --- facts, alignment ------------------------------------------------------------------------


def align_candidates(samples: Mapping[str, KlarSample]) -> tuple[str, ...] | None:
    """Entity ids `c0..c{N-1}` by position when the candidate lists are parallel: same length in
    every language and the gold at the same position. Otherwise None (no cross-language ranking)."""
    lengths = {len(s.candidates) for s in samples.values()}
    golds = {s.gold_position for s in samples.values()}
    if len(lengths) != 1 or len(golds) != 1:
        return None
    return tuple(f"c{k}" for k in range(lengths.pop()))


def choose_demonstrations(
    pool: Sequence[str], index: str, relation_id: str, shots: int, seed: int, language: str | None = None
) -> tuple[str, ...]:
    """Demonstration indices for one fact: a seeded draw from `pool` (without the query). Seeded
    by the fact, so every language gets the same draw; with `language`, by the fact and the
    language, so each language draws its own (the paper's protocol)."""
    others = sorted((i for i in pool if i != index), key=index_key)
    key = f"{seed}:{relation_id}:{index}" + ("" if language is None else f":{language}")
    rng = random.Random(key)
    return tuple(rng.sample(others, min(max(shots, 0), len(others))))


def select_facts(
    klar: Klar,
    languages: Sequence[str],
    *,
    shots: int = 3,
    seed: int = 1234,
    demonstrations: str = "shared",
) -> tuple[list[KlarFact], dict[str, Any]]:
    """Facts present in all `languages`, with their aligned entity ids and demonstrations; and
    the counts of what was dropped and why.

    `shared`: one draw per fact from the facts complete in these languages, the same indices in
    every language. `per_language`: each language draws from all samples of its own file.
    Demonstrations are context, not evaluated, so contamination never changes a prompt.
    """
    if demonstrations not in DEMONSTRATION_MODES:
        raise PolyfactError(f"unknown demonstrations mode {demonstrations!r}; choose from {DEMONSTRATION_MODES}")
    facts: list[KlarFact] = []
    per_relation: dict[str, dict[str, Any]] = {}
    for relation_id in sorted(klar.relations):
        files = klar.relations[relation_id]
        present = [lang for lang in languages if lang in files]
        by_lang = {lang: files[lang].by_index() for lang in present}
        union = set().union(*(set(v) for v in by_lang.values())) if by_lang else set()
        complete = set.intersection(*(set(v) for v in by_lang.values())) if len(present) == len(languages) else set()
        pool = sorted(complete, key=index_key)
        aligned = 0
        for index in pool:
            samples = {lang: by_lang[lang][index] for lang in languages}
            entity_ids = align_candidates(samples)
            aligned += entity_ids is not None
            if demonstrations == "shared":
                shared = choose_demonstrations(pool, index, relation_id, shots, seed)
                demos = dict.fromkeys(languages, shared)
            else:
                demos = {
                    lang: choose_demonstrations(list(by_lang[lang]), index, relation_id, shots, seed, lang)
                    for lang in languages
                }
            facts.append(KlarFact(f"{relation_id}:{index}", relation_id, index, samples, entity_ids, demos))
        per_relation[relation_id] = {
            "name": next(iter(files.values())).name,
            "languages_missing": [lang for lang in languages if lang not in files],
            "facts_total": len(union),
            "dropped_incomplete": len(union - complete),
            "facts": len(pool),
            "candidates_aligned": aligned,
            "candidates_unaligned": len(pool) - aligned,
        }
    stats = {
        "languages": list(languages),
        "relations": per_relation,
        "facts_per_relation": {r: v["facts"] for r, v in per_relation.items()},
        "facts": len(facts),
        "facts_total": sum(v["facts_total"] for v in per_relation.values()),
        "dropped_incomplete": sum(v["dropped_incomplete"] for v in per_relation.values()),
        "candidates_aligned": sum(v["candidates_aligned"] for v in per_relation.values()),
        "candidates_unaligned": sum(v["candidates_unaligned"] for v in per_relation.values()),
        "shots": shots,
        "seed": seed,
        "demonstrations": demonstrations,
        "template_index": klar.template_index,
    }
    return facts, stats


# --- contamination ---------------------------------------------------------------------------

_NON_WORD = re.compile(r"[\W_]+")


def label_norm(text: str) -> str:
    """The authors' label normal form for contamination (NFKC, casefold, every run of
    punctuation, symbols or underscores as one space, whitespace collapsed)."""
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split())


def pair_key(subject: str, obj: str) -> tuple[str, str]:
    """The identity of an English (subject, object) pair for the `pair` match."""
    return (clean_text(subject).casefold(), clean_text(obj).casefold())


def contamination_key(relation_id: str, subject: str, obj: str, match: str) -> tuple[str, ...]:
    """`pair`: the English (subject, object), any relation (this pipeline's earlier rule).
    `triple`: (property, subject, object) in the authors' normal form, so a fact counts as
    trained on only within the same relation."""
    if match == "pair":
        return pair_key(subject, obj)
    if match == "triple":
        return (relation_id, label_norm(subject), label_norm(obj))
    raise PolyfactError(f"unknown contamination match {match!r}; choose from {CONTAMINATION_MATCHES}")


def training_facts(rows: Iterable[Mapping[str, Any]], match: str = "pair") -> TrainingFacts:
    """The training records' keys (English `subject`/`object` labels, `property_id`) and
    relations. Records without both labels are skipped; `triple` needs `property_id`."""
    keys: set[tuple[str, ...]] = set()
    relations: set[str] = set()
    for number, row in enumerate(rows, start=1):
        relation_id = row.get("property_id")
        if relation_id:
            relations.add(str(relation_id))
        if not (row.get("subject") and row.get("object")):
            continue
        if match == "triple" and not relation_id:
            raise PolyfactError(f"training record {number}: no 'property_id' (needed by the 'triple' match)")
        keys.add(contamination_key(str(relation_id or ""), row["subject"], row["object"], match))
    return TrainingFacts(match, frozenset(keys), frozenset(relations))


def english_labels(fact: KlarFact) -> tuple[str, str] | None:
    """The fact's English (subject, object): from English if evaluated, else from the first
    language whose sample has them (filled from en/ at load time where it exists)."""
    order = sorted(fact.samples, key=lambda lang: lang != "en")
    return next((fact.samples[lang].english for lang in order if fact.samples[lang].english), None)


def contamination_label(fact: KlarFact, trained: TrainingFacts) -> str:
    """The authors' breakdown: `contaminated` (the fact is among the training facts),
    `clean_shared` (its relation is trained on, the fact is not), `non_shared` (a relation the
    training data lacks); `unknown` when no language gives English labels to compare."""
    labels = english_labels(fact)
    if labels is None:
        return "unknown"
    if contamination_key(fact.relation_id, *labels, trained.match) in trained.keys:
        return "contaminated"
    return "clean_shared" if fact.relation_id in trained.relations else "non_shared"


def split_headline(rows: Sequence[Mapping[str, Any]], decontaminate: bool) -> tuple[list[Any], list[Any]]:
    """(headline rows, rows left out of the headline): decontamination leaves out the rows of
    contaminated facts; facts of unknown contamination stay (nothing shows they were trained)."""
    if not decontaminate:
        return list(rows), []
    keep = [r for r in rows if r.get("contamination") != "contaminated"]
    out = [r for r in rows if r.get("contamination") == "contaminated"]
    return keep, out


def _accuracy(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """Share of correct rows. Every fact has one row per language, so this pooled value is
    also the mean of the per-language accuracies."""
    return sum(bool(r["correct"]) for r in rows) / len(rows) if rows else None


def _language_mean(rows: Sequence[Mapping[str, Any]], languages: Sequence[str]) -> float | None:
    """Mean over `languages` (those with rows) of the per-language accuracy."""
    by_language = accuracy_by_language(rows)
    values = [by_language[lang] for lang in languages if lang in by_language]
    return sum(values) / len(values) if values else None


def contamination_summary(
    rows: Sequence[Mapping[str, Any]], languages: Sequence[str], seen: Sequence[str], match: str
) -> dict[str, Any]:
    """Scores beside the headline: undecontaminated (all facts) and decontaminated (without the
    contaminated ones), each over all / seen / unseen languages (means of per-language
    accuracy), and the accuracy and fact count of each contamination label."""
    unseen = [lang for lang in languages if lang not in seen]
    seen = [lang for lang in languages if lang in seen]
    clean = [r for r in rows if r.get("contamination") != "contaminated"]

    def groups(subset: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
        return {
            "all": _language_mean(subset, languages),
            "seen": _language_mean(subset, seen),
            "unseen": _language_mean(subset, unseen),
        }

    by_label = {label: [r for r in rows if r.get("contamination") == label] for label in CONTAMINATION_LABELS}
    return {
        "match": match,
        "undecontaminated": groups(rows),
        "decontaminated": groups(clean),
        "subsets": {
            label: {"facts": len({r["fact_id"] for r in subset}), "accuracy": _accuracy(subset)}
            for label, subset in by_label.items()
        },
    }


# --- prompts ---------------------------------------------------------------------------------


def fill_template(template: str, subject: str, obj: str) -> str:
    """A complete statement: a demonstration line."""
    return template.replace(SUBJECT, subject).replace(MASK, obj)


def cloze_prefix(template: str, subject: str) -> str:
    """The query line: the template with the subject filled, cut just before <mask>, right-stripped."""
    return template[: template.index(MASK)].replace(SUBJECT, subject).rstrip()


def space_before_mask(template: str) -> bool:
    """Whether the answer follows a space (Latin scripts) or attaches directly (Chinese, Japanese)."""
    head = template[: template.index(MASK)]
    return bool(head) and head[-1].isspace()


def build_prompt(
    template: str, demonstrations: Sequence[tuple[str, str]], subject: str, trailing_space: bool = False
) -> str:
    """Few-shot context: one line per demonstration (subject, object), then the cloze.

    Without `trailing_space` a demonstration is the filled template and the cloze is
    right-stripped (the answer's spacing follows the template). With it, the authors' format:
    each line is the cloze prefix, a space and the answer (text after <mask> dropped) and the
    prompt ends with that space, in every script."""
    if trailing_space:
        lines = [f"{cloze_prefix(template, s)} {o}" for s, o in demonstrations]
        return "\n".join([*lines, cloze_prefix(template, subject) + " "])
    lines = [fill_template(template, s, o) for s, o in demonstrations]
    return "\n".join([*lines, cloze_prefix(template, subject)])


def continuation(template: str, candidate: str, trailing_space: bool = False) -> str:
    """A candidate as the text appended to the context: with a leading space where the template
    has one before <mask>, since the cloze prefix is right-stripped; none when the prompt
    already ends with the space."""
    if trailing_space:
        return candidate
    return (" " if space_before_mask(template) else "") + candidate


def fact_prompt(klar: Klar, fact: KlarFact, language: str, trailing_space: bool = False) -> str:
    """The prompt of one fact in one language, with that language's demonstrations."""
    rel = klar.relations[fact.relation_id][language]
    by_index = rel.by_index()
    demos = [(by_index[i].subject, by_index[i].object) for i in fact.demonstrations[language]]
    template = rel.templates[klar.template_index]
    return build_prompt(template, demos, fact.samples[language].subject, trailing_space)


# --- matching --------------------------------------------------------------------------------


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def _lstrip_punct(text: str) -> str:
    start = 0
    while start < len(text) and _is_punct(text[start]):
        start += 1
    return text[start:]


def _strip_punct(text: str) -> str:
    text = _lstrip_punct(text)
    end = len(text)
    while end > 0 and _is_punct(text[end - 1]):
        end -= 1
    return text[:end]


def first_line(text: str) -> str:
    """The first non-empty line, stripped ('' if none): models continue with more facts."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def lenient_match(prediction: str, gold: str) -> bool:
    """Generation correctness (§8): NFC + lowercase + strip on both; correct if equal, if the gold is
    a whole whitespace token of the prediction (a run of tokens for a multi-word gold; tokens
    stripped of surrounding punctuation), or if the prediction (past leading punctuation) starts
    with the gold — which also covers scripts written without spaces ("东京。" for "东京")."""
    p = clean_text(prediction).lower()
    g = clean_text(gold).lower()
    if not g or not p:
        return False
    if p == g or _strip_punct(p) == g:
        return True
    tokens = [t for t in (_strip_punct(t) for t in p.split()) if t]
    gold_tokens = g.split()
    n = len(gold_tokens)
    if any(tokens[k : k + n] == gold_tokens for k in range(len(tokens) - n + 1)):
        return True
    return p.startswith(g) or _lstrip_punct(p).startswith(g)


# --- model-touching code -------------------------------------------------------------------


@torch.no_grad()
def generate_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 10,
    batch_size: int = 32,
) -> list[str]:
    """Greedy continuations (new tokens only, decoded) in length-bucketed, left-padded batches,
    returned in the order of `prompts`."""
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    pad = pad_id(tokenizer)
    device = next(model.parameters()).device
    out: list[str] = [""] * len(prompts)
    batches = length_batches([len(e) for e in encoded], batch_size)
    for batch in tqdm(batches, desc="generating", unit="batch", disable=None):
        # left padding: every prompt ends where generation starts
        ids, mask = pad_batch([encoded[i] for i in batch], pad, left=True)
        width = ids.shape[1]
        generated = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad,
            temperature=None,
            top_p=None,
            top_k=None,
        )
        for row, i in enumerate(batch):
            out[i] = tokenizer.decode(generated[row, width:], skip_special_tokens=True)
    return out


def evaluate_klar(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    klar: Klar,
    languages: Sequence[str],
    *,
    shots: int = 3,
    max_new_tokens: int = 10,
    normalisation: str = "byte",
    batch_size: int = 32,
    seed: int = 1234,
    demonstrations: str = "shared",
    trailing_space: bool = False,
    trained: TrainingFacts | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per (fact, language): the greedy generation and its lenient correctness, and the candidate
    scores with their prediction and entity ranking; plus the selection stats. Every complete
    fact is evaluated; with `trained`, each row carries its fact's contamination label (the
    caller decides what the headline leaves out, see `split_headline`)."""
    if normalisation not in NORMALISATIONS:
        raise PolyfactError(f"unknown normalisation {normalisation!r}; choose from {NORMALISATIONS}")
    missing = [lang for lang in languages if lang not in klar.languages]
    if missing:
        raise PolyfactError(f"{klar.root}: languages {missing} were not loaded (loaded: {list(klar.languages)})")
    facts, stats = select_facts(klar, languages, shots=shots, seed=seed, demonstrations=demonstrations)
    labels = {f.fact_id: contamination_label(f, trained) if trained else None for f in facts}
    jobs = [(fact, lang) for fact in facts for lang in languages]
    prompts = [fact_prompt(klar, fact, lang, trailing_space) for fact, lang in jobs]
    generations = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    items = [
        (
            prompt,
            [
                continuation(klar.relations[fact.relation_id][lang].templates[klar.template_index], c, trailing_space)
                for c in fact.samples[lang].candidates
            ],
        )
        for prompt, (fact, lang) in zip(prompts, jobs, strict=True)
    ]
    scored = score_continuations(model, tokenizer, items, batch_size=batch_size)
    rows = []
    for (fact, lang), prompt, raw, scores_raw in zip(jobs, prompts, generations, scored, strict=True):
        sample = fact.samples[lang]
        scores = [normalise(s, c, normalisation) for s, c in zip(scores_raw, sample.candidates, strict=True)]
        best = max(range(len(scores)), key=lambda k: scores[k])
        generation = first_line(raw)
        order = sorted(range(len(scores)), key=lambda k: -scores[k])
        rows.append(
            {
                "fact_id": fact.fact_id,
                "language": lang,
                "property_id": fact.relation_id,
                "relation": klar.relations[fact.relation_id][lang].name,
                "index": fact.index,
                "subject": sample.subject,
                "subject_en": sample.subject_en,
                "object_en": sample.object_en,
                "gold": sample.object,
                "gold_index": sample.gold_position,
                "contamination": labels[fact.fact_id],
                "demonstrations": list(fact.demonstrations[lang]),
                "prompt": prompt,
                "generation_raw": raw,
                "generation": generation,
                "correct": lenient_match(generation, sample.object),
                "candidates": list(sample.candidates),
                "option_ids": list(fact.entity_ids) if fact.entity_ids is not None else None,
                "candidate_scores": scores,
                "candidate_logprobs": [s.logprob for s in scores_raw],
                "candidate_tokens": [s.tokens for s in scores_raw],
                "candidate_prediction": best,
                "candidate_correct": best == sample.gold_position,
                "ranking": [fact.entity_ids[k] for k in order] if fact.entity_ids is not None else None,
            }
        )
    stats["contamination"] = (
        {label: sum(v == label for v in labels.values()) for label in CONTAMINATION_LABELS} if trained else None
    )
    stats["trailing_space"] = trailing_space
    stats["normalisation"] = normalisation
    stats["max_new_tokens"] = max_new_tokens
    return rows, stats
