"""The paper's published numbers beside ours (results/tables/paper_comparison.{md,csv}).

Published values live in config/published/*.yaml, one file per source table, each saying
where its numbers come from (`source`) and in which unit they are written (`unit`: the
paper's percent, or fractions). They are converted to fractions once, when loaded; from
then on everything is in our unit, and the markdown only formats it as percent.

Ours come from the evaluation files (results/eval/{model}/{method}/{benchmark}.json): every
compared metric is the mean over facts of a per-fact value, so a percentile bootstrap over
facts (all languages of a fact resampled together) gives its 95% CI, and the question "does
our run reproduce the paper?" becomes "does the published value lie inside our CI?".
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from polyfact.errors import PolyfactError
from polyfact.evaluate.metrics import bootstrap_means, fact_table
from polyfact.evaluate.summary import Groups, per_fact_metrics
from polyfact.io import read_json, write_text
from polyfact.markdown import table

# Scale of each unit a published file may be written in, relative to our fractions.
UNITS = {"percent": 100.0, "fraction": 1.0}
SOURCE_KINDS = ("paper", "repository")
# Metrics a published value may name: each is the mean over facts of a per-fact vector.
METRICS = {
    "accuracy_mean": "accuracy (mean over languages)",
    "accuracy_non_en": "accuracy, mean over non-English languages",
    "accuracy_high": "accuracy, high-resource",
    "accuracy_low": "accuracy, low-resource",
    "accuracy_seen": "accuracy, seen (trained) languages",
    "accuracy_unseen": "accuracy, unseen (OOD) languages",
    "totcons": "TotCons",
    "rankc": "RankC",
    "rankc_rescaled": "RankC rescaled",
    "agreement": "pairwise agreement",
}
# The benchmark a source reports -> our evaluations it is compared with, closest first. The
# paper evaluated the original PolyFact, i.e. the released dataset (`polyfact-released`); our
# rebuilt PolyFact (`polyfact`) is the reproduction, compared too.
BENCHMARKS = {
    "polyfact": ("polyfact-released", "polyfact"),
    "klar": ("klar",),
    "global-mmlu": ("global-mmlu",),
    "global-mmlu-lite": ("global-mmlu-lite",),
}
NOT_RUN, NOT_PUBLISHED, UNDEFINED, INSIDE, OUTSIDE = "not run", "not published", "undefined", "inside", "outside"
CSV_COLUMNS = [
    "model",
    "method",
    "benchmark",
    "metric",
    "source",
    "published",
    "published_ci_low",
    "published_ci_high",
    "ours",
    "ci_low",
    "ci_high",
    "facts",
    "status",
]
_NAME = re.compile(r"^[A-Za-z0-9][\w.+-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Source:
    """Where a published file's numbers come from (shown under the table)."""

    key: str  # the file's stem
    kind: str
    reference: str
    table: str
    commit: str | None = None


@dataclass(frozen=True)
class Published:
    """One published value, in fractions (converted from the file's unit on loading)."""

    model: str
    method: str
    benchmark: str  # the source's benchmark, a key of BENCHMARKS
    metric: str
    value: float
    ci: tuple[float, float] | None
    source: Source


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys: PyYAML would silently keep the last one, and
    a model or method named twice in a published file would drop a value unnoticed."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise PolyfactError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise PolyfactError(f"{where}: expected a non-empty mapping, got {value!r}")
    return value


