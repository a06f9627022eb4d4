"""Questions written by an instruction model (dataset.questions: llm; DESIGN §6).

Each fact gets one question per language. Every question is validated by the dataset's own
filters; the failing (fact, language) pairs are asked again, with a fresh seed, up to `tries`
times in all, and a fact still failing in any language is dropped in every language. The work
is split into shards by a stable hash of the fact id (one Snakemake job each), and every
answer goes through the cache (`llm_cache`), so a killed shard resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from polyfact.dataset import filters
from polyfact.dataset.items import Item
from polyfact.dataset.llm_cache import AnswerStore, generate_validated
from polyfact.dataset.llm_prompts import json_string_field, prompt_version, relation_description, request_seed
from polyfact.dataset.templates import Templates, render_question
from polyfact.languages import LANGUAGES
from polyfact.models.chat import ChatRequest, Generator, Sampling
from polyfact.relations import relation_name

log = logging.getLogger(__name__)

STYLES = ("paper", "paraphrase", "template")
MAX_QUESTION_CHARS = 300


def shard_of(fact_id: str, shards: int) -> int:
    """The shard a fact belongs to: stable across runs, machines and fact order."""
    return int.from_bytes(hashlib.sha256(fact_id.encode()).digest()[:8], "big") % shards


@dataclass(frozen=True)
class QuestionPrompt:
    """The question prompt of one style (`paper`, or `paraphrase` with a template phrasing)."""

    prompts: Mapping[str, Any]
    style: str
    templates: Templates | None  # paraphrase: the phrasing offered
    seed: int

    def version(self, pid: str) -> str:
        q = self.prompts["questions"]
        extra = "" if self.style == "paper" else q["paraphrase"]
        return prompt_version(
            self.style, q["system"], q["user"], extra, q["prefix"], relation_description(self.prompts, pid)
        )

    def reference(self, item: Item, lang: str) -> str:
        """The fact's template question (paraphrase and template styles)."""
        assert self.templates is not None
        return render_question(self.templates, lang, item.property_id, item.subject[lang], item.fact_id, self.seed)  # type: ignore[arg-type]

    def started(self, item: Item, lang: str) -> str:
        """What the answer is started with inside the question's JSON string: the template
        question, JSON-escaped, in the template style; nothing otherwise."""
        if self.style != "template":
            return ""
        return json.dumps(self.reference(item, lang), ensure_ascii=False)[1:-1]

    def request(self, item: Item, lang: str, attempt: int) -> ChatRequest:
        q = self.prompts["questions"]
        subject, answer = item.subject[lang], item.object[lang]
        fields = {
            "language": LANGUAGES[lang].name,
            "subject": subject,
            "answer": answer,
            "relation": relation_name(item.property_id),
            "description": relation_description(self.prompts, item.property_id),
        }
        user = q["user"].format(**fields)
        if self.style != "paper":
            user += q["paraphrase"].format(reference=self.reference(item, lang))
        return ChatRequest(
            messages=(("system", q["system"]), ("user", user)),
            prefix=q["prefix"] + self.started(item, lang),
            seed=request_seed(self.seed, "question", item.fact_id, lang, attempt),
        )


def check_question(text: str, prefix: str, item: Item, lang: str) -> tuple[str | None, list[str]]:
    """The question an answer holds and why it fails validation (empty list: it passes)."""
    question = json_string_field(prefix, text)
    if question is None:
        return None, ["unparseable"]
    question = " ".join(question.split())
    if not question:
        return None, ["empty"]
    if len(question) > MAX_QUESTION_CHARS:
        return question, ["too_long"]
    return question, filters.question_problems(question, item.subject[lang], item.object[lang], lang)  # type: ignore[arg-type]


def write_questions(
    items: Sequence[Item],
    languages: Sequence[str],
    generator: Generator,
    model: str,
    prompt: QuestionPrompt,
    sampling: Sampling,
    retry_sampling: Sampling,
    tries: int,
    store: AnswerStore,
    chunk: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per fact: its question per language, or `dropped` with the last problems of
    each failing language; and the shard's counts (see `summarise`)."""
    prefix = prompt.prompts["questions"]["prefix"]
    by_id = {item.fact_id: item for item in items}
    result = generate_validated(
        generator,
        model,
        [(item.fact_id, lang) for item in items for lang in languages],
        lambda unit, attempt: prompt.request(by_id[unit[0]], unit[1], attempt),
        lambda unit, text: check_question(
            prompt.started(by_id[unit[0]], unit[1]) + text, prefix, by_id[unit[0]], unit[1]
        ),
        sampling,
        retry_sampling,
        tries,
        store,
        chunk,
        "questions",
    )
    questions, attempts, problems = result.accepted, result.attempts, result.problems
    rows = []
    for item in items:
        row: dict[str, Any] = {
            "fact_id": item.fact_id,
            "property_id": item.property_id,
            "prompt_version": prompt.version(item.property_id),
            "attempts": {lang: attempts[(item.fact_id, lang)] for lang in languages},
        }
        failing = {lang: problems[(item.fact_id, lang)] for lang in languages if (item.fact_id, lang) in problems}
        if failing:
            row["dropped"] = True
            row["problems"] = failing
        else:
            row["dropped"] = False
            row["questions"] = {lang: questions[(item.fact_id, lang)] for lang in languages}
        rows.append(row)
    return rows, {"model": model, "style": prompt.style, "tries": tries, **result.usage}


def summarise(rows: Sequence[Mapping[str, Any]], languages: Sequence[str]) -> dict[str, Any]:
    """Counts for the data report, per language: generations asked for (tries included),
    questions generated that passed validation, facts whose question was regenerated (needed
    more than one try), and facts dropped because their question failed every try (dropped in
    all languages); and why the last tries failed."""
    per_language: dict[str, dict[str, int]] = {}
    for lang in languages:
        tried = [r for r in rows if r["attempts"].get(lang)]
        per_language[lang] = {
            "generations": sum(r["attempts"][lang] for r in tried),
            "generated": sum(1 for r in tried if lang not in r.get("problems", {})),
            "regenerated": sum(1 for r in tried if r["attempts"][lang] > 1),
            "dropped": sum(1 for r in tried if lang in r.get("problems", {})),
        }
    reasons = Counter(p for r in rows for why in r.get("problems", {}).values() for p in why)
    return {
        "facts": len(rows),
        "dropped": sum(1 for r in rows if r["dropped"]),
        "per_language": per_language,
        "failure_reasons": dict(sorted(reasons.items())),
    }
