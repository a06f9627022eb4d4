"""KLAR-format benchmark (§8): a directory `{lang}/{relation}.json` of cloze facts aligned across
languages by sample `index`. Two measurements per fact and language on the same 3-shot context:
(a) greedy generation judged by a lenient match against the gold, and (b) log-probability scores
of the listed candidates, ranked by position-aligned entity ids so RankC compares languages.

The science (parsing, alignment, prompts, matching) lives in small pure functions; the model is
touched only by `generate_answers` and, through `polyfact.evaluate.scoring`, by candidate scoring.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.errors import PolyfactError
from polyfact.evaluate.scoring import NORMALISATIONS, normalise, score_continuations
from polyfact.models.padding import pad_batch, pad_id
from polyfact.text import clean_text, nfc

SUBJECT = "<subject>"
MASK = "<mask>"
SAMPLE_FIELDS = ("subject", "object", "object_candidates", "index", "subject_en", "object_en")
FILE_KEYS = ("name", "relation_id", "prompt_templates", "samples")
# ASCII, full-width and Arabic commas all separate candidates.
_CANDIDATE_SPLIT = re.compile("[,\uff0c\u060c]")


@dataclass(frozen=True)
class KlarSample:
    """One fact in one language. `index` is kept as text so `3` and `"3"` name the same fact."""

    index: str
    subject: str
    object: str
    candidates: tuple[str, ...]
    gold_position: int  # position of `object` in `candidates` (first occurrence)
    subject_en: str
    object_en: str


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
    """A loaded benchmark: relation_id -> language -> relation file (languages lacking it are absent)."""

    root: Path
    languages: tuple[str, ...]
    relations: Mapping[str, Mapping[str, KlarRelation]]


@dataclass(frozen=True)
class KlarFact:
    """A fact present in every evaluated language; `entity_ids` is None when the candidate lists
    are not parallel across languages (then no RankC ranking is possible)."""

    fact_id: str
    relation_id: str
    index: str
    samples: Mapping[str, KlarSample]  # language -> sample
    entity_ids: tuple[str, ...] | None
    demonstrations: tuple[str, ...]  # indices of the demonstration facts, in prompt order


# --- parsing ---------------------------------------------------------------------------------


def parse_candidates(raw: str | Sequence[str]) -> tuple[str, ...]:
    """Candidate labels from the comma-separated string (ASCII `,`, full-width `，`, Arabic `،`),
    NFC, stripped, empties dropped. A list of strings (a variant some exports use) is accepted."""
    parts = _CANDIDATE_SPLIT.split(raw) if isinstance(raw, str) else list(raw)
    return tuple(c for c in (clean_text(str(p)) for p in parts) if c)


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
    # Template 1 is the generation prompt: cut at <mask>, so the subject must come before it.
    if out[0].index(SUBJECT) > out[0].index(MASK):
        raise PolyfactError(
            f"{path}: prompt template 1 has {MASK} before {SUBJECT}, so a cloze cut at {MASK} "
            f"would not name the subject: {out[0]!r}"
        )
    return tuple(out)


def _sample(raw: Any, position: int, path: Path) -> KlarSample:
    if not isinstance(raw, dict):
        raise PolyfactError(f"{path}: samples[{position}] is not an object: {raw!r}")
    index = raw.get("index")
    where = f"{path}: samples[{position}] (index {index!r})"
    missing = [f for f in SAMPLE_FIELDS if f not in raw]
    if missing:
        raise PolyfactError(f"{where}: missing field(s) {', '.join(missing)}")
    if isinstance(index, bool) or not isinstance(index, int | str) or (isinstance(index, str) and not index.strip()):
        raise PolyfactError(f"{where}: 'index' must be an integer or a non-empty string")
    gold = _text(raw["object"], where, "object")
    candidates_raw = raw["object_candidates"]
    if not isinstance(candidates_raw, str) and not (
        isinstance(candidates_raw, list) and all(isinstance(c, str) for c in candidates_raw)
    ):
        raise PolyfactError(f"{where}: 'object_candidates' must be a comma-separated string, got {candidates_raw!r}")
    candidates = parse_candidates(candidates_raw)
    if gold not in candidates:
        raise PolyfactError(f"{where}: gold object {gold!r} is not among the candidates {list(candidates)}")
    return KlarSample(
        index=str(index).strip(),
        subject=_text(raw["subject"], where, "subject"),
        object=gold,
        candidates=candidates,
        gold_position=candidates.index(gold),
        subject_en=_text(raw["subject_en"], where, "subject_en"),
        object_en=_text(raw["object_en"], where, "object_en"),
    )


def parse_relation_file(path: Path, language: str) -> KlarRelation:
    """Read and validate one `{lang}/{relation}.json`; every error names the file and the item."""
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
    relation_id = _text(data["relation_id"], str(path), "relation_id")
    templates = _templates(data["prompt_templates"], path)
    if not isinstance(data["samples"], list):
        raise PolyfactError(f"{path}: 'samples' must be a list, got {type(data['samples']).__name__}")
    samples: list[KlarSample] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(data["samples"]):
        sample = _sample(raw, position, path)
        if sample.index in seen:
            raise PolyfactError(
                f"{path}: samples[{position}]: duplicate index {sample.index!r} (also samples[{seen[sample.index]}])"
            )
        seen[sample.index] = position
        samples.append(sample)
    return KlarRelation(path, language, nfc(name), relation_id, templates, tuple(samples))


def load_klar(klar_dir: str | Path, languages: Sequence[str]) -> Klar:
    """Load `{klar_dir}/{lang}/*.json` for the requested languages (any directory name is a
    language code: KLAR has languages beyond the project's twelve). Relations are grouped by
    `relation_id`; a relation missing in some language is allowed (its facts become incomplete)."""
    root = Path(klar_dir)
    if not languages:
        raise PolyfactError(f"{root}: no languages requested")
    if len(set(languages)) != len(languages):
        raise PolyfactError(f"{root}: languages listed twice: {list(languages)}")
    relations: dict[str, dict[str, KlarRelation]] = {}
    for lang in languages:
        lang_dir = root / lang
        if not lang_dir.is_dir():
            available = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
            raise PolyfactError(f"{lang_dir}: no such language directory (available: {available})")
        files = sorted(lang_dir.glob("*.json"))
        if not files:
            raise PolyfactError(f"{lang_dir}: no relation files (*.json)")
        for path in files:
            rel = parse_relation_file(path, lang)
            other = relations.setdefault(rel.relation_id, {}).get(lang)
            if other is not None:
                raise PolyfactError(f"{path}: relation_id {rel.relation_id!r} also used by {other.path}")
            relations[rel.relation_id][lang] = rel
    return Klar(root, tuple(languages), relations)


# --- facts, alignment, decontamination ------------------------------------------------------


def pair_key(subject: str, obj: str) -> tuple[str, str]:
    """The identity of an English (subject, object) pair for decontamination."""
    return (clean_text(subject).casefold(), clean_text(obj).casefold())


def trained_pairs(rows: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(subject, object) English label pairs of training records (e.g. the PolyFact train split in
    English), so KLAR facts the model was trained on can be left out of the evaluation."""
    return {pair_key(r["subject"], r["object"]) for r in rows if r.get("subject") and r.get("object")}


def align_candidates(samples: Mapping[str, KlarSample]) -> tuple[str, ...] | None:
    """Entity ids `c0..c{N-1}` by position when the candidate lists are parallel: same length in
    every language and the gold at the same position. Otherwise None (no cross-language ranking)."""
    lengths = {len(s.candidates) for s in samples.values()}
    golds = {s.gold_position for s in samples.values()}
    if len(lengths) != 1 or len(golds) != 1:
        return None
    return tuple(f"c{k}" for k in range(lengths.pop()))


def choose_demonstrations(pool: Sequence[str], index: str, relation_id: str, shots: int, seed: int) -> tuple[str, ...]:
    """Demonstration indices for one fact: a seeded draw from `pool` (without the query), seeded by
    the fact only, so every language of a fact gets the same demonstrations."""
    others = sorted((i for i in pool if i != index), key=index_key)
    rng = random.Random(f"{seed}:{relation_id}:{index}")
    return tuple(rng.sample(others, min(max(shots, 0), len(others))))


def select_facts(
    klar: Klar,
    languages: Sequence[str],
    *,
    shots: int = 3,
    seed: int = 1234,
    exclude: Collection[tuple[str, str]] = frozenset(),
) -> tuple[list[KlarFact], dict[str, Any]]:
    """Facts present in all `languages`, minus those whose English pair is in `exclude`, with
    their aligned entity ids and demonstrations; and the counts of what was dropped and why.

    Demonstrations are drawn from all facts complete in these languages (decontaminated ones
    included): they are context, not evaluated, and so prompts do not change with `exclude`.
    """
    excluded = {pair_key(*p) for p in exclude}
    facts: list[KlarFact] = []
    per_relation: dict[str, dict[str, Any]] = {}
    for relation_id in sorted(klar.relations):
        files = klar.relations[relation_id]
        present = [lang for lang in languages if lang in files]
        by_lang = {lang: files[lang].by_index() for lang in present}
        union = set().union(*(set(v) for v in by_lang.values())) if by_lang else set()
        complete = set.intersection(*(set(v) for v in by_lang.values())) if len(present) == len(languages) else set()
        contaminated = {
            i
            for i in union
            if any(pair_key(v[i].subject_en, v[i].object_en) in excluded for v in by_lang.values() if i in v)
        }
        pool = sorted(complete, key=index_key)
        evaluated = [i for i in pool if i not in contaminated]
        aligned = 0
        for index in evaluated:
            samples = {lang: by_lang[lang][index] for lang in languages}
            entity_ids = align_candidates(samples)
            aligned += entity_ids is not None
            demos = choose_demonstrations(pool, index, relation_id, shots, seed)
            facts.append(KlarFact(f"{relation_id}:{index}", relation_id, index, samples, entity_ids, demos))
        per_relation[relation_id] = {
            "name": next(iter(files.values())).name,
            "languages_missing": [lang for lang in languages if lang not in files],
            "facts_total": len(union),
            "decontaminated": len(contaminated),
            "dropped_incomplete": len((union - contaminated) - complete),
            "facts": len(evaluated),
            "candidates_aligned": aligned,
            "candidates_unaligned": len(evaluated) - aligned,
        }
    stats = {
        "languages": list(languages),
        "relations": per_relation,
        "facts_per_relation": {r: v["facts"] for r, v in per_relation.items()},
        "facts": len(facts),
        "facts_total": sum(v["facts_total"] for v in per_relation.values()),
        "dropped_incomplete": sum(v["dropped_incomplete"] for v in per_relation.values()),
        "decontaminated": sum(v["decontaminated"] for v in per_relation.values()),
        "candidates_aligned": sum(v["candidates_aligned"] for v in per_relation.values()),
        "candidates_unaligned": sum(v["candidates_unaligned"] for v in per_relation.values()),
        "shots": shots,
        "seed": seed,
    }
    return facts, stats


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


def build_prompt(template: str, demonstrations: Sequence[tuple[str, str]], subject: str) -> str:
    """Few-shot context: one filled statement per demonstration (subject, object), then the cloze."""
    lines = [fill_template(template, s, o) for s, o in demonstrations]
    return "\n".join([*lines, cloze_prefix(template, subject)])


def continuation(template: str, candidate: str) -> str:
    """A candidate as the text appended to the context: with a leading space where the template
    has one before <mask>, since the cloze prefix is right-stripped."""
    return (" " if space_before_mask(template) else "") + candidate


def fact_prompt(klar: Klar, fact: KlarFact, language: str) -> str:
    rel = klar.relations[fact.relation_id][language]
    by_index = rel.by_index()
    demos = [(by_index[i].subject, by_index[i].object) for i in fact.demonstrations]
    return build_prompt(rel.templates[0], demos, fact.samples[language].subject)


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
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    pad = pad_id(tokenizer)
    device = next(model.parameters()).device
    out: list[str] = [""] * len(prompts)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
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
    exclude: Collection[tuple[str, str]] = frozenset(),
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per (fact, language): the greedy generation and its lenient correctness, and the candidate
    scores with their prediction and entity ranking; plus the selection stats."""
    if normalisation not in NORMALISATIONS:
        raise PolyfactError(f"unknown normalisation {normalisation!r}; choose from {NORMALISATIONS}")
    missing = [lang for lang in languages if lang not in klar.languages]
    if missing:
        raise PolyfactError(f"{klar.root}: languages {missing} were not loaded (loaded: {list(klar.languages)})")
    facts, stats = select_facts(klar, languages, shots=shots, seed=seed, exclude=exclude)
    jobs = [(fact, lang) for fact in facts for lang in languages]
    prompts = [fact_prompt(klar, fact, lang) for fact, lang in jobs]
    generations = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    items = [
        (prompt, [continuation(klar.relations[fact.relation_id][lang].templates[0], c) for c in sample.candidates])
        for prompt, (fact, lang) in zip(prompts, jobs, strict=True)
        for sample in [fact.samples[lang]]
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
    stats["normalisation"] = normalisation
    stats["max_new_tokens"] = max_new_tokens
    return rows, stats
