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
        config=lambda wildcards: base_model_digest(wildcards.model),
        code=code_digest(
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
        args=base_model_args,
        checkpoints="results/checkpoints/{model}/base",
    threads: config["training"]["threads"]
    resources:
        mem_mb=config["training"]["mem_mb"],
        runtime=config["training"]["runtime"],
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact model prepare --name {wildcards.model} {params.args} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --out {output} 2> {log}"
