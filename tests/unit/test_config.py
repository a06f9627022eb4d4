"""Config validation: schema defaults, unknown keys, unknown relations/languages, templates."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from polyfact.config import ConfigError, check_config
from polyfact.digest import code_digest, config_digest
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[2]
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def load(name: str) -> dict:
    config = yaml.safe_load((REPO / "config" / name).read_text())
    validate(config, SCHEMA)
    return config


@pytest.fixture(autouse=True)
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # config paths are relative to the working directory


def test_default_and_paper_configs_validate() -> None:
    config = load("config.yaml")
    check_config(config)
    assert config["facts"]["sparql"]["batch_size"] == 200  # nested default filled in
    paper = load("paper.yaml")
    check_config(paper)
    assert len(paper["facts"]["relations"]) == 19 and paper["facts"]["max_facts"] == 100000
    check_config(load("paper-clean.yaml"))
    check_config(load("rehearsal.yaml"))


def test_the_dump_is_read_where_acquisition_puts_it() -> None:
    paper = copy.deepcopy(load("paper.yaml"))
    paper["facts"]["dump"] = "data/wikidata/latest-all.json.gz"
    with pytest.raises(ConfigError, match=r"facts\.dump: .*\('data/wikidata/wikidata-20251201-all\.json\.gz'\)"):
        check_config(paper)


def test_empty_config_gets_defaults() -> None:
    config: dict = {}
    validate(config, SCHEMA)
    assert config["languages"]["eval"][0] == "en" and config["dataset"]["max_answer_share"] == 0.4


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"facts": {"relatons": ["P30"]}}, "relatons"),
        ({"bogus": 1}, "bogus"),
        ({"dataset": {"splits": {"train": 0.8, "dev": 0.2}}}, "dev"),
        ({"facts": {"relations": ["P17x"]}}, "P17x"),
        ({"languages": {"eval": ["en", "xx"]}}, "xx"),
    ],
)
def test_schema_errors_name_the_key(patch: dict, needle: str) -> None:
    with pytest.raises(Exception, match=needle):
        validate(patch, SCHEMA)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda c: c["facts"].update(relations=["P30", "P50"]), "P50"),
        (lambda c: c["languages"].update(train=["en", "de"], eval=["en"]), "languages.train"),
        (lambda c: c["facts"].update(source="wikidata-dump"), "facts.dump"),
        (lambda c: c["dataset"]["splits"].update(train=0.5), "sum to 1"),
        (lambda c: c["facts"].update(min_label_langs=13), "min_label_langs"),
        (lambda c: c["dataset"].update(templates_dir="tests"), "templates"),
        # Any property extracts, but without templates the dataset could not be built: said at once.
        (
            lambda c: c["facts"].update(source="wikidata-dump", dump="d.json.gz", relations=["P17", "P1001"]),
            r"no question templates for relation P1001 \(P1001\) in en, de",
        ),
    ],
)
def test_semantic_errors_name_the_key(mutate, needle: str) -> None:
    config = copy.deepcopy(load("config.yaml"))
    mutate(config)
    with pytest.raises(ConfigError, match=needle):
        check_config(config)


@pytest.mark.parametrize(
    ("section", "patch", "needle"),
    [
        ("cpt", {"learnin_rate": 1}, r"cpt\.learnin_rate: not a field of TrainingArguments"),
        ("grpo", {"steps": 3}, r"grpo\.steps: not a field of GRPOConfig; did you mean max_steps"),
        ("sft", {"per_device_train_batch_size": 8}, r"sft\.per_device_train_batch_size: derived"),
        ("grpo", {"steps_per_generation": 2}, r"grpo\.steps_per_generation: derived"),
        ("training", {"gradient_checkpointing": True}, r"training\.gradient_checkpointing: deprecated"),
        ("training", {"num_generations": 2}, r"training\.num_generations: not a field of TrainingArguments"),
        ("training", {"per_device_train_batch_size": 2}, r"training\.per_device_train_batch_size: derived"),
        ("cpt", {"seed": 3}, r"cpt\.seed: set by the workflow"),
    ],
)
def test_trainer_section_errors_name_the_key(section: str, patch: dict, needle: str) -> None:
    """The trainer sections are open in the schema; check_config rejects what the trainers would."""
    config = copy.deepcopy(load("config.yaml"))
    config[section].update(patch)
    with pytest.raises(ConfigError, match=needle):
        check_config(config)


def test_any_trainer_field_passes_check_config() -> None:
    config = copy.deepcopy(load("config.yaml"))
    config["cpt"]["adam_beta2"] = 0.95
    config["sft"]["lr_scheduler_type"] = "cosine"
    config["grpo"]["epsilon_high"] = 0.28
    config["training"]["optim"] = "adamw_torch"
    check_config(config)


def test_trainer_check_imports_no_trainer_library() -> None:
    """check_config runs at every workflow parse: checking the trainer sections must not import
    transformers, trl or torch (seconds)."""
    code = (
        "import json, sys\n"
        "from polyfact.train.settings import check_trainer_sections\n"
        "check_trainer_sections(json.loads(sys.argv[1]))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))\n"
    )
    config = load("config.yaml")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(config)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_digests_change_with_slice_and_code() -> None:
    a = {"facts": {"x": 1}, "dataset": {"y": 1}}
    b = {"facts": {"x": 1}, "dataset": {"y": 2}}
    assert config_digest(a, "facts") == config_digest(b, "facts")
    assert config_digest(a, "dataset") != config_digest(b, "dataset")
    assert code_digest("dataset") != code_digest("facts")
    with pytest.raises(ValueError, match="nope"):
        code_digest("nope")
