rule train_cpt:
    input:
        unpack(training_inputs),
    output:
        directory("results/models/{model}/{method}"),
    log:
        "results/logs/train/{model}/{method}.log",
    benchmark:
        "results/benchmarks/train/{model}/{method}.tsv"
    params:
        job=job_params(
            "train_cpt",
            section("cpt", "training", "seed"),
            code_digest(
                "train.cpt",
                "train.parallel",
                "train.common",
                "train.settings",
                "commands.train",
            ),
        ),
        io=job_io,
        settings=section_json("cpt"),
        training=section_json("training"),
        languages=csv(TRAIN_LANGS),
        data_dir=subpath(DATASET_STATS, parent=True),
        seed=config["seed"],
        checkpoints="results/checkpoints/{model}/{method}",
    threads: config["training"]["threads"]
    resources:
        mem_mb=scaled(config["training"]["mem_mb"]),
        runtime=scaled(config["training"]["runtime"]),
        gpu=config["training"]["gpus"],
    wildcard_constraints:
        method="cpt",
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job:q} --job-io {params.io:q} train cpt --base {input.base} --data-dir {params.data_dir} --facts {input.facts}"
        " --languages {params.languages} --settings {params.settings:q} --training {params.training:q}"
        " --seed {params.seed} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --out {output} 2> {log}"


rule train_sft:
    input:
        unpack(training_inputs),
    output:
        directory("results/models/{model}/{method}"),
    log:
        "results/logs/train/{model}/{method}.log",
    benchmark:
        "results/benchmarks/train/{model}/{method}.tsv"
    params:
        job=job_params(
            "train_sft",
            section("sft", "training", "seed"),
            code_digest(
                "train.sft",
                "models.padding",
                "train.common",
                "train.settings",
                "train.data",
                "commands.train",
            ),
        ),
        io=job_io,
        settings=section_json("sft"),
        training=section_json("training"),
        languages=csv(TRAIN_LANGS),
        data_dir=subpath(DATASET_STATS, parent=True),
        seed=config["seed"],
        checkpoints="results/checkpoints/{model}/{method}",
    threads: config["training"]["threads"]
    resources:
        mem_mb=scaled(config["training"]["mem_mb"]),
        runtime=scaled(config["training"]["runtime"]),
        gpu=config["training"]["gpus"],
    wildcard_constraints:
        method=r"(cpt\+)?sft",
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job:q} --job-io {params.io:q} train sft --base {input.base} --data-dir {params.data_dir}"
        " --languages {params.languages} --settings {params.settings:q} --training {params.training:q}"
        " --seed {params.seed} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --out {output} 2> {log}"


rule train_grpo:
    input:
        unpack(training_inputs),
    output:
        directory("results/models/{model}/{method}"),
    log:
        "results/logs/train/{model}/{method}.log",
    benchmark:
        "results/benchmarks/train/{model}/{method}.tsv"
    params:
        job=job_params(
            "train_grpo",
            section("grpo", "training", "seed"),
            code_digest(
                "train.grpo",
                "train.rewards",
                "train.common",
                "train.settings",
                "train.data",
                "commands.train",
            ),
        ),
        io=job_io,
        settings=section_json("grpo"),
        training=section_json("training"),
        languages=csv(TRAIN_LANGS),
        data_dir=subpath(DATASET_STATS, parent=True),
        templates=config["dataset"]["templates_dir"],
        seed=config["seed"],
        checkpoints="results/checkpoints/{model}/{method}",
    threads: config["training"]["threads"]
    resources:
        mem_mb=scaled(config["training"]["mem_mb"]),
        runtime=scaled(config["training"]["runtime"]),
        gpu=config["training"]["gpus"],
    wildcard_constraints:
        method=r"(cpt\+)?grpo",
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job:q} --job-io {params.io:q} train grpo --base {input.base} --data-dir {params.data_dir}"
        " --templates {params.templates} --languages {params.languages}"
        " --settings {params.settings:q} --training {params.training:q}"
        " --seed {params.seed} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --out {output} 2> {log}"
