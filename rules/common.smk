from pathlib import Path

from snakemake.utils import validate

from polyfact.config import check_config, dataset_languages
from polyfact.dataset.splits import SPLITS
from polyfact.digest import code_digest, config_digest

validate(config, schema="../workflow/schemas/config.schema.yaml")
check_config(config)

LANGS = dataset_languages(config)
RELATIONS = config["facts"]["relations"]


wildcard_constraints:
    split="|".join(SPLITS),
    lang="|".join(LANGS),


def csv(values):
    """Comma-joined list for CLI arguments."""
    return ",".join(values)


def facts_source_input(wildcards):
    """The dump is an input only for the wikidata-dump source (a changed dump reruns)."""
    if config["facts"]["source"] == "wikidata-dump":
        return {"dump": config["facts"]["dump"]}
    return {}


def extract_args():
    """Source-specific arguments of `polyfact extract`."""
    facts = config["facts"]
    if facts["source"] == "wikidata-dump":
        args = [f"--workers {facts['workers']}"]
        if facts["max_candidates_per_relation"]:
            args.append(
                f"--max-candidates-per-relation {facts['max_candidates_per_relation']}"
            )
        return " ".join(args)
    if facts["source"] == "wikidata-sparql":
        s = facts["sparql"]
        return (
            f"--endpoint {s['endpoint']} --cache-dir {s['cache_dir']}"
            f" --limit-per-relation {s['limit_per_relation']} --batch-size {s['batch_size']}"
            f" --min-interval-s {s['min_interval_s']} --max-retries {s['max_retries']}"
        )
    return ""


def max_facts_arg():
    n = config["facts"]["max_facts"]
    return f"--max-facts {n}" if n else ""


def template_files():
    return expand(
        "{dir}/{lang}.yaml", dir=config["dataset"]["templates_dir"], lang=LANGS
    )


def split_fractions():
    s = config["dataset"]["splits"]
    return f"{s['train']} {s['val']} {s['test']}"


def get_final_outputs():
    return [
        "results/data/facts.parquet",
        "results/data/report.md",
        "results/data/hf",
    ]