def _number(value: Any, scale: float, where: str) -> float:
    """A published number in the file's unit -> a fraction; it must lie within [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PolyfactError(f"{where}: not a number: {value!r}")
    if not 0 <= value <= scale:
        raise PolyfactError(f"{where}: {value} is outside [0, {scale:g}] for the file's unit")
    return float(value) / scale


def parse_source(raw: Any, key: str, where: str) -> Source:
    """The `source` block: kind, reference and table are required, so no value is unsourced."""
    src = _mapping(raw, f"{where}: source")
    unknown = set(src) - {"kind", "reference", "table", "commit"}
    if unknown:
        raise PolyfactError(f"{where}: source has unknown keys {sorted(unknown)}")
    if src.get("kind") not in SOURCE_KINDS:
        raise PolyfactError(f"{where}: source.kind must be one of {SOURCE_KINDS}, got {src.get('kind')!r}")
    for field in ("reference", "table"):
        if not isinstance(src.get(field), str) or not src[field].strip():
            raise PolyfactError(f"{where}: source.{field} must say where the values come from")
    commit = src.get("commit")
    if commit is not None and not (isinstance(commit, str) and _COMMIT.match(commit)):
        raise PolyfactError(f"{where}: source.commit must be a 40-hex commit, got {commit!r}")
    return Source(key, src["kind"], src["reference"].strip(), src["table"].strip(), commit)


def _entry(raw: Any, scale: float, where: str) -> tuple[float, tuple[float, float] | None]:
    """A value: a bare number, or {value, ci: [low, high]} with the source's own CI."""
    if not isinstance(raw, Mapping):
        return _number(raw, scale, where), None
    unknown = set(raw) - {"value", "ci"}
    if unknown or "value" not in raw:
        raise PolyfactError(f"{where}: expected a number or {{value, ci}}, got keys {sorted(raw)}")
    value = _number(raw["value"], scale, where)
    if "ci" not in raw:
        return value, None
    ci = raw["ci"]
    if not isinstance(ci, list) or len(ci) != 2:
        raise PolyfactError(f"{where}: ci must be [low, high], got {ci!r}")
    low, high = (_number(v, scale, f"{where}.ci") for v in ci)
    if not low <= value <= high:
        raise PolyfactError(f"{where}: value {raw['value']} is not inside its ci {ci}")
    return value, (low, high)


def parse_published(data: Any, key: str, where: str) -> list[Published]:
    """Validate one published file's content (see config/published) into fraction values."""
    top = _mapping(data, where)
    unknown = set(top) - {"source", "unit", "values"}
    if unknown or not {"source", "unit", "values"} <= set(top):
        raise PolyfactError(f"{where}: expected keys source, unit, values; got {sorted(top)}")
    source = parse_source(top["source"], key, where)
    if top["unit"] not in UNITS:
        raise PolyfactError(f"{where}: unit must be one of {sorted(UNITS)}, got {top['unit']!r}")
    scale = UNITS[top["unit"]]
    out = []
    for benchmark, models in _mapping(top["values"], f"{where}: values").items():
        if benchmark not in BENCHMARKS:
            raise PolyfactError(f"{where}: unknown benchmark {benchmark!r}; known: {sorted(BENCHMARKS)}")
        for model, methods in _mapping(models, f"{where}: {benchmark}").items():
            for method, metrics in _mapping(methods, f"{where}: {benchmark}.{model}").items():
                for name in (model, method):
                    if not isinstance(name, str) or not _NAME.match(name):
                        raise PolyfactError(f"{where}: {benchmark}: bad model or method name {name!r}")
                for metric, raw in _mapping(metrics, f"{where}: {benchmark}.{model}.{method}").items():
                    item = f"{where}: {benchmark}.{model}.{method}.{metric}"
                    if metric not in METRICS:
                        raise PolyfactError(f"{item}: unknown metric; known: {sorted(METRICS)}")
                    value, ci = _entry(raw, scale, item)
                    out.append(Published(model, method, benchmark, metric, value, ci, source))
    return out


def load_published(directory: str | Path) -> list[Published]:
    """Every value of every config/published/*.yaml, sorted by file name."""
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise PolyfactError(f"{directory}: no published-value files (*.yaml)")
    values = []
    for path in files:
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (safe loader)
        except yaml.YAMLError as err:
            raise PolyfactError(f"{path}: not valid YAML: {err}") from None
        except PolyfactError as err:
            raise PolyfactError(f"{path}: {err}") from None
        values += parse_published(data, path.stem, str(path))
    return values


