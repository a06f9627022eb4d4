"""Checks on the workflow config that a JSON schema cannot express (cross-key rules, files).

Snakemake validates the schema (and fills defaults) first; `check_config` then fails before
any job runs, naming the offending key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from polyfact.errors import PolyfactError
from polyfact.relations import relation_name


class ConfigError(PolyfactError, ValueError):
    """A config value that cannot work; the message names the key."""


def dataset_languages(config: Mapping[str, Any]) -> list[str]:
    """The dataset covers the evaluated languages (training languages are a subset)."""
    return list(config["languages"]["eval"])


def check_config(config: Mapping[str, Any]) -> None:
    """Cross-key checks; relative paths resolve against the working directory, as in Snakemake."""
    langs = config["languages"]
    unknown_train = [lang for lang in langs["train"] if lang not in langs["eval"]]
    if unknown_train:
        raise ConfigError(f"languages.train: {unknown_train} not in languages.eval {langs['eval']}")

    facts = config["facts"]
    for pid in facts["relations"]:
        relation_name(pid)
    if facts["source"] == "cldr":
        from polyfact.cldr import CLDR_RELATIONS

        unsupported = [pid for pid in facts["relations"] if pid not in CLDR_RELATIONS]
        if unsupported:
            raise ConfigError(
                f"facts.relations: {unsupported} not available from source 'cldr' (supported: {list(CLDR_RELATIONS)})"
            )
    if facts["source"] == "wikidata-dump" and not facts["dump"]:
        raise ConfigError("facts.dump: required when facts.source is 'wikidata-dump'")
    acquired = (config.get("acquire") or {}).get("wikidata_dump")
    if facts["source"] == "wikidata-dump" and acquired:
        name = PurePosixPath(urlparse(acquired.get("url") or "").path).name or PurePosixPath(facts["dump"]).name
        if facts["dump"] != f"data/wikidata/{name}":
            raise ConfigError(
                f"facts.dump: {facts['dump']!r} is not where acquire.wikidata_dump puts the dump"
                f" ('data/wikidata/{name}'); set it so, or drop acquire.wikidata_dump to read a file on disk"
            )
    if facts["min_label_langs"] > len(langs["eval"]):
        raise ConfigError(
            f"facts.min_label_langs: {facts['min_label_langs']} exceeds the {len(langs['eval'])} eval languages"
        )

    dataset = config["dataset"]
    if dataset["questions"] == "llm" and not dataset["llm"]["model"]:
        raise ConfigError("dataset.llm.model: required when dataset.questions is 'llm'")
    if dataset["audit"]["enabled"] and not (dataset["audit"]["model"] or dataset["llm"]["model"]):
        raise ConfigError("dataset.audit.model: the audit needs a judge (dataset.audit.model or dataset.llm.model)")

    interpret = config["interpret"]
    if interpret["corpus"]["source"] != "dataset" and not interpret["corpus"]["path"]:
        raise ConfigError(
            f"interpret.corpus.path: required when interpret.corpus.source is {interpret['corpus']['source']!r}"
        )
    if interpret["corpus"]["source"] == "dataset" and interpret["languages"]:
        outside = [lang for lang in interpret["languages"] if lang not in langs["eval"]]
        if outside:
            raise ConfigError(f"interpret.languages: {outside} are not in the dataset (languages.eval {langs['eval']})")

    check_global_mmlu(config)

    splits = config["dataset"]["splits"]
    if abs(sum(splits.values()) - 1.0) > 1e-6:
        raise ConfigError(f"dataset.splits: fractions must sum to 1, got {splits}")

    # The trainer sections take Hugging Face's field names, which the schema leaves open.
    from polyfact.train.settings import TrainerSettingsError, check_trainer_sections

    try:
        check_trainer_sections(config)
    except TrainerSettingsError as err:
        raise ConfigError(str(err)) from None

    check_templates(Path(config["dataset"]["templates_dir"]), langs["eval"], facts["relations"])


def check_global_mmlu(config: Mapping[str, Any]) -> None:
    """Each evaluated Global-MMLU set is acquired (data/mcq/{set}), with the split and the
    languages the evaluation names."""
    from polyfact.acquire.sources import HUB_MCQ_SOURCES

    gmmlu = (config.get("evaluation") or {}).get("global_mmlu") or {}
    keys = {name: key for key, name in HUB_MCQ_SOURCES.items()}
    for name in gmmlu.get("sets") or []:
        spec = (config.get("acquire") or {}).get(keys[name])
        where = f"evaluation.global_mmlu.sets: {name!r}"
        if not spec:
            raise ConfigError(f"{where} needs acquire.{keys[name]} (it reads data/mcq/{name}, which that puts there)")
        splits = spec.get("splits") or ["test"]
        split = gmmlu.get("split", "test")
        if split not in splits:
            raise ConfigError(
                f"evaluation.global_mmlu.split: {split!r} is not among acquire.{keys[name]}.splits {splits}"
            )
        acquired = spec.get("languages") or config["languages"]["eval"]
        outside = [lang for lang in gmmlu.get("languages") or [] if lang not in acquired]
        if outside:
            raise ConfigError(
                f"evaluation.global_mmlu.languages: {outside} are not acquired for {name!r}"
                f" (acquire.{keys[name]}.languages, default languages.eval: {list(acquired)})"
            )


def check_templates(templates_dir: Path, languages: list[str], relations: list[str]) -> None:
    """Every (language, relation) needs at least one template before any job runs: the
    dataset build's own check, run before hours of extraction rather than after."""
    from polyfact.dataset.templates import check_templates as check_loaded
    from polyfact.dataset.templates import load_templates

    try:
        check_loaded(load_templates(templates_dir, languages), languages, relations)
    except PolyfactError as err:
        raise ConfigError(f"dataset.templates_dir: {err}") from None
