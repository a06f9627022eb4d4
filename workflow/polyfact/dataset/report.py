"""The data report (results/data/report.{md,json}): counts, removals per filter, baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from polyfact.dataset.baselines import baselines
from polyfact.dataset.splits import SPLITS
from polyfact.io import read_json, read_jsonl, write_json, write_text
from polyfact.markdown import table
from polyfact.relations import relation_name


def data_report(
    data_dir: str | Path,
    languages: Sequence[str],
    facts_stats: Mapping[str, Any] | None,
    translation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    data = Path(data_dir)
    stats = read_json(data / "stats.json")
    rows = {s: {lang: read_jsonl(data / s / f"{lang}.jsonl") for lang in languages} for s in SPLITS}
    per_language = {lang: {s: len(rows[s][lang]) for s in SPLITS} for lang in languages}
    return {
        "dataset": stats,
        "extraction": dict(facts_stats or {}),
        "translation": dict(translation or {}),
        "per_language": per_language,
        "baselines": baselines(rows["train"], rows["test"]),
    }


def render_markdown(report: Mapping[str, Any]) -> str:
    ds = report["dataset"]
    out = [
        "# PolyFact data report",
        "",
        f"Facts in: {ds['facts_in']}; facts kept: {ds['facts_out']}; languages: {', '.join(ds['languages'])}; seed {ds['seed']}.",
        "Every fact is present in every language and in exactly one split.",
        "",
    ]
    if report["extraction"]:
        out += ["## Extraction", ""]
        out += table(["statistic", "value"], sorted(report["extraction"].items()), missing="None")
        out.append("")
    out += ["## Facts per relation and split", ""]
    body = [
        [pid, relation_name(pid), *(c[s] for s in SPLITS), sum(c.values())] for pid, c in ds["per_relation"].items()
    ]
    body.append(["all", "", *(ds["per_split"][s] for s in SPLITS), ds["facts_out"]])
    out += table(["relation", "name", *SPLITS, "total"], body, missing="None")
    out += ["", "## Facts per language and split", ""]
    out += table(
        ["language", *SPLITS],
        [[lang, *(c[s] for s in SPLITS)] for lang, c in report["per_language"].items()],
        missing="None",
    )
    out += ["", "## Quality filters (applied in this order; facts removed in all languages)", ""]
    out += table(["filter", "facts removed"], [[r["filter"], r["facts"]] for r in ds["removed"]], missing="None")
    out += missing_labels_section(ds)
    out += translation_section(report.get("translation") or {}, ds)
    out += questions_section(ds)
    out += distractors_section(ds)
    out += ["", "## Model-free baselines (test split; accuracy)", ""]
    b = report["baselines"]
    keys = ["chance", "train_gold_prior", "longest_option", "shortest_option", "most_common_position"]
    body = [[lang, *(v[k] for k in keys)] for lang, v in b["per_language"].items()]
    body.append(["mean", *(b["mean"][k] for k in keys)])
    out += table(["language", *keys], body, missing="None")
    out += ["", "Gold position balance (test split):", ""]
    out += table(
        ["language", "A", "B", "C", "D"],
        [[lang, *v["position_balance"].values()] for lang, v in b["per_language"].items()],
        missing="None",
    )
    out.append("")
    return "\n".join(out)


def missing_labels_section(ds: Mapping[str, Any]) -> list[str]:
    """Which eval languages lacked labels: facts extraction kept with fewer labels than eval
    languages (facts.min_label_langs) and that the build therefore dropped in every language."""
    per_lang = ds.get("missing_labels_per_language") or {}
    if not any(per_lang.values()):
        return []
    out = [
        "",
        "Facts lacking a subject or object label, per eval language (a fact may lack several);",
        "each is removed in all languages as missing_labels, as no label translation is configured:",
        "",
    ]
    out += table(["language", "facts lacking a label"], [[lang, n] for lang, n in per_lang.items()], missing="None")
    return out


def translation_section(translation: Mapping[str, Any], ds: Mapping[str, Any]) -> list[str]:
    """Labels the LLM translated (or failed to) per language, and the kept facts using one."""
    if not translation:
        return []
    kept = ds.get("translated_labels_per_language") or {}
    out = [
        "",
        f"## Label translation ({translation['model']}; up to {translation['tries']} tries per label)",
        "",
        f"{translation['labels_needed']} (entity, language) labels were missing among {translation['entities']} entities;",
        "a label failing every try stays missing. The facts table marks each label's provenance",
        "(`{role}_label_source_{lang}`: extracted | translated).",
        "",
    ]
    body = [
        [lang, c["needed"], c["translated"], c["regenerated"], c["failed"], kept.get(lang)]
        for lang, c in translation["per_language"].items()
    ]
    out += table(
        ["language", "labels needed", "translated", "needed another try", "failed", "kept facts using one"],
        body,
        missing="None",
    )
    if translation.get("failure_reasons"):
        out += [
            "",
            "Why the last try failed: " + ", ".join(f"{k} {v}" for k, v in translation["failure_reasons"].items()),
        ]
    return out


def questions_section(ds: Mapping[str, Any]) -> list[str]:
    """LLM-written questions: written, regenerated and failed per language, facts dropped."""
    gen = ds.get("question_generation")
    if not gen:
        return ["", "Questions: templates (config/templates)."]
    shards = gen.get("shards") or []
    model = shards[0]["model"] if shards else "?"
    cached = sum(s.get("cached", 0) for s in shards)
    generated = sum(s.get("generated", 0) for s in shards)
    out = [
        "",
        f"## Questions written by an LLM ({model})",
        "",
        f"{gen['facts']} facts went to the writer; {gen['dropped']} were dropped in every language because",
        "a question failed validation on every try. Generations: "
        f"{generated} run now, {cached} reused from the answer cache, over {len(shards)} shards.",
        "",
    ]
    out += table(
        ["language", "generations", "generated (valid)", "regenerated", "dropped (failed every try)"],
        [
            [lang, c["generations"], c["generated"], c["regenerated"], c["dropped"]]
            for lang, c in gen["per_language"].items()
        ],
        missing="None",
    )
    out += [
        "",
        "regenerated: the question needed more than one try; dropped: it failed every try, and its",
        "fact was dropped in every language (a fact can fail in several languages).",
    ]
    if gen.get("failure_reasons"):
        out += ["", "Why the last try failed: " + ", ".join(f"{k} {v}" for k, v in gen["failure_reasons"].items())]
    return out


def distractors_section(ds: Mapping[str, Any]) -> list[str]:
    """How distractors were drawn, and for uniform_same_type how many facts fell back."""
    mode = ds.get("distractors", "frequency")
    cap = ds.get("max_answer_share", "n/a")
    out = ["", f"Distractors: {mode}; answer share cap: {'none' if cap is None else cap}.", ""]
    tiers = ds.get("distractor_tiers")
    if tiers:
        out += [
            "Facts by the pool their distractors came from (same_type: shares a P31 type with the",
            "gold and a similar-length label; the others are fallbacks, e.g. facts without types):",
            "",
        ]
        out += table(["pool", "facts"], [[tier, n] for tier, n in tiers.items()], missing="None")
    return out


def write_report(report: Mapping[str, Any], md_path: str | Path, json_path: str | Path) -> None:
    write_json(json_path, report)
    write_text(md_path, render_markdown(report))
