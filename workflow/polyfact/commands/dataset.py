"""`polyfact dataset build|export-hf|report`."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)
VERDICT_TOKENS = 24  # the judge's JSON verdict after its prefix: two yes/no fields


def dataset_build(args: argparse.Namespace) -> None:
    from polyfact.dataset.build import build_dataset, write_dataset
    from polyfact.dataset.templates import load_templates
    from polyfact.facts import read_facts

    fractions = dict(zip(("train", "val", "test"), args.splits, strict=True))
    generated, usage = _generated_questions(args.questions) if args.questions else (None, None)
    result = build_dataset(
        read_facts(args.facts),
        None if generated else load_templates(args.templates, args.languages),
        args.languages,
        args.relations,
        fractions,
        args.max_answer_share,
        args.seed,
        distractors=args.distractors,
        generated=generated,
    )
    if usage:
        result.stats["question_generation"]["shards"] = usage
    if not result.stats["facts_out"]:
        raise SystemExit(f"polyfact dataset build: every fact was filtered out: {result.stats['removed']}")
    write_dataset(result, args.out_dir)
    log.info("dataset: %d facts -> %s (%s)", result.stats["facts_out"], args.out_dir, result.stats["per_split"])


def _generated_questions(paths: list[str]) -> tuple[dict, list]:
    """Rows by fact id from the question shards (`X.jsonl`, each with its `X.stats.json`)."""
    from polyfact.io import read_json, read_jsonl

    rows, usage = {}, []
    for path in paths:
        rows |= {row["fact_id"]: row for row in read_jsonl(path)}
        usage.append(read_json(path.removesuffix(".jsonl") + ".stats.json"))
    return rows, usage


def dataset_export_hf(args: argparse.Namespace) -> None:
    from polyfact.dataset.export import export_hf

    export_hf(args.data_dir, args.languages, args.out)


def dataset_report(args: argparse.Namespace) -> None:
    from polyfact.dataset.report import data_report, write_report
    from polyfact.io import read_json

    facts_stats = read_json(args.facts_stats) if args.facts_stats else None
    translation = read_json(args.translation_stats) if args.translation_stats else None
    write_report(data_report(args.data_dir, args.languages, facts_stats, translation), args.md, args.json)


def _llm(args: argparse.Namespace, settings: dict) -> tuple:
    """The job's generator (loaded on first use), the model's cache identity and its prompts."""
    from polyfact.dataset.llm_prompts import load_prompts
    from polyfact.models.generate import load_generator, model_identity

    generator = load_generator(args.model, settings, args.seed, args.threads)
    return generator, model_identity(settings, generator.name), load_prompts(args.prompts)


def _sampling(settings: dict, temperature: float, max_new_tokens: int, stop: tuple[str, ...]):
    from polyfact.models.chat import Sampling

    return Sampling(temperature, settings["top_p"] if temperature > 0 else 1.0, max_new_tokens, stop)


def dataset_translate_labels(args: argparse.Namespace) -> None:
    from polyfact.dataset.llm_cache import AnswerStore
    from polyfact.dataset.translate import translate_labels
    from polyfact.facts import read_facts, write_facts
    from polyfact.io import write_json

    s = args.settings
    generator, model, prompts = _llm(args, s)
    facts = read_facts(args.facts)
    out, stats = translate_labels(
        facts,
        args.languages,
        generator,
        model,
        prompts,
        _sampling(s, 0.0, s["translation_max_new_tokens"], ("\n",)),
        _sampling(s, s["retry_temperature"], s["translation_max_new_tokens"], ("\n",)),
        s["tries"],
        AnswerStore(args.cache_dir, "translations"),
        s["checkpoint_every"],
        args.seed,
    )
    write_facts(out, args.out)
    write_json(args.stats_out, stats)
    log.info("labels: %d needed, %s", stats["labels_needed"], stats["per_language"])


def dataset_questions(args: argparse.Namespace) -> None:
    from polyfact.dataset.build import Removals, labelled_items
    from polyfact.dataset.llm_cache import AnswerStore
    from polyfact.dataset.questions import STYLES, QuestionPrompt, shard_of, write_questions
    from polyfact.dataset.templates import load_templates
    from polyfact.facts import read_facts
    from polyfact.io import write_json, write_jsonl

    s = args.settings
    if s["prompt"] not in STYLES:
        raise SystemExit(f"polyfact dataset questions: prompt {s['prompt']!r} is not one of {list(STYLES)}")
    generator, model, prompts = _llm(args, s)
    items, _ = labelled_items(read_facts(args.facts), args.languages, args.relations, Removals())
    items = [i for i in items if shard_of(i.fact_id, args.shards) == args.shard]
    log.info("shard %d of %d: %d facts x %d languages", args.shard, args.shards, len(items), len(args.languages))
    templates = load_templates(args.templates, args.languages) if s["prompt"] != "paper" else None
    stop = ("\n",)  # a question is one line: a newline ends the answer, and a still-open string fails
    rows, stats = write_questions(
        items,
        args.languages,
        generator,
        model,
        QuestionPrompt(prompts, s["prompt"], templates, args.seed),
        _sampling(s, s["temperature"], s["max_new_tokens"], stop),
        _sampling(s, s["retry_temperature"], s["max_new_tokens"], stop),
        s["tries"],
        AnswerStore(args.cache_dir, f"questions-{args.shard}-of-{args.shards}"),
        s["checkpoint_every"],
    )
    write_json(args.stats_out, {"shard": args.shard, "shards": args.shards, **stats})
    write_jsonl(args.out, rows)  # last: the shard is complete only once its rows exist


def dataset_audit(args: argparse.Namespace) -> None:
    from polyfact.dataset.audit import audit, render_markdown
    from polyfact.dataset.llm_cache import AnswerStore
    from polyfact.io import write_json, write_text
    from polyfact.train.data import records_by_language

    s = args.settings
    generator, model, prompts = _llm(args, s)
    records = records_by_language(args.data_dir, args.split, args.languages)
    report = audit(
        records,
        generator,
        model,
        prompts,
        _sampling(s, 0.0, VERDICT_TOKENS, ("}",)),
        args.facts_per_relation,
        args.split,
        AnswerStore(args.cache_dir, "audit"),
        s["checkpoint_every"],
        args.seed,
    )
    write_json(args.json, report)
    write_text(args.md, render_markdown(report))
