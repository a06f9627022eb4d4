"""Results tables across models, methods and benchmarks: the main table (accuracy high/low,
TotCons, RankC, agreement, KLAR seen/OOD) and the significance table (paired bootstrap of
every method vs base, GRPO vs SFT and DCO / CM-Align vs GRPO)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyfact.errors import PolyfactError
from polyfact.evaluate.metrics import fact_table, paired_bootstrap
from polyfact.evaluate.summary import Groups, per_fact_metrics
from polyfact.io import read_json, write_json, write_text
from polyfact.markdown import table

MAIN_COLUMNS = {
    "model": "model",
    "method": "method",
    "checkpoint": "checkpoint",
    "accuracy_high": "acc high",
    "accuracy_low": "acc low",
    "accuracy_unseen": "acc unseen",
    "totcons": "TotCons",
    "rankc": "RankC",
    "rankc_rescaled": "RankC resc.",
    "agreement": "agreement",
    "klar_seen": "KLAR seen",
    "klar_ood": "KLAR OOD",
    "klar_all": "KLAR all",
    "klar_decontaminated": "KLAR decont.",
    "klar_contaminated": "KLAR contam.",
    "klar_clean_shared": "KLAR clean-shared",
    "klar_non_shared": "KLAR non-shared",
    "released_accuracy": "released acc",
    "released_totcons": "released TotCons",
    **{
        f"{prefix}_{metric}": f"{label} {name}"
        for prefix, label in (("gmmlu", "Global-MMLU"), ("gmmlu_lite", "Global-MMLU-Lite"))
        for metric, name in (("high", "high"), ("low", "low"), ("totcons", "TotCons"), ("rankc", "RankC"))
    },
}
# Global-MMLU(-Lite) evaluations (evaluation.global_mmlu.sets) -> the prefix of their columns,
# which the tables (also main.csv) carry only when a row has them.
GLOBAL_MMLU_PREFIXES = {"global-mmlu": "gmmlu", "global-mmlu-lite": "gmmlu_lite"}
GLOBAL_MMLU_COLUMNS = tuple(c for c in MAIN_COLUMNS if c.split("_")[0] == "gmmlu")
# Method pairs compared besides "method vs base": GRPO's consistency reward against SFT, and
# the published consistency methods (DCO, CM-Align) against GRPO, also after CPT.
VERSUS = (
    ("grpo", "sft"),
    ("cpt+grpo", "cpt+sft"),
    ("dco", "grpo"),
    ("cmalign", "grpo"),
    ("cpt+dco", "cpt+grpo"),
    ("cpt+cmalign", "cpt+grpo"),
)


def eval_key(path: str | Path) -> tuple[str, str, str]:
    """(model, method, benchmark) from results/eval/{model}/{method}/{benchmark}.json."""
    p = Path(path)
    return p.parent.parent.name, p.parent.name, p.stem


def checkpoint_label(stats: Mapping[str, Any] | None) -> str | None:
    """How the main table names the checkpoint a model is, from its train_stats.json: `final
    (step 40)`, or for one chosen by polyfact.train.select `step 20 of 40 (val totcons 0.412)`;
    None for an untrained model."""
    checkpoint = (stats or {}).get("checkpoint")
    if not checkpoint:
        return None
    step = checkpoint.get("step")
    if "selected_by" not in checkpoint:
        return f"final (step {step})"
    score = checkpoint["scores"][checkpoint["candidate"]]
    if checkpoint["candidate"] == "final":
        where = f"final (step {step})"
    else:
        where = f"step {step} of {checkpoint.get('final_step')}"
    return f"{where} (val {checkpoint['selected_by']} {score:.3f})"


def main_rows(eval_files: Sequence[str | Path], model_dirs: Sequence[str | Path] = ()) -> list[dict[str, Any]]:
    """One row per model × method, in the order the files first name them; `model_dirs`
    (results/models/{model}/{method}) name the checkpoint each row evaluated."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    checkpoints = {}
    for d in model_dirs:
        stats = Path(d, "train_stats.json")
        checkpoints[(Path(d).parent.name, Path(d).name)] = checkpoint_label(
            read_json(stats) if stats.is_file() else None
        )
    for path in eval_files:
        model, method, benchmark = eval_key(path)
        s = read_json(path)["summary"]
        row = rows.setdefault(
            (model, method), {"model": model, "method": method, "checkpoint": checkpoints.get((model, method))}
        )
        if benchmark == "polyfact":
            row.update(
                accuracy_high=s["accuracy_high"],
                accuracy_low=s["accuracy_low"],
                accuracy_unseen=s["groups"]["unseen"]["accuracy"],
                # For the findings sentences only; absent from hand-written summaries.
                accuracy_non_en=s.get("accuracy_non_en_mean"),
                accuracy_mean=s.get("accuracy_mean"),
                totcons=s["totcons"],
                rankc=s["rankc"]["all_pairs"],
                rankc_rescaled=s["rankc"]["all_pairs_rescaled"],
                agreement=s["agreement"],
            )
        elif benchmark == "klar":
            row.update(klar_seen=s["groups"]["seen"]["accuracy"], klar_ood=s["groups"]["unseen"]["accuracy"])
            row.update(klar_columns(s.get("contamination")))
        elif benchmark == "polyfact-released":
            row.update(released_accuracy=s["accuracy_mean"], released_totcons=s["totcons"])
            row["released_aligned"] = s["data"]["alignment"].get("per_language")
        elif benchmark in GLOBAL_MMLU_PREFIXES:
            row.update(global_mmlu_columns(GLOBAL_MMLU_PREFIXES[benchmark], s))
        else:
            raise PolyfactError(f"{path}: unknown benchmark {benchmark!r}")
    return list(rows.values())


