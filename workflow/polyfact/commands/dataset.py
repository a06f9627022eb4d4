"""`polyfact dataset build|export-hf|report`."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def dataset_build(args: argparse.Namespace) -> None:
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
        distractors=args.distractors,
    )
    if not result.stats["facts_out"]:
        raise SystemExit(f"polyfact dataset build: every fact was filtered out: {result.stats['removed']}")
    write_dataset(result, args.out_dir)
    log.info("dataset: %d facts -> %s (%s)", result.stats["facts_out"], args.out_dir, result.stats["per_split"])


def dataset_export_hf(args: argparse.Namespace) -> None:
    from polyfact.dataset.export import export_hf

    export_hf(args.data_dir, args.languages, args.out)


def dataset_report(args: argparse.Namespace) -> None:
    from polyfact.dataset.report import data_report, write_report
    from polyfact.io import read_json

    facts_stats = read_json(args.facts_stats) if args.facts_stats else None
    write_report(data_report(args.data_dir, args.languages, facts_stats), args.md, args.json)
