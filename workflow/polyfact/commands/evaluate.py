"""`polyfact evaluate mcq`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from polyfact.commands import set_threads

log = logging.getLogger(__name__)


def evaluate_mcq(args: argparse.Namespace) -> None:
    """Score every option of every question; accuracy per language plus per-row predictions."""
    from polyfact.evaluate.mcq import accuracy_by_language, predict
    from polyfact.io import read_jsonl, write_json
    from polyfact.models.load import load_model

    set_threads(args.threads)
    model, tokenizer = load_model(args.model)
    model.eval()
    data = Path(args.data)
    rows = [r for lang in args.languages for r in read_jsonl(data / f"{lang}.jsonl")]
    predictions = predict(model, tokenizer, rows, args.normalisation, args.batch_size)
    accuracy = accuracy_by_language(predictions)
    others = [accuracy[lang] for lang in args.languages if lang != "en"]
    summary = {
        "accuracy": accuracy,
        "accuracy_en": accuracy.get("en"),
        "accuracy_non_en_mean": sum(others) / len(others) if others else None,
        "normalisation": args.normalisation,
        "rows": len(rows),
    }
    write_json(args.out, {"summary": summary, "predictions": predictions})
    log.info("accuracy: %s", {k: round(v, 3) for k, v in accuracy.items()})
