"""The data report (results/data/report.{md,json}): counts, removals per filter, baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from polyfact.dataset.baselines import baselines
from polyfact.dataset.splits import SPLITS
from polyfact.io import atomic_path, read_json, read_jsonl, write_json
from polyfact.relations import relation_name


def data_report(
    data_dir: str | Path, languages: Sequence[str], facts_stats: Mapping[str, Any] | None
) -> dict[str, Any]:
    data = Path(data_dir)
    stats = read_json(data / "stats.json")
    rows = {s: {lang: read_jsonl(data / s / f"{lang}.jsonl") for lang in languages} for s in SPLITS}
    per_language = {lang: {s: len(rows[s][lang]) for s in SPLITS} for lang in languages}
    return {
        "dataset": stats,
        "extraction": dict(facts_stats or {}),
        "per_language": per_language,
        "baselines": baselines(rows["train"], rows["test"]),
    }


def _table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> list[str]:
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in body]
    return lines


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
        out += _table(["statistic", "value"], sorted(report["extraction"].items()))
        out.append("")
    out += ["## Facts per relation and split", ""]
    body = [
        [pid, relation_name(pid), *(c[s] for s in SPLITS), sum(c.values())] for pid, c in ds["per_relation"].items()
    ]
    body.append(["all", "", *(ds["per_split"][s] for s in SPLITS), ds["facts_out"]])
    out += _table(["relation", "name", *SPLITS, "total"], body)
    out += ["", "## Facts per language and split", ""]
    out += _table(
        ["language", *SPLITS], [[lang, *(c[s] for s in SPLITS)] for lang, c in report["per_language"].items()]
    )
    out += ["", "## Quality filters (applied in this order; facts removed in all languages)", ""]
    out += _table(["filter", "facts removed"], [[r["filter"], r["facts"]] for r in ds["removed"]])
    out += ["", "## Model-free baselines (test split; accuracy)", ""]
    b = report["baselines"]
    keys = ["chance", "train_gold_prior", "longest_option", "shortest_option", "most_common_position"]
    body = [[lang, *(v[k] for k in keys)] for lang, v in b["per_language"].items()]
    body.append(["mean", *(b["mean"][k] for k in keys)])
    out += _table(["language", *keys], body)
    out += ["", "Gold position balance (test split):", ""]
    out += _table(
        ["language", "A", "B", "C", "D"],
        [[lang, *v["position_balance"].values()] for lang, v in b["per_language"].items()],
    )
    out.append("")
    return "\n".join(out)


def write_report(report: Mapping[str, Any], md_path: str | Path, json_path: str | Path) -> None:
    write_json(json_path, report)
    with atomic_path(md_path) as tmp:
        tmp.write_text(render_markdown(report), encoding="utf-8")
