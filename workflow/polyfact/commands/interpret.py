"""`polyfact interpret lape|lahis|mexa`: one analysis of one model on parallel text."""

from __future__ import annotations

import argparse
import logging
import resource
import time
from collections.abc import Callable
from typing import Any

from polyfact.commands import set_threads

log = logging.getLogger(__name__)


def _analyse(args: argparse.Namespace, analysis: Callable[..., dict[str, Any]], **options: Any) -> dict[str, Any]:
    """Load the model and the analysed languages' parallel text, run one analysis, write JSON
    with its cost; the result, for the job's log."""
    import torch

    from polyfact.interpret.text import load_texts
    from polyfact.io import write_json
    from polyfact.models.load import load_model

    set_threads(args.threads)
    corpus = {**args.corpus, "path": args.text or args.corpus.get("path")}
    texts = load_texts(corpus, args.languages, args.max_sentences)
    model, tokenizer = load_model(args.model)
    model.eval()
    start = time.perf_counter()
    result = analysis(model, tokenizer, texts, batch_size=args.batch_size, max_length=args.max_length, **options)
    result["cost"] = {
        "wall_seconds": time.perf_counter() - start,
        "device": str(next(model.parameters()).device),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
    }
    write_json(args.out, result)
    return result


def interpret_lape(args: argparse.Namespace) -> None:
    """Language-specific neurons (LAPE)."""
    from polyfact.interpret.lape import lape

    top = args.top_fraction or 0.01
    result = _analyse(args, lape, top_fraction=top, filter_quantile=args.filter_quantile)
    log.info("language-specific neurons: %s", result["counts_total"])


def interpret_lahis(args: argparse.Namespace) -> None:
    """Language-specific attention heads (LAHIS)."""
    from polyfact.interpret.lahis import lahis

    result = _analyse(
        args, lahis, top_fraction=args.top_fraction or 0.02, mask_lr=args.mask_lr, mask_dtype=args.mask_dtype
    )
    log.info("mean top-head overlap off the diagonal: %.3f", result["mean_overlap_off_diagonal"])


def interpret_mexa(args: argparse.Namespace) -> None:
    """Cross-lingual retrieval by layer (MEXA)."""
    from polyfact.interpret.mexa import mexa

    result = _analyse(args, mexa)
    log.info("middle-layer retrieval (all pairs): %.3f", result["middle_layer_all_pairs"])


def report_interpretability(args: argparse.Namespace) -> None:
    """The interpretability table across models and methods."""
    from polyfact.interpret.report import interpretability_rows, write_interpretability_table

    write_interpretability_table(
        interpretability_rows(args.lape, args.lahis, args.mexa, args.low_resource), args.md, args.csv
    )


def interpretability_figures(args: argparse.Namespace) -> None:
    """One model's figures comparing methods (PNG + PDF each)."""
    from polyfact.interpret import figures

    figures.lape_by_language(args.lape, args.lape_by_language)
    figures.lape_by_layer(args.lape, args.lape_by_layer)
    figures.lahis_by_layer(args.lahis, args.lahis_by_layer)
    figures.lahis_overlap(args.lahis, args.lahis_overlap)
    figures.mexa_by_layer(args.mexa, args.mexa_by_layer)
    figures.mexa_delta(args.mexa, args.mexa_delta)
