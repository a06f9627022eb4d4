import json
import re
from pathlib import Path

from snakemake.utils import validate

from polyfact.config import check_config, dataset_languages
from polyfact.dataset.splits import SPLITS
from polyfact.digest import code_digest, config_digest
from polyfact.tracking import prepare_store

validate(config, schema="../workflow/schemas/config.schema.yaml")
check_config(config)


onstart:
    prepare_store()


LANGS = dataset_languages(config)
TRAIN_LANGS = config["languages"]["train"]
RELATIONS = config["facts"]["relations"]
MODELS = list(config["models"])
METHODS = config["methods"]
DATASET_STATS = "results/data/polyfact/stats.json"
PROVENANCE_DIR = "results/provenance"
EVALUATION = config["evaluation"]
KLAR_LANGS = EVALUATION["klar"]["languages"] or LANGS
RELEASED_LANGS = EVALUATION["released"]["languages"] or LANGS
INTERPRET = config["interpret"]
INTERPRET_LANGS = INTERPRET["languages"] or LANGS
ANALYSES = ["lape", "lahis", "mexa"]
INTERPRET_CODE = {
    analysis: code_digest(
        f"interpret.{analysis}",
        "interpret.arch",
        "interpret.text",
        "models.load",
        "models.padding",
        "train.parallel",
        "commands.interpret",
    )
    for analysis in ANALYSES
}
BENCHMARKS = (
    ["polyfact"]
    + (["klar"] if EVALUATION["klar"]["dir"] else [])
    + (["polyfact-released"] if EVALUATION["released"]["path"] else [])
)


wildcard_constraints:
    split="|".join(SPLITS),
    lang="|".join(LANGS),
    model="|".join(re.escape(m) for m in MODELS),
    method="|".join(re.escape(m) for m in METHODS),
    analysis="|".join(ANALYSES),


def scaled(amount):
    """A resource that grows with the attempt: a job retried after running out of memory or
    time (profiles/slurm sets `retries`) asks for twice, then three times as much."""
    return lambda wildcards, attempt: amount * attempt


def section(*keys):
    """The config sections a rule reads (its slice of the config)."""
    return {key: config.get(key) for key in keys}


def job_params(rule, config_slice, code):
    """The `job` param: what `polyfact --job` records in the job's provenance and MLflow run
    (rule, wildcards, config slice, code digest). It is also the rule's rerun trigger: a
    changed config slice or package module changes it (Snakemake does not track imported
    code). It depends on the wildcards only: Snakemake ignores params derived from files.
    `config_slice` and `code` may be functions of the wildcards."""

    def job(wildcards):
        slice_ = config_slice(wildcards) if callable(config_slice) else config_slice
        return json.dumps(
            {
                "rule": rule,
                "wildcards": list(wildcards.items()),  # pairs: the pattern's order
                "config": slice_,
                "config_digest": config_digest(slice_, *slice_) if slice_ else "",
                "code_digest": code(wildcards) if callable(code) else code,
                "provenance_dir": PROVENANCE_DIR,
            },
            sort_keys=True,
        )

    return job


def job_io(wildcards, input, output):
    """The `io` param: the job's input and output paths for its provenance record."""
    return json.dumps(
        {"inputs": [str(p) for p in input], "outputs": [str(p) for p in output]}
    )


def section_json(name):
    """A config section as JSON for the CLI (a function: params strings get wildcard-formatted)."""
    return lambda wildcards: json.dumps(config[name], sort_keys=True)


def upstream_method(method):
    """The checkpoint a method starts from: `cpt+sft` from `cpt`, a single method from `base`."""
    return method.rsplit("+", 1)[0] if "+" in method else "base"


def training_inputs(wildcards):
    """Upstream checkpoint, the dataset, the facts table (the toy CPT corpus reads it) and
    a configured parallel corpus for CPT."""
    inputs = {
        "base": f"results/models/{wildcards.model}/{upstream_method(wildcards.method)}",
        "data": expand("results/data/polyfact/train/{lang}.jsonl", lang=TRAIN_LANGS),
        "stats": DATASET_STATS,
        "facts": "results/data/facts.parquet",
    }
    corpus = config["cpt"]["corpus"]
    if wildcards.method == "cpt" and corpus["source"] != "toy":
        inputs["corpus"] = corpus["path"]
    return inputs


def base_model_inputs(wildcards):
    """The toy world pretrains on the dataset's facts; other sources need no workflow input."""
    source = config["models"][wildcards.model]
    if source["source"] == "scratch":
        return {
            "facts": "results/data/facts.parquet",
            "stats": DATASET_STATS,
            "train_en": "results/data/polyfact/train/en.jsonl",
            "templates": template_files(),
        }
    if source["source"] == "gguf":
        return {"gguf": source["path"]}
    return {}


