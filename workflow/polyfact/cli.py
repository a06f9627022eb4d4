"""The one command-line entry point: `polyfact <command> ...`. Thin adapters over the library."""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from polyfact.errors import PolyfactError
from polyfact.languages import LANGUAGES
from polyfact.relations import relation_name

log = logging.getLogger("polyfact")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _languages(value: str) -> list[str]:
    langs = _csv(value)
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown languages {unknown}; known: {','.join(LANGUAGES)}")
    return langs


def _relations(value: str) -> list[str]:
    pids = _csv(value)
    try:
        for pid in pids:
            relation_name(pid)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return pids


def cmd_extract(args: argparse.Namespace) -> None:
    from polyfact.facts import facts_frame, filter_min_label_langs, sample_round_robin, write_facts
    from polyfact.io import write_json

    stats: dict[str, Any] = {"source": args.source}
    if args.source == "wikidata-dump":
        from polyfact.wikidata.dump import extract_dump

        if not args.input:
            raise SystemExit("polyfact extract: --input DUMP is required for --source wikidata-dump")
        facts, dump_stats = extract_dump(
            args.input,
            args.relations,
            args.languages,
            args.min_label_langs,
            max_candidates_per_relation=args.max_candidates_per_relation,
            seed=args.seed,
            workers=args.workers,
            progress=not args.no_progress,
        )
        for key, value in dump_stats.as_dict().items():
            if isinstance(value, dict):  # per-relation counters: one flat entry each
                stats.update({f"dump_{key}_{pid}": n for pid, n in value.items()})
            else:
                stats[f"dump_{key}"] = value
    elif args.source == "wikidata-sparql":
        from polyfact.wikidata.sparql import SparqlClient, extract_sparql

        client = SparqlClient(
            endpoint=args.endpoint,
            cache_dir=args.cache_dir,
            min_interval_s=args.min_interval_s,
            max_retries=args.max_retries,
        )
        facts = extract_sparql(
            args.relations,
            args.languages,
            args.min_label_langs,
            client=client,
            limit_per_relation=args.limit_per_relation,
            batch_size=args.batch_size,
        )
    else:
        from polyfact.cldr import extract_cldr

        facts = extract_cldr(args.relations, args.languages)

    df = facts_frame(facts, args.languages)
    stats["facts_extracted"] = len(df)
    df = filter_min_label_langs(df, args.languages, args.min_label_langs)
    stats["facts_with_min_labels"] = len(df)
    df = sample_round_robin(df, args.relations, args.max_facts, args.seed)
    stats["facts_written"] = len(df)
    for pid, n in sorted(Counter(df["property_id"]).items()):
        stats[f"facts_{pid}"] = n
    if df.empty:
        raise SystemExit(f"polyfact extract: no facts for relations {args.relations} survived extraction")
    if args.stats_out:
        write_json(args.stats_out, stats)
    write_facts(df, args.out)
    log.info("wrote %d facts to %s", len(df), args.out)


def cmd_dataset_build(args: argparse.Namespace) -> None:
    from polyfact.dataset.build import build_dataset, write_dataset
    from polyfact.dataset.templates import load_templates
    from polyfact.facts import read_facts

    fractions = dict(zip(("train", "val", "test"), args.splits, strict=True))
    result = build_dataset(
        read_facts(args.facts),
        load_templates(args.templates, args.languages),
        args.languages,
        args.relations,
        fractions,
        args.max_answer_share,
        args.seed,
    )
    if not result.stats["facts_out"]:
        raise SystemExit(f"polyfact dataset build: every fact was filtered out: {result.stats['removed']}")
    write_dataset(result, args.out_dir)
    log.info("dataset: %d facts -> %s (%s)", result.stats["facts_out"], args.out_dir, result.stats["per_split"])


def cmd_dataset_export_hf(args: argparse.Namespace) -> None:
    from polyfact.dataset.export import export_hf

    export_hf(args.data_dir, args.languages, args.out)


def cmd_dataset_report(args: argparse.Namespace) -> None:
    from polyfact.dataset.report import data_report, write_report
    from polyfact.io import read_json

    facts_stats = read_json(args.facts_stats) if args.facts_stats else None
    write_report(data_report(args.data_dir, args.languages, facts_stats), args.md, args.json)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyfact", description=__doc__)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
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
    ex.add_argument("--no-progress", action="store_true")
    ex.add_argument("--endpoint", default="https://query.wikidata.org/sparql")
    ex.add_argument("--cache-dir", default="results/cache/sparql")
    ex.add_argument("--limit-per-relation", type=int, default=1000)
    ex.add_argument("--batch-size", type=int, default=200)
    ex.add_argument("--min-interval-s", type=float, default=1.0)
    ex.add_argument("--max-retries", type=int, default=5)
    ex.add_argument("--stats-out", help="write extraction statistics (JSON) here")
    ex.add_argument("--out", required=True, help="facts table (.parquet)")
    ex.set_defaults(func=cmd_extract)

    ds = sub.add_parser("dataset", help="build, export and report the PolyFact dataset")
    dsub = ds.add_subparsers(dest="dataset_command", required=True)
    b = dsub.add_parser("build", help="facts -> filtered multiple-choice items in every language, split")
    b.add_argument("--facts", required=True)
    b.add_argument("--templates", required=True, help="directory of {lang}.yaml question templates")
    b.add_argument("--languages", required=True, type=_languages)
    b.add_argument("--relations", required=True, type=_relations)
    b.add_argument("--splits", type=float, nargs=3, default=[0.8, 0.1, 0.1], metavar=("TRAIN", "VAL", "TEST"))
    b.add_argument("--max-answer-share", type=float, default=0.4)
    b.add_argument("--seed", type=int, default=1234)
    b.add_argument("--out-dir", required=True)
    b.set_defaults(func=cmd_dataset_build)

    e = dsub.add_parser("export-hf", help="save the JSONL splits as Hugging Face datasets")
    e.add_argument("--data-dir", required=True)
    e.add_argument("--languages", required=True, type=_languages)
    e.add_argument("--out", required=True)
    e.set_defaults(func=cmd_dataset_export_hf)

    r = dsub.add_parser("report", help="data report: counts, filter removals, model-free baselines")
    r.add_argument("--data-dir", required=True)
    r.add_argument("--languages", required=True, type=_languages)
    r.add_argument("--facts-stats", help="extraction statistics JSON from `polyfact extract`")
    r.add_argument("--md", required=True)
    r.add_argument("--json", required=True)
    r.set_defaults(func=cmd_dataset_report)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        args.func(args)
    except PolyfactError as err:
        log.error("%s", err)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
