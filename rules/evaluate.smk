localrules:
    models_report,


rule evaluate_polyfact:
    input:
        model="results/models/{model}/{method}",
        data=expand("results/data/polyfact/test/{lang}.jsonl", lang=LANGS),
    output:
        "results/eval/{model}/{method}/polyfact.json",
    log:
        "results/logs/evaluate_polyfact/{model}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate_polyfact/{model}/{method}.tsv"
    params:
        config=config_digest(config, "evaluation", "languages"),
        code=code_digest("evaluate", "models.load", "commands.evaluate"),
        data_dir=lambda wildcards, input: Path(input.data[0]).parent,
        languages=csv(LANGS),
        normalisation=config["evaluation"]["normalisation"],
        batch_size=config["evaluation"]["batch_size"],
    threads: config["training"]["threads"]
    resources:
        mem_mb=config["training"]["mem_mb"],
        runtime=config["training"]["runtime"],
        gpu=config["training"]["gpus"],
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact evaluate mcq --model {input.model} --data {params.data_dir}"
        " --languages {params.languages} --normalisation {params.normalisation}"
        " --batch-size {params.batch_size} --threads {threads} --out {output} 2> {log}"


rule models_report:
    input:
        models=expand("results/models/{model}/{method}", model=MODELS, method=METHODS),
        evals=expand(
            "results/eval/{model}/{method}/polyfact.json", model=MODELS, method=METHODS
        ),
    output:
        md=report(
            "results/models/report.md",
            category="Models",
            caption="../workflow/report/models.rst",
        ),
        json="results/models/report.json",
    log:
        "results/logs/models_report.log",
    params:
        code=code_digest("train.report", "commands.train"),
        stats=lambda wildcards, input: [
            Path(d) / "train_stats.json" for d in input.models
        ],
    resources:
        mem_mb=1000,
        runtime=5,
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact report models --stats {params.stats} --evals {input.evals}"
        " --md {output.md} --json {output.json} 2> {log}"