def eval_key(path: str | Path) -> tuple[str, str, str]:
    """(model, method, benchmark) from results/eval/{model}/{method}/{benchmark}.json (kept
    here, not imported from the main table's module, so this report's code digest does not
    follow the main table's code)."""
    p = Path(path)
    return p.parent.parent.name, p.parent.name, p.stem


def metric_vectors(path: str | Path) -> dict[str, np.ndarray]:
    """Per-fact vectors of every METRICS entry one evaluation defines (facts answered in
    every language): group accuracies use the file's own language groups, and a group that
    holds every language is the plain mean."""
    data = read_json(path)
    try:
        s, predictions = data["summary"], data["predictions"]
        groups = {name: g["languages"] for name, g in s["groups"].items()}
        facts = fact_table(predictions, s["languages"])
    except (KeyError, TypeError) as err:
        raise PolyfactError(f"{path}: not an evaluation file (missing {err})") from None
    correct = facts.correct.astype(float)
    out = {"accuracy_mean": correct.mean(axis=1)}
    for name in ("high", "low", "seen", "unseen"):
        cols = [facts.languages.index(lang) for lang in groups.get(name, []) if lang in facts.languages]
        if cols:
            out[f"accuracy_{name}"] = correct[:, cols].mean(axis=1)
    derived = per_fact_metrics(facts, Groups(**{k: groups.get(k, []) for k in ("high", "low", "seen", "unseen")}))
    out |= {
        m: derived[m] for m in ("accuracy_non_en", "totcons", "rankc", "rankc_rescaled", "agreement") if m in derived
    }
    return out


