"""`polyfact report tables|significance|paper-comparison|figures`: results across models, methods and benchmarks."""

from __future__ import annotations

import argparse


def report_tables(args: argparse.Namespace) -> None:
    """results/tables/main.{md,csv}: one row per model × method."""
    from polyfact.evaluate.tables import main_rows, write_main_table

    write_main_table(main_rows(args.evals, args.models), args.md, args.csv)


def report_significance(args: argparse.Namespace) -> None:
    """Paired bootstrap of every method vs base and GRPO vs SFT, per metric."""
    from polyfact.evaluate.tables import significance_rows, write_significance

    write_significance(significance_rows(args.evals, args.resamples, args.seed), args.md, args.json)


def report_paper_comparison(args: argparse.Namespace) -> None:
    """The paper's published values beside ours, with bootstrap CIs over facts."""
    from polyfact.evaluate.comparison import write_comparison

    write_comparison(args.evals, args.published, args.resamples, args.seed, args.md, args.csv)


def report_figures(args: argparse.Namespace) -> None:
    """Per-language accuracy and TotCons histograms by method, PNG and PDF."""
    from polyfact.evaluate.figures import accuracy_by_language_figure, totcons_histogram_figure

    accuracy_by_language_figure(args.evals, args.accuracy)
    totcons_histogram_figure(args.evals, args.totcons)