def global_mmlu_columns(prefix: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    """A Global-MMLU(-Lite) evaluation's columns: the mean accuracy over its high and its low
    languages (those of the set's evaluated languages; None for a group with none), TotCons
    and RankC over the questions every language has."""
    return {
        f"{prefix}_high": summary["accuracy_high"],
        f"{prefix}_low": summary["accuracy_low"],
        f"{prefix}_totcons": summary["totcons"],
        f"{prefix}_rankc": summary["rankc"]["all_pairs"],
    }


KLAR_CONTAMINATION_COLUMNS = (
    "klar_all",
    "klar_decontaminated",
    "klar_contaminated",
    "klar_clean_shared",
    "klar_non_shared",
)


def klar_columns(contamination: Mapping[str, Any] | None) -> dict[str, Any]:
    """The KLAR scores beside the headline, from the summary's `contamination` section (None
    when the run had no training records to compare with: the columns stay empty)."""
    if not contamination:
        return dict.fromkeys(KLAR_CONTAMINATION_COLUMNS)
    subsets = contamination["subsets"]
    return {
        "klar_all": contamination["undecontaminated"]["all"],
        "klar_decontaminated": contamination["decontaminated"]["all"],
        "klar_contaminated": subsets["contaminated"]["accuracy"],
        "klar_clean_shared": subsets["clean_shared"]["accuracy"],
        "klar_non_shared": subsets["non_shared"]["accuracy"],
    }


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The main columns, dropping optional ones no row has (no unseen language, no released
    benchmark); KLAR's stay, as "–" when no KLAR directory is configured."""
    always = {
        "model",
        "method",
        "checkpoint",
        "accuracy_high",
        "accuracy_low",
        "totcons",
        "rankc",
        "agreement",
        "klar_seen",
        "klar_ood",
        *KLAR_CONTAMINATION_COLUMNS,
    }
    return [
        c
        for c in MAIN_COLUMNS
        if c in always
        or any(r.get(c) is not None for r in rows)
        or (c in GLOBAL_MMLU_COLUMNS and any(c in r for r in rows))
    ]


def csv_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """main.csv's columns: every main column, the Global-MMLU(-Lite) ones when evaluated."""
    return [c for c in MAIN_COLUMNS if c not in GLOBAL_MMLU_COLUMNS or any(c in r for r in rows)]


def render_main_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    cols = _columns(rows)
    lines = [
        "# Main results",
        "",
        "PolyFact test split unless the column says otherwise. Accuracy means are unweighted over",
        "languages (high / low resource; unseen = evaluated but not trained on). TotCons: share of",
        "facts right in every language. RankC: mean over language pairs (rescaled: the N=4 floor",
        "maps to 0). Agreement: same top-1 option entity, mean over pairs. KLAR: 3-shot generation",
        "accuracy over seen (trained) and OOD languages (– without `evaluation.klar.dir`), the",
        "headline (decontaminated or not: `evaluation.klar.decontaminate`). Beside it, over all KLAR",
        "languages: every fact (all), without the facts trained on (decont.), and the authors'",
        "breakdown: facts trained on (contam.), untrained facts of trained relations (clean-shared),",
        "relations never trained (non-shared). Checkpoint: the training step evaluated; a run",
        "keeping intermediate steps is scored on the val split and the best by",
        "`evaluation.select_by` is used (– for an untrained model).",
        "",
        *global_mmlu_lines(cols),
        *table([MAIN_COLUMNS[c] for c in cols], [[r.get(c) for c in cols] for r in rows]),
        *released_alignment_lines(rows),
        *findings_lines(rows),
    ]
    return "\n".join(lines) + "\n"


SMALL_CHANGE = 0.02
"""A change in mean accuracy below this (absolute) counts as "small" (the paper's claim for CPT)."""


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _versus(row: Mapping[str, Any], ref: Mapping[str, Any], key: str) -> float | None:
    a, b = row.get(key), ref.get(key)
    return None if a is None or b is None else a - b


def method_finding(row: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]]) -> str | None:
    """One sentence: the method's measured change against base (non-English accuracy, TotCons,
    unseen languages) and, where the paper makes a claim about it, whether the claim holds here
    (GRPO ≥ SFT on TotCons and on unseen languages; CPT's effect small)."""
    base = rows.get("base")
    method = row["method"]
    if base is None or row.get("accuracy_non_en") is None:
        return None
    changes = [
        f"non-English accuracy {_signed(_versus(row, base, 'accuracy_non_en'))}",
        f"TotCons {_signed(_versus(row, base, 'totcons'))}",
    ]
    if row.get("accuracy_unseen") is not None and base.get("accuracy_unseen") is not None:
        changes.append(f"unseen-language accuracy {_signed(_versus(row, base, 'accuracy_unseen'))}")
    sentence = f"**{method}** vs base: {', '.join(changes)}."
    last = method.rsplit("+", 1)
    sft = rows.get("+".join([*last[:-1], "sft"]))
    if last[-1] == "grpo" and sft is not None:
        holds = [
            f"{name} {row[key]:.3f} vs {sft[key]:.3f} ({'holds' if row[key] >= sft[key] else 'does not hold'})"
            for key, name in (("totcons", "TotCons"), ("accuracy_unseen", "unseen"))
            if row.get(key) is not None and sft.get(key) is not None
        ]
        sentence += f" Paper: GRPO ≥ SFT; here against {sft['method']}: {'; '.join(holds)}."
    elif method == "cpt" and (change := _versus(row, base, "accuracy_mean")) is not None:
        verdict = "holds" if abs(change) < SMALL_CHANGE else "does not hold"
        sentence += (
            f" Paper: CPT's effect is small; here mean accuracy {_signed(change)} ({verdict}, |Δ| < {SMALL_CHANGE})."
        )
    return sentence