def mean_ci(values: np.ndarray, resamples: int, seed: int) -> dict[str, float | int] | None:
    """Mean over facts and its 95% percentile bootstrap CI (facts with the value undefined
    left out); None when no fact defines it. The same resampling as the significance test."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return None
    means = bootstrap_means(v, resamples, seed)
    return {
        "ours": float(v.mean()),
        "ci_low": float(np.percentile(means, 2.5)),
        "ci_high": float(np.percentile(means, 97.5)),
        "facts": int(v.size),
    }


def status(published: float | None, ours: Mapping[str, Any] | None) -> str:
    """inside / outside our CI, or why there is nothing to compare."""
    if published is None:
        return NOT_PUBLISHED
    if ours is None:
        return UNDEFINED
    return INSIDE if ours["ci_low"] <= published <= ours["ci_high"] else OUTSIDE


def _row(model: str, method: str, benchmark: str, metric: str, p: Published | None, ours: Any) -> dict[str, Any]:
    return {
        "model": model,
        "method": method,
        "benchmark": benchmark,
        "metric": metric,
        "source": p.source.key if p else None,
        "published": p.value if p else None,
        "published_ci_low": p.ci[0] if p and p.ci else None,
        "published_ci_high": p.ci[1] if p and p.ci else None,
        **{k: (ours or {}).get(k) for k in ("ours", "ci_low", "ci_high", "facts")},
    }


def comparison_rows(
    eval_files: Iterable[str | Path], published: Sequence[Published], resamples: int, seed: int
) -> list[dict[str, Any]]:
    """One row per published value and each of our benchmarks it maps to (ours with CI, or
    "not run"), plus one row per metric the sources publish for a benchmark that one of our
    evaluations has but no source gives ("not published")."""
    evals = {eval_key(path): Path(path) for path in eval_files}
    vectors: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}
    cache: dict[tuple[tuple[str, str, str], str], Any] = {}

    def ours(key: tuple[str, str, str], metric: str) -> Any:
        if (key, metric) not in cache:
            if key not in vectors:
                vectors[key] = metric_vectors(evals[key])
            vec = vectors[key].get(metric)
            cache[(key, metric)] = None if vec is None else mean_ci(vec, resamples, seed)
        return cache[(key, metric)]

    rows, covered = [], set()
    for p in published:
        for benchmark in BENCHMARKS[p.benchmark]:
            key = (p.model, p.method, benchmark)
            covered.add((*key, p.metric))
            if key not in evals:
                rows.append(_row(*key, p.metric, p, None) | {"status": NOT_RUN})
                continue
            result = ours(key, p.metric)
            rows.append(_row(*key, p.metric, p, result) | {"status": status(p.value, result)})
    published_metrics: dict[str, list[str]] = {}
    for p in published:
        for benchmark in BENCHMARKS[p.benchmark]:
            published_metrics.setdefault(benchmark, [])
            if p.metric not in published_metrics[benchmark]:
                published_metrics[benchmark].append(p.metric)
    for key in evals:
        for metric in published_metrics.get(key[2], []):
            if (*key, metric) not in covered:
                result = ours(key, metric)
                rows.append(_row(*key, metric, None, result) | {"status": status(None, result)})
    return sort_rows(rows)


def sort_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Model and method in first-seen order, then benchmark, metric (METRICS order), source."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    metrics = list(METRICS)
    return sorted(
        rows,
        key=lambda r: (
            models.index(r["model"]),
            methods.index(r["method"]),
            r["benchmark"],
            metrics.index(r["metric"]),
            r["source"] or "",
        ),
    )


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.2f}"


def render_markdown(rows: Sequence[Mapping[str, Any]], sources: Sequence[Source]) -> str:
    """The comparison table (values as percent) with a count per status and the sources."""
    counts = {s: sum(r["status"] == s for r in rows) for s in (INSIDE, OUTSIDE, UNDEFINED, NOT_RUN, NOT_PUBLISHED)}
    body = []
    for r in rows:
        published = _pct(r["published"])
        if published and r["published_ci_low"] is not None:
            published += f" [{_pct(r['published_ci_low'])}, {_pct(r['published_ci_high'])}]"
        ci = f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]" if r["ci_low"] is not None else None
        body.append(
            [
                r["model"],
                r["method"],
                r["benchmark"],
                METRICS[r["metric"]],
                published or NOT_PUBLISHED,
                f"`{r['source']}`" if r["source"] else None,
                _pct(r["ours"]) or (NOT_RUN if r["status"] == NOT_RUN else UNDEFINED),
                ci,
                r["facts"],
                r["status"],
            ]
        )
    header = [
        "model",
        "method",
        "benchmark",
        "metric",
        "published (%)",
        "source",
        "ours (%)",
        "95% CI",
        "facts",
        "result",
    ]
    lines = [
        "# The paper's published numbers beside ours",
        "",
        "Published values in percent as their source writes them (with the source's own 95% CI",
        "where it gives one); ours: the mean over facts with a 95% percentile bootstrap CI over",
        "facts (all languages of a fact resampled together). `inside`: the published value lies",
        "in our CI. `not run`: published, but we have no such evaluation; `not published`: we",
        "evaluated it, no source gives it; `undefined`: no fact defines the metric in our run.",
        "The paper's PolyFact numbers are compared with our run on the released PolyFact",
        "(`polyfact-released`) and on our rebuilt PolyFact (`polyfact`).",
        "",
        "Counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".",
        "",
        *table(header, body),
        "",
        "## Sources",
        "",
    ]
    for s in sources:
        at = f" @ {s.commit[:12]}" if s.commit else ""
        lines.append(f"- `{s.key}` ({s.kind}): {s.reference}{at}; {s.table}.")
    return "\n".join(lines) + "\n"


def render_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """All values as fractions (our unit), like results/tables/main.csv."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_comparison(
    eval_files: Sequence[str | Path],
    published_dir: str | Path,
    resamples: int,
    seed: int,
    md: str | Path,
    csv_path: str | Path,
) -> list[dict[str, Any]]:
    """results/tables/paper_comparison.{md,csv} from the evaluations and config/published."""
    published = load_published(published_dir)
    rows = comparison_rows(eval_files, published, resamples, seed)
    sources = list({p.source.key: p.source for p in published}.values())
    write_text(md, render_markdown(rows, sources))
    write_text(csv_path, render_csv(rows))
    return rows
