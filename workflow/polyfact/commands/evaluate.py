"""`polyfact evaluate mcq|klar`: score a model on a benchmark and summarise every §8 metric."""

from __future__ import annotations

import argparse
import logging

from polyfact.commands import set_threads

log = logging.getLogger(__name__)


def _log_summary(summary: dict) -> None:
    log.info("accuracy: %s", {k: round(v, 3) for k, v in summary["accuracy"].items()})
    log.info(
        "TotCons %.3f  RankC %s  agreement %s",
        summary["totcons"],
        summary["rankc"]["all_pairs"],
        summary["agreement"],
    )


def evaluate_mcq(args: argparse.Namespace) -> None:
    """PolyFact-layout MCQ data (ours or the released dataset): log-prob scoring, all metrics."""
    from polyfact.evaluate.mcq import predict
    from polyfact.evaluate.released import load_mcq
    from polyfact.evaluate.summary import summarise
    from polyfact.io import write_json
    from polyfact.models.load import load_model

    set_threads(args.threads)
    source = args.data[0] if len(args.data) == 1 else args.data
    rows, data_stats = load_mcq(source, args.languages)
    model, tokenizer = load_model(args.model)
    model.eval()
    predictions = predict(model, tokenizer, rows, args.normalisation, args.batch_size)
    summary = summarise(predictions, args.languages, args.low_resource, args.seen)
    summary.update(normalisation=args.normalisation, rows=len(rows), data=data_stats)
    write_json(args.out, {"summary": summary, "predictions": predictions})
    _log_summary(summary)


def evaluate_klar(args: argparse.Namespace) -> None:
    """KLAR-format cloze facts: 3-shot generation (lenient match) and candidate scoring."""
    from polyfact.evaluate.klar import evaluate_klar as run
    from polyfact.evaluate.klar import load_klar, trained_pairs
    from polyfact.evaluate.summary import accuracy_by_language, summarise
    from polyfact.io import read_jsonl, write_json
    from polyfact.models.load import load_model

    set_threads(args.threads)
    klar = load_klar(args.klar_dir, args.languages)
    exclude = frozenset(trained_pairs(read_jsonl(args.decontaminate))) if args.decontaminate else frozenset()
    model, tokenizer = load_model(args.model)
    model.eval()
    predictions, stats = run(
        model,
        tokenizer,
        klar,
        args.languages,
        shots=args.shots,
        max_new_tokens=args.max_new_tokens,
        normalisation=args.normalisation,
        batch_size=args.batch_size,
        seed=args.seed,
        exclude=exclude,
    )
    summary = summarise(predictions, args.languages, args.low_resource, args.seen)
    summary.update(
        candidate_accuracy=accuracy_by_language(predictions, "candidate_correct"),
        normalisation=args.normalisation,
        shots=args.shots,
        rows=len(predictions),
        data=stats,
    )
    write_json(args.out, {"summary": summary, "predictions": predictions})
    _log_summary(summary)
