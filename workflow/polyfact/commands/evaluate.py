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
    """MCQ data: PolyFact's layout (ours or the released dataset) or Global-MMLU(-Lite)'s
    (`--format global-mmlu`); log-prob scoring, all metrics."""
    from polyfact.evaluate.mcq import predict
    from polyfact.evaluate.released import MODEL_ENCODER, load_mcq, make_encoder
    from polyfact.evaluate.summary import summarise
    from polyfact.io import write_json
    from polyfact.models.load import load_model

    set_threads(args.threads)
    source = args.data[0] if len(args.data) == 1 else args.data
    if args.format == "global-mmlu":
        rows, data_stats, languages = _global_mmlu_rows(args)
        model = tokenizer = None
    else:
        languages = args.languages
        model = tokenizer = encode = None
        if args.align == "embedding":
            if args.align_encoder == MODEL_ENCODER:  # the options are embedded by the model under evaluation
                model, tokenizer = load_model(args.model)
                model.eval()
            encode = make_encoder(args.align_encoder, model, tokenizer, args.align_layer)
        rows, data_stats = load_mcq(source, languages, split=args.split, encode=encode)
    if model is None:
        model, tokenizer = load_model(args.model)
        model.eval()
    predictions = predict(model, tokenizer, rows, args.normalisation, args.batch_size, args.scoring)
    summary = summarise(predictions, languages, args.low_resource, args.seen)
    summary.update(normalisation=args.normalisation, scoring=args.scoring, rows=len(rows), data=data_stats)
    if args.format == "global-mmlu":
        from polyfact.evaluate.global_mmlu import accuracy_breakdowns

        summary["accuracy_by_annotation"] = accuracy_breakdowns(rows, predictions)
    write_json(args.out, {"summary": summary, "predictions": predictions})
    _log_summary(summary)


def _global_mmlu_rows(args: argparse.Namespace) -> tuple[list[dict], dict, list[str]]:
    """Global-MMLU(-Lite) records, their loading statistics and the languages evaluated (the
    requested ones the set has, with --skip-missing-languages)."""
    from polyfact.errors import PolyfactError
    from polyfact.evaluate.global_mmlu import load_global_mmlu

    if len(args.data) != 1:
        raise PolyfactError("--format global-mmlu reads one directory (--data DIR)")
    rows, stats = load_global_mmlu(
        args.data[0],
        args.languages,
        split=args.split,
        max_questions=args.max_questions,
        seed=args.seed,
        skip_missing=args.skip_missing_languages,
    )
    return rows, stats, list(stats["languages"])


def evaluate_klar(args: argparse.Namespace) -> None:
    """KLAR-format cloze facts: 3-shot generation (lenient match) and candidate scoring, with the
    contamination breakdown and both the decontaminated and the undecontaminated score."""
    from polyfact.errors import PolyfactError
    from polyfact.evaluate.klar import contamination_summary, load_klar, split_headline, training_facts
    from polyfact.evaluate.klar import evaluate_klar as run
    from polyfact.evaluate.summary import accuracy_by_language, summarise
    from polyfact.io import read_jsonl, write_json
    from polyfact.models.load import load_model

    set_threads(args.threads)
    if args.decontaminate and not args.trained:
        raise PolyfactError("--decontaminate needs --trained (the training records to compare with)")
    klar = load_klar(args.klar_dir, args.languages, template_index=args.template_index)
    languages = list(klar.languages)  # --languages omitted: the directories present
    seen = languages if args.seen is None else [lang for lang in languages if lang in args.seen]
    low = [lang for lang in languages if lang in args.low_resource]
    trained = training_facts(read_jsonl(args.trained), args.contamination_match) if args.trained else None
    model, tokenizer = load_model(args.model)
    model.eval()
    rows, stats = run(
        model,
        tokenizer,
        klar,
        languages,
        shots=args.shots,
        max_new_tokens=args.max_new_tokens,
        normalisation=args.normalisation,
        batch_size=args.batch_size,
        seed=args.seed,
        demonstrations=args.demonstrations,
        trailing_space=args.trailing_space,
        trained=trained,
    )
    predictions, excluded = split_headline(rows, args.decontaminate)
    stats["decontaminated"] = len({r["fact_id"] for r in excluded})
    summary = summarise(predictions, languages, low, seen)
    summary.update(
        candidate_accuracy=accuracy_by_language(predictions, "candidate_correct"),
        headline="decontaminated" if args.decontaminate else "undecontaminated",
        contamination=contamination_summary(rows, languages, seen, trained.match) if trained else None,
        normalisation=args.normalisation,
        shots=args.shots,
        rows=len(predictions),
        data=stats,
    )
    write_json(args.out, {"summary": summary, "predictions": predictions, "excluded_predictions": excluded})
    _log_summary(summary)
