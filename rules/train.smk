rule train:
    input:
        unpack(training_inputs),
    output:
        directory("results/models/{model}/{method}"),
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
        method="|".join(re.escape(m) for m in TRAINED),
    conda:
        model_env(config["training"]["gpus"])
    shell:
        "polyfact --job {params.job} train {params.method} --base {input.base} {params.args}"
        " --settings {params.job}#config.{params.method} --training {params.job}#config.training"
        " --seed {params.seed} --threads {threads} --checkpoint-dir {params.checkpoints}"
        " --out {output} 2> {log}"
