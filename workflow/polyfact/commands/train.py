"""`polyfact train cpt|sft|grpo|dco|cmalign|cmalign-pairs`, `polyfact report models` and
`polyfact report training-curves`."""

from __future__ import annotations

import argparse
import logging

from polyfact.commands import set_threads
from polyfact.train.settings import RunSpec, run_spec

log = logging.getLogger(__name__)


def _run_spec(method: str, args: argparse.Namespace) -> RunSpec:
    """The run's settings from the method's and the `training` config sections (checked: a
    key that cannot work fails here, naming it, before any model is loaded)."""
    set_threads(args.threads)
    return run_spec(method, args.settings, args.training, args.out, args.checkpoint_dir, args.seed, args.base)


def train_cpt(args: argparse.Namespace) -> None:
    """CPT from `--base` on the toy world's parallel text or the configured corpus."""
    from polyfact.train import cpt

    spec = _run_spec("cpt", args)
    corpus = args.settings["corpus"]
    if corpus["source"] == "toy":
        from polyfact.facts import read_facts
        from polyfact.train.data import parallel_rows
        from polyfact.train.parallel import toy_parallel_rows

        rows = toy_parallel_rows(read_facts(args.facts), parallel_rows(args.data_dir), args.languages)
    else:
        from polyfact.corpus import load_parallel_corpus

        rows = load_parallel_corpus(
            corpus["path"],
            args.languages,
            fmt=corpus["source"],
            split=corpus["split"],
            text_field=corpus["text_field"],
            lang_codes=corpus["lang_codes"],
        )
    cpt.train_cpt(
        args.base, args.out, rows, spec, cpt.CptSettings(args.settings["block_size"], args.settings["held_out_blocks"])
    )


def train_sft(args: argparse.Namespace) -> None:
    """SFT from `--base` (a chain passes its upstream checkpoint) on the training split."""
    from polyfact.train import sft
    from polyfact.train.data import records_by_language

    spec = _run_spec("sft", args)
    records = records_by_language(args.data_dir, "train", args.languages)
    settings = args.settings
    sft.train_sft(
        args.base, args.out, records, spec, settings["facts_per_step"], settings["held_out_facts"], settings["target"]
    )


def train_grpo(args: argparse.Namespace) -> None:
    """GRPO from `--base` (a chain passes its upstream checkpoint) on the training split."""
    from polyfact.prompts import answer_scaffolds
    from polyfact.train import grpo
    from polyfact.train.data import records_by_language
    from polyfact.train.rewards import RewardSpec

    spec = _run_spec("grpo", args)
    records = records_by_language(args.data_dir, "train", args.languages)
    scaffolds = answer_scaffolds(args.templates, args.languages)
    reward = RewardSpec(**args.settings["reward"])
    grpo.train_grpo(args.base, args.out, records, scaffolds, spec, reward, prompt=args.settings["prompt"])


def train_dco(args: argparse.Namespace) -> None:
    """DCO from `--base` (a chain passes its upstream checkpoint) on the training split's facts."""
    from polyfact.train import dco
    from polyfact.train.data import records_by_language

    spec = _run_spec("dco", args)
    records = records_by_language(args.data_dir, "train", args.languages)
    settings = args.settings
    dco.train_dco(args.base, args.out, records, spec, settings["instances_per_step"], settings["max_instances"])


def cmalign_pairs(args: argparse.Namespace) -> None:
    """CM-Align's construction: the policy's candidates, the English pivot, the pairs."""
    from polyfact.io import write_json, write_jsonl
    from polyfact.prompts import answer_scaffolds
    from polyfact.train import cmalign
    from polyfact.train.data import records_by_language

    set_threads(args.threads)
    spec = cmalign.ConstructSpec(**args.settings)  # the schema's construct keys, exactly
    records = records_by_language(args.data_dir, "train", args.languages)
    scaffolds = answer_scaffolds(args.templates, args.languages) if spec.prompt == "native" else {}
    rows, stats = cmalign.run_construct(
        args.base, records, scaffolds, spec, args.seed, args.threads or 1, args.cache_dir, args.cache_name
    )
    write_jsonl(args.out, rows)
    write_json(args.stats, stats)


def train_cmalign(args: argparse.Namespace) -> None:
    """CM-Align's DPO from `--base` on the pairs built from that same model."""
    from polyfact.io import read_jsonl
    from polyfact.train import cmalign

    spec = _run_spec("cmalign", args)
    cmalign.train_cmalign(args.base, args.out, read_jsonl(args.pairs), spec, args.settings["nll_gamma"])


def select_checkpoint(args: argparse.Namespace) -> None:
    """The method's model: the run's candidate (kept step or final) best on the val split."""
    from polyfact.train.select import select_checkpoint as select

    select(args.run, args.evals, args.metric, args.out)


def report_models(args: argparse.Namespace) -> None:
    from polyfact.train.report import models_report, write_models_report

    write_models_report(models_report(args.stats, args.evals), args.md, args.json)


def report_training_curves(args: argparse.Namespace) -> None:
    """One model's training-curves figure from its methods' train_stats.json."""
    from polyfact.train.curves import training_curves_figure

    training_curves_figure(args.stats, args.out)
