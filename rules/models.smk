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
        **BASE_MODEL_JOB,
        args=base_model_args,
        checkpoints="results/checkpoints/{model}/base",
    threads: BASE_MODEL_THREADS
    resources:
        mem_mb=scaled(config["training"]["mem_mb"]),
        runtime=scaled(config["training"]["runtime"]),
        gpu=base_model_gpus,
    localrule: BASE_MODEL_ON_SUBMIT_HOST
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} model prepare --name {wildcards.model} {params.args}"
        " --threads {threads} --checkpoint-dir {params.checkpoints} --out {output} 2> {log}"