def findings_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per model, one sentence per method against base and the paper's claims (point
    estimates: the significance table has their CIs)."""
    lines: list[str] = []
    for model in dict.fromkeys(r["model"] for r in rows):
        by_method = {r["method"]: r for r in rows if r["model"] == model}
        found = [f for r in by_method.values() if r["method"] != "base" and (f := method_finding(r, by_method))]
        if found:
            lines += ["", f"Findings, {model} (point estimates; significance.md has the CIs):", ""]
            lines += [f"- {f}" for f in found]
    return lines


def global_mmlu_lines(columns: Sequence[str]) -> list[str]:
    """What the Global-MMLU(-Lite) columns mean, when the table has them."""
    if not any(c in GLOBAL_MMLU_COLUMNS for c in columns):
        return []
    return [
        "Global-MMLU(-Lite) (`evaluation.global_mmlu`): 0-shot, the answer letters scored after the",
        "lettered options (`scoring: letter`) or each option's text (`option`); accuracy means over",
        "the high / low languages the set has (Lite has no ru); TotCons and RankC over the",
        "questions every evaluated language has, options compared by letter.",
        "",
    ]


def released_alignment_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per language, the released PolyFact's rows whose options aligned to the other
    languages' (only those count in RankC and agreement), for every row that evaluated it."""
    aligned = [r for r in rows if r.get("released_aligned")]
    if not aligned:
        return []
    languages = list(dict.fromkeys(lang for r in aligned for lang in r["released_aligned"]))
    body = [
        [r["model"], r["method"]]
        + [f"{c['aligned']}/{c['rows']}" if (c := r["released_aligned"].get(lang)) else None for lang in languages]
        for r in aligned
    ]
    return [
        "",
        "## Released PolyFact: options aligned across languages",
        "",
        "Rows per language whose options were matched to the other languages' entities (by option",
        "ids, text, or `evaluation.released.align: embedding`); only these enter RankC and agreement.",
        "",
        *table(["model", "method", *languages], body),
    ]


