"""LLM-judge audit of the built dataset (dataset.audit): for a seeded sample of facts per
relation, a judge model reads each item in each language and says whether the question is
answerable and unambiguous, and whether the gold answer is right. The report gives the
rates per relation and language with their sample sizes; a verdict the judge did not give
in the asked form counts as unparseable, not as yes or no.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from polyfact.dataset.llm_cache import AnswerStore, generate_cached
from polyfact.dataset.llm_prompts import prompt_version, request_seed
from polyfact.languages import LANGUAGES
from polyfact.markdown import table
from polyfact.models.chat import ChatRequest, Generator, Sampling
from polyfact.records import OPTION_KEYS

QUESTIONS = ("answerable", "gold_correct")


def sample_facts(rows: Sequence[Mapping[str, Any]], per_relation: int, seed: int) -> dict[str, list[str]]:
    """Up to `per_relation` fact ids per relation, a seeded draw from the sorted ids."""
    by_relation: dict[str, list[str]] = {}
    for row in rows:
        by_relation.setdefault(row["property_id"], []).append(row["fact_id"])
    out = {}
    for pid, ids in sorted(by_relation.items()):
        ids = sorted(set(ids))
        random.Random(f"{seed}|audit|{pid}").shuffle(ids)
        out[pid] = sorted(ids[:per_relation])
    return out


def judge_request(prompts: Mapping[str, Any], row: Mapping[str, Any], seed: int) -> ChatRequest:
    a = prompts["audit"]
    user = a["user"].format(
        language=LANGUAGES[row["language"]].name,
        question=row["question"],
        answer=row["answer_text"],
        **{key: row[key] for key in OPTION_KEYS},
    )
    return ChatRequest(
        messages=(("system", a["system"]), ("user", user)),
        prefix=a["prefix"],
        seed=request_seed(seed, "audit", row["fact_id"], row["language"]),
    )


def parse_verdict(prefix: str, text: str) -> dict[str, bool | None]:
    """yes/no per audit question from the judge's JSON (None where it gave no such answer)."""
    full = prefix + text
    out: dict[str, bool | None] = {}
    for key in QUESTIONS:
        m = re.search(rf'"{key}"\s*:\s*"?\s*(yes|no)\b', full, re.IGNORECASE)
        out[key] = None if m is None else m.group(1).lower() == "yes"
    return out


def audit(
    records: Mapping[str, Sequence[Mapping[str, Any]]],
    generator: Generator,
    model: str,
    prompts: Mapping[str, Any],
    sampling: Sampling,
    per_relation: int,
    split: str,
    store: AnswerStore,
    chunk: int,
    seed: int,
) -> dict[str, Any]:
    """Judge the sampled facts of `records` (language -> rows of one split)."""
    languages = list(records)
    sample = sample_facts(records[languages[0]], per_relation, seed)
    wanted = {fid for ids in sample.values() for fid in ids}
    rows = {(r["fact_id"], lang): r for lang in languages for r in records[lang] if r["fact_id"] in wanted}
    requests = {f"{fid}|{lang}": judge_request(prompts, row, seed) for (fid, lang), row in sorted(rows.items())}
    answers, usage = generate_cached(generator, model, requests, sampling, store, chunk, "audit")
    verdicts = {key: parse_verdict(prompts["audit"]["prefix"], text) for key, text in answers.items()}
    cells = []
    for pid, ids in sample.items():
        for lang in languages:
            got = [verdicts[f"{fid}|{lang}"] for fid in ids if (fid, lang) in rows]
            cells.append({"relation": pid, "language": lang, **rates(got)})
    overall = [
        {"language": lang, **rates([v for k, v in verdicts.items() if k.endswith(f"|{lang}")])} for lang in languages
    ]
    return {
        "model": model,
        "split": split,
        "facts_per_relation": per_relation,
        "prompt_version": prompt_version(
            prompts["audit"]["system"], prompts["audit"]["user"], prompts["audit"]["prefix"]
        ),
        "seed": seed,
        "sample": sample,
        "cells": cells,
        "per_language": overall,
        "items": [{"fact_id": k.rsplit("|", 1)[0], "language": k.rsplit("|", 1)[1], **v} for k, v in verdicts.items()],
        **usage,
    }


def unparseable(cell: Mapping[str, Any]) -> int:
    """Items of a cell without a usable verdict on one question or the other."""
    return max(cell["answerable_unparseable"], cell["gold_correct_unparseable"])


def rates(verdicts: Sequence[Mapping[str, bool | None]]) -> dict[str, Any]:
    """n items; per audit question the share of yes among parseable verdicts, and how many
    verdicts were unparseable."""
    out: dict[str, Any] = {"n": len(verdicts)}
    for key in QUESTIONS:
        given = [v[key] for v in verdicts if v[key] is not None]
        out[key] = sum(given) / len(given) if given else None
        out[f"{key}_unparseable"] = len(verdicts) - len(given)
    return out


def render_markdown(report: Mapping[str, Any]) -> str:
    out = [
        "# PolyFact LLM-judge audit",
        "",
        f"Judge: {report['model']}; split {report['split']}; up to {report['facts_per_relation']} facts per relation,"
        f" each judged in every language; seed {report['seed']}; prompt version {report['prompt_version']}.",
        "Rates are shares of yes among the verdicts given in the asked form; unparseable verdicts are counted apart.",
        "answerable: the question is well formed and exactly one option answers it;"
        " gold_correct: the marked answer is factually right.",
        "",
        "## Per language",
        "",
    ]
    head = ["n", "answerable", "gold_correct", "unparseable"]
    out += table(
        ["language", *head],
        [[c["language"], c["n"], c["answerable"], c["gold_correct"], unparseable(c)] for c in report["per_language"]],
    )
    out += ["", "## Per relation and language", ""]
    out += table(
        ["relation", "language", *head],
        [
            [c["relation"], c["language"], c["n"], c["answerable"], c["gold_correct"], unparseable(c)]
            for c in report["cells"]
        ],
    )
    out.append("")
    return "\n".join(out)
