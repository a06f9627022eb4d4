# CM-Align's first step: the upstream policy samples K answers per (fact, language) and the
# English pivot makes preference pairs; rollouts are cached per request, so a killed job
# resumes (results/cache/cmalign).
rule cmalign_pairs:
    input:
        unpack(cmalign_pairs_inputs),
    output:
        pairs="results/preferences/{model}/{method}.jsonl",
        stats="results/preferences/{model}/{method}.stats.json",
    log:
        "results/logs/cmalign_pairs/{model}/{method}.log",
    benchmark:
        "results/benchmarks/cmalign_pairs/{model}/{method}.tsv"
    params:
        **job_params(
            "cmalign_pairs",
            "train:cmalign_pairs",
            {
                "construct": config["cmalign"]["construct"],
                "languages": TRAIN_LANGS,
                "seed": config["seed"],
            },
        ),
        data=lambda wildcards, input: Path(input.data[0]).parent.parent,
        templates=lambda wildcards, input: Path(input.templates[0]).parent,
        languages=csv(TRAIN_LANGS),
        seed=config["seed"],
        cache_name="{model}-{method}",
    threads: config["training"]["threads"]
    resources:
        mem_mb=scaled(config["training"]["mem_mb"]),
        runtime=scaled(config["training"]["runtime"]),
        gpu=config["training"]["gpus"],
    wildcard_constraints:
        method=one_of(CMALIGN),
    conda:
        model_env(config["training"]["gpus"])
    shell:
        "polyfact --job {params.job} train cmalign-pairs --base {input.base} --data-dir {params.data}"
        " --templates {params.templates} --languages {params.languages}"
        " --settings {params.job}#config.construct --seed {params.seed} --threads {threads}"
        " --cache-dir results/cache/cmalign --cache-name {params.cache_name}"
        " --stats {output.stats} --out {output.pairs} 2> {log}"


rule train:
    input:
        unpack(training_inputs),
    output:
        directory("results/runs/{model}/{method}"),
    log:
        "results/logs/train/{model}/{method}.log",
    benchmark:
        "results/benchmarks/train/{model}/{method}.tsv"
    params:
        **job_params(
            "train",
            lambda wildcards: f"train:train_{trained_method(wildcards)}",
            training_config,
        ),
        method=trained_method,
        args=training_args,
        seed=config["seed"],
        checkpoints="results/checkpoints/{model}/{method}",
    threads: config["training"]["threads"]
    resources:
        mem_mb=scaled(config["training"]["mem_mb"]),
        runtime=scaled(config["training"]["runtime"]),
        gpu=config["training"]["gpus"],
    wildcard_constraints:
        method=one_of(TRAINED),
    conda:
        model_env(config["training"]["gpus"])
    shell:
        "polyfact --job {params.job} train {params.method} --base {input.base} {params.args}"
        " --settings {params.job}#config.{params.method} --training {params.job}#config.training"
        " --seed {params.seed} --threads {threads} --checkpoint-dir {params.checkpoints}"
        " --out {output} 2> {log}"


# A run's candidates are its final model and the steps it keeps (keep_checkpoints): each is
# scored on the val split, and select_checkpoint links the best into results/models/ (without
# kept steps, the final model, unscored).
rule evaluate_candidate:
    input:
        run="results/runs/{model}/{method}",
        data=expand("results/data/polyfact/val/{lang}.jsonl", lang=LANGS),
    output:
        "results/selection/{model}/{method}/{candidate}.json",
    log:
        "results/logs/evaluate_candidate/{model}/{method}/{candidate}.log",
    benchmark:
        "results/benchmarks/evaluate_candidate/{model}/{method}/{candidate}.tsv"
    params:
        **job_params("evaluate_candidate", "evaluate:evaluate_mcq", mcq_config),
        model=candidate_model,
        data=lambda wildcards, input: Path(input.data[0]).parent,
        languages=csv(LANGS),
        groups=language_group_args(LANGS),
        normalisation=EVALUATION["normalisation"],
        batch_size=EVALUATION["batch_size"],
    threads: EVALUATION["threads"]
    resources:
        mem_mb=scaled(EVALUATION["mem_mb"]),
        runtime=scaled(EVALUATION["runtime"]),
        gpu=EVALUATION["gpus"],
    wildcard_constraints:
        method=one_of(SELECTED),
        candidate=r"final|step-\d+",
    conda:
        model_env(EVALUATION["gpus"])
    shell:
        "polyfact --job {params.job} evaluate mcq --model {params.model} --data {params.data}"
        " --languages {params.languages} {params.groups}"
        " --normalisation {params.normalisation} --batch-size {params.batch_size}"
        " --threads {threads} --out {output} 2> {log}"


rule select_checkpoint:
    input:
        run="results/runs/{model}/{method}",
        evals=candidate_evals,
    output:
        directory("results/models/{model}/{method}"),
    log:
        "results/logs/select_checkpoint/{model}/{method}.log",
    params:
        **job_params(
            "select_checkpoint",
            "train:select_checkpoint",
            {"select_by": EVALUATION["select_by"]},
        ),
        metric=EVALUATION["select_by"],
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(10),
        gpu=0,
    wildcard_constraints:
        method=one_of(TRAINED),
    localrule: True
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} train select --run {input.run} --evals {input.evals}"
        " --metric {params.metric} --out {output} 2> {log}"