def base_model_gpus(wildcards):
    """Pretraining the toy world trains (training.gpus); other sources only convert weights."""
    if config["models"][wildcards.model]["source"] == "scratch":
        return config["training"]["gpus"]
    return 0


def base_model_args(wildcards, input):
    """`polyfact model prepare` arguments for the model's source."""
    source = config["models"][wildcards.model]
    args = [f"--source {source['source']}", f"--dtype {source['dtype']}"]
    if source["source"] == "scratch":
        args += [
            f"--facts {input.facts}",
            f"--data-dir {Path(input.stats).parent}",
            f"--templates {config['dataset']['templates_dir']}",
            f"--languages {csv(LANGS)}",
            f"--low-resource {csv(config['languages']['low_resource'])}",
            f"--toy '{json.dumps(config['toy'], sort_keys=True)}'",
            f"--training '{json.dumps(config['training'], sort_keys=True)}'",
            f"--seed {config['seed']}",
        ]
    else:
        args.append(f"--path {source['path']}")
    return " ".join(args)


def base_model_config(model):
    """The base model depends on its source entry, and for the toy world on `toy`."""
    slice_ = {"model": config["models"][model], "seed": config["seed"]}
    if config["models"][model]["source"] == "scratch":
        slice_["toy"] = config["toy"]
    return slice_


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


def language_group_args(languages):
    """Low-resource and seen (trained) languages among `languages`, as CLI options."""
    low = [lang for lang in languages if lang in config["languages"]["low_resource"]]
    seen = [lang for lang in languages if lang in TRAIN_LANGS]
    args = f"--seen {csv(seen)}" if seen else "--seen ''"
    return f"--low-resource {csv(low)} {args}" if low else args


def klar_inputs(wildcards):
    """The KLAR language directories and, when decontaminating, the training split."""
    klar = EVALUATION["klar"]
    inputs = {"klar": expand("{dir}/{lang}", dir=klar["dir"], lang=KLAR_LANGS)}
    if klar["decontaminate"]:
        inputs["trained"] = f"results/data/polyfact/train/{TRAIN_LANGS[0]}.jsonl"
    return inputs


def klar_decontaminate_arg(wildcards, input):
    return f"--decontaminate {input.trained}" if "trained" in input.keys() else ""


def released_inputs(wildcards):
    """A local released-PolyFact path is an input; a Hub id is fetched by the job itself."""
    path = EVALUATION["released"]["path"]
    return {"released": path} if Path(path).exists() else {}


def interpret_inputs(wildcards):
    """The analyses' text: the dataset's held-out parallel view, or the configured corpus."""
    corpus = INTERPRET["corpus"]
    if corpus["source"] == "dataset":
        return {"text": "results/data/polyfact/parallel/test.jsonl"}
    return {"text": corpus["path"]}


def interpret_corpus_json(wildcards, input):
    """`interpret.corpus` with the path the job reads (the dataset's, for `dataset`)."""
    return json.dumps({**INTERPRET["corpus"], "path": input.text}, sort_keys=True)


def interpret_config(wildcards):
    """Each analysis depends on the shared text settings and its own section only."""
    own = {
        key: INTERPRET[key]
        for key in ("corpus", "languages", "max_sentences", "max_length", "batch_size")
    }
    own[wildcards.analysis] = INTERPRET.get(wildcards.analysis)
    return {"interpret": own, "languages": config["languages"]}


def interpret_options(wildcards):
    """Per-analysis CLI options (top fractions, LAPE's filter, LAHIS's gradient batch)."""
    if wildcards.analysis == "lape":
        lape = INTERPRET["lape"]
        return (
            f"--top-fraction {lape['top_fraction']} --filter-quantile {lape['filter_quantile']}"
            f" --batch-size {INTERPRET['batch_size']}"
        )
    if wildcards.analysis == "lahis":
        lahis = INTERPRET["lahis"]
        return (
            f"--top-fraction {lahis['top_fraction']} --batch-size {lahis['batch_size']}"
        )
    return f"--batch-size {INTERPRET['batch_size']}"


def get_final_outputs():
    return [
        "results/data/facts.parquet",
        "results/data/report.md",
        "results/data/hf",
        "results/models/report.md",
        "results/tables/main.md",
        "results/tables/significance.md",
        "results/tables/interpretability.md",
        *expand(
            "results/figures/{model}/{figure}.{ext}",
            model=MODELS,
            figure=[
                "accuracy_by_language",
                "totcons_histogram",
                "lape_by_language",
                "lape_by_layer",
                "lahis_by_layer",
                "lahis_overlap",
                "mexa_by_layer",
                "mexa_delta",
            ],
            ext=["png", "pdf"],
        ),
    ]
