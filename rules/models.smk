rule prepare_base_model:
    input:
        unpack(base_model_inputs),
    output:
        directory("results/models/{model}/base"),
    log:
        "results/logs/prepare_base_model/{model}.log",
    benchmark:
        "results/benchmarks/prepare_base_model/{model}.tsv"
    params:
        job=job_params(
            "prepare_base_model",
            lambda wildcards: base_model_config(wildcards.model),
            code_digest(
                "models",
                "train.common",
                "train.parallel",
                "train.cpt",
                "train.grpo",
                "train.data",
                "facts",
                "dataset.templates",
                "commands.models",
            ),
        ),
        io=job_io,
        args=base_model_args,
        checkpoints="results/checkpoints/{model}/base",
    threads: config["training"]["threads"]
    resources:
        mem_mb=scaled(config["training"]["mem_mb"]),
        runtime=scaled(config["training"]["runtime"]),
        gpu=base_model_gpus,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job:q} --job-io {params.io:q} model prepare --name {wildcards.model} {params.args} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --out {output} 2> {log}"