def render_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_main_table(rows: Sequence[Mapping[str, Any]], md: str | Path, csv_path: str | Path) -> None:
    write_text(md, render_main_markdown(rows))
    write_text(csv_path, render_csv(rows, csv_columns(rows)))


def _fact_metrics(path: str | Path) -> tuple[list[str], dict[str, Any]]:
    """Per-fact metric vectors of one evaluation, with its own language groups."""
    data = read_json(path)
    s = data["summary"]
    groups = Groups(**{name: g["languages"] for name, g in s["groups"].items()})
    table = fact_table(data["predictions"], s["languages"])
    return table.facts, per_fact_metrics(table, groups)


def comparisons(methods: Sequence[str]) -> list[tuple[str, str]]:
    """(method, reference) pairs: every method vs base, GRPO vs SFT and DCO / CM-Align vs GRPO
    (also after CPT)."""
    pairs = [(m, "base") for m in methods if m != "base" and "base" in methods]
    return pairs + [(a, b) for a, b in VERSUS if a in methods and b in methods]


def significance_rows(eval_files: Sequence[str | Path], resamples: int, seed: int) -> list[dict[str, Any]]:
    """Paired bootstrap over facts per model, benchmark, comparison and metric."""
    by_run: dict[tuple[str, str], dict[str, Path]] = {}
    for path in eval_files:
        model, method, benchmark = eval_key(path)
        by_run.setdefault((model, benchmark), {})[method] = Path(path)
    rows = []
    for (model, benchmark), files in by_run.items():
        loaded = {method: _fact_metrics(path) for method, path in files.items()}
        for method, reference in comparisons(list(files)):
            (facts_a, a), (facts_b, b) = loaded[reference], loaded[method]
            if facts_a != facts_b:
                raise PolyfactError(f"{files[method]} and {files[reference]} evaluate different facts")
            for metric in (m for m in a if m in b):
                if np.isnan(a[metric]).all() or np.isnan(b[metric]).all():
                    continue  # e.g. RankC on released data whose options never aligned
                result = paired_bootstrap(a[metric], b[metric], resamples=resamples, seed=seed)
                rows.append(
                    {"model": model, "benchmark": benchmark, "method": method, "reference": reference}
                    | {"metric": metric}
                    | result
                )
    return rows


def render_significance_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "# Significance",
        "",
        "Paired bootstrap over facts (all languages of a fact resampled together): the",
        "difference method − reference of each metric's mean over facts, its 95% percentile CI",
        "and two-sided p. `*` marks p < 0.05.",
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        resamples = mine[0]["resamples"] if mine else 0
        body = [
            [
                r["benchmark"],
                f"{r['method']} vs {r['reference']}",
                r["metric"],
                f"{r['difference']:+.3f}",
                f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]",
                f"{r['p_value']:.4f}" + ("*" if r["p_value"] < 0.05 else ""),
                r["facts"],
            ]
            for r in mine
        ]
        header = ["benchmark", "comparison", "metric", "Δ", "95% CI", "p", "facts"]
        lines += ["", f"## {model} ({resamples} resamples)", "", *table(header, body)]
    return "\n".join(lines) + "\n"


def write_significance(rows: Sequence[Mapping[str, Any]], md: str | Path, json_path: str | Path) -> None:
    write_json(json_path, {"comparisons": list(rows)})
    write_text(md, render_significance_markdown(rows))
