"""Config validation: schema defaults, unknown keys, unknown relations/languages, templates."""

from __future__ import annotations

import copy
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
    assert len(paper["facts"]["relations"]) == 14 and paper["facts"]["max_facts"] == 100000


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
        ({"facts": {"relations": ["P999"]}}, "P999"),
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
    ],
)
def test_semantic_errors_name_the_key(mutate, needle: str) -> None:
    config = copy.deepcopy(load("config.yaml"))
    mutate(config)
    with pytest.raises(ConfigError, match=needle):
        check_config(config)


def test_digests_change_with_slice_and_code() -> None:
    a = {"facts": {"x": 1}, "dataset": {"y": 1}}
    b = {"facts": {"x": 1}, "dataset": {"y": 2}}
    assert config_digest(a, "facts") == config_digest(b, "facts")
    assert config_digest(a, "dataset") != config_digest(b, "dataset")
    assert code_digest("dataset") != code_digest("facts")
    with pytest.raises(ValueError, match="nope"):
        code_digest("nope")
