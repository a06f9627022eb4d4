"""`polyfact train cpt|sft|grpo` and `polyfact report models`."""

from __future__ import annotations

import argparse
import logging

from polyfact.commands import set_threads

log = logging.getLogger(__name__)


def train(args: argparse.Namespace) -> None:
    """Train one method (cpt, sft, grpo) from `--base`; chains pass the upstream checkpoint."""
    from polyfact.train.data import parallel_rows, records_by_language, scaffolds
    from polyfact.train.settings import run_spec

    set_threads(args.threads)
    spec = run_spec(args.settings, args.training, args.out, args.checkpoint_dir, args.seed)
    if args.method == "cpt":
        from polyfact.train.cpt import CptSettings, train_cpt
        from polyfact.train.parallel import load_parallel_corpus, toy_parallel_rows

        corpus = args.settings["corpus"]
        if corpus["source"] == "toy":
            from polyfact.facts import read_facts

            rows = toy_parallel_rows(read_facts(args.facts), parallel_rows(args.data_dir), args.languages)
        else:
            rows = load_parallel_corpus(
                corpus["path"],
                args.languages,
                fmt=corpus["source"],
                split=corpus["split"],
                text_field=corpus["text_field"],
                lang_codes=corpus["lang_codes"],
            )
        train_cpt(args.base, args.out, rows, spec, CptSettings(block_size=args.settings["block_size"]))
    elif args.method == "sft":
        from polyfact.train.sft import train_sft

        records = records_by_language(args.data_dir, "train", args.languages)
        train_sft(args.base, args.out, records, spec, args.settings["facts_per_step"])
    else:
        from polyfact.train.grpo import GrpoSettings, train_grpo
        from polyfact.train.rewards import RewardSpec

        g = args.settings
        settings = GrpoSettings(
            num_generations=g["num_generations"],
            temperature=g["temperature"],
            top_p=g["top_p"],
            max_new_tokens=g["max_new_tokens"],
            beta=g["beta"],
            loss_type=g["loss_type"],
            scale_rewards=g["scale_rewards"],
            use_vllm=g["use_vllm"],
            reward=RewardSpec(**g["reward"]),
        )
        records = records_by_language(args.data_dir, "train", args.languages)
        train_grpo(args.base, args.out, records, scaffolds(args.templates, args.languages), spec, settings)


def report_models(args: argparse.Namespace) -> None:
    from polyfact.train.report import models_report, write_models_report

    write_models_report(models_report(args.stats, args.evals), args.md, args.json)
