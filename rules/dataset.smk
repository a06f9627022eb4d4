localrules:
    export_hf_dataset,
    data_report,


rule prepare_llm:
    input:
        unpack(llm_model_inputs),
    output:
        directory("results/llm/{llm_role}"),
    log:
        "results/logs/prepare_llm/{llm_role}.log",
    params:
        **job_params(
            "prepare_llm",
            "models:model_prepare",
            lambda wildcards: {"model": llm_model(wildcards.llm_role)},
        ),
        args=llm_model_args,
        checkpoints="results/checkpoints/llm/{llm_role}",
    threads: LLM["threads"]
    resources:
        mem_mb=scaled(LLM["mem_mb"]),
        runtime=scaled(LLM["runtime"]),
        gpu=0,
    localrule: ON_SUBMIT_HOST
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} model prepare --name {wildcards.llm_role} {params.args}"
        " --threads {threads} --checkpoint-dir {params.checkpoints} --out {output} 2> {log}"


# Labels missing in some languages (facts.min_label_langs below the number of languages),
# translated by the question model; answers are cached, so a killed job resumes.
rule translate_labels:
    input:
        facts="results/data/facts.parquet",
        model=llm_model_dir("writer"),
        prompts=LLM["prompts"],
    output:
        facts="results/data/facts.translated.parquet",
        stats="results/data/facts.translated.stats.json",
    log:
        "results/logs/translate_labels.log",
    benchmark:
        "results/benchmarks/translate_labels.tsv"
    params:
        **job_params(
            "translate_labels",
            "dataset:dataset_translate_labels",
            llm_config(LLM["model"]),
        ),
        languages=csv(LANGS),
        cache=LLM["cache_dir"],
        seed=config["seed"],
    threads: LLM["threads"]
    resources:
        mem_mb=scaled(LLM["mem_mb"]),
        runtime=scaled(LLM["runtime"]),
        gpu=LLM["gpus"],
    conda:
        model_env(LLM["gpus"])
    shell:
        "polyfact --job {params.job} dataset translate-labels --facts {input.facts}"
        " --languages {params.languages} --model {input.model} --prompts {input.prompts}"
        " --settings {params.job}#config.llm --cache-dir {params.cache} --seed {params.seed}"
        " --threads {threads} --out {output.facts} --stats-out {output.stats} 2> {log}"


# One job per shard of the facts (dataset.llm.shards): a finished shard is never redone, and
# a killed one resumes from the answer cache.
rule generate_questions:
    input:
        facts=DATASET_FACTS,
        model=llm_model_dir("writer"),
        prompts=LLM["prompts"],
        templates=template_files(LANGS),
    output:
        rows="results/data/questions/{shard}.jsonl",
        stats="results/data/questions/{shard}.stats.json",
    log:
        "results/logs/generate_questions/{shard}.log",
    benchmark:
        "results/benchmarks/generate_questions/{shard}.tsv"
    params:
        **job_params(
            "generate_questions",
            "dataset:dataset_questions",
            llm_config(LLM["model"]) | {"relations": RELATIONS},
        ),
        shard=shard_args,
        templates=lambda wildcards, input: Path(input.templates[0]).parent,
        languages=csv(LANGS),
        relations=csv(RELATIONS),
        cache=LLM["cache_dir"],
        seed=config["seed"],
    threads: LLM["threads"]
    resources:
        mem_mb=scaled(LLM["mem_mb"]),
        runtime=scaled(LLM["runtime"]),
        gpu=LLM["gpus"],
    conda:
        model_env(LLM["gpus"])
    shell:
        "polyfact --job {params.job} dataset questions --facts {input.facts} --templates {params.templates}"
        " --languages {params.languages} --relations {params.relations} {params.shard}"
        " --model {input.model} --prompts {input.prompts} --settings {params.job}#config.llm"
        " --cache-dir {params.cache} --seed {params.seed} --threads {threads}"
        " --out {output.rows} --stats-out {output.stats} 2> {log}"


rule build_dataset:
    input:
        unpack(question_inputs),
        facts=DATASET_FACTS,
        templates=template_files(LANGS),
    output:
        records=expand(
            "results/data/polyfact/{split}/{lang}.jsonl", split=SPLITS, lang=LANGS
        ),
        parallel=expand("results/data/polyfact/parallel/{split}.jsonl", split=SPLITS),
        stats="results/data/polyfact/stats.json",
    log:
        "results/logs/build_dataset.log",
    benchmark:
        "results/benchmarks/build_dataset.tsv"
    params:
        **job_params(
            "build_dataset",
            "dataset:dataset_build",
            dataset_build_config(),
        ),
        questions=question_args,
        languages=csv(LANGS),
        relations=csv(RELATIONS),
        splits=split_fractions(),
        max_answer_share=config["dataset"]["max_answer_share"],
        distractors=config["dataset"]["distractors"],
        seed=config["seed"],
        out_dir=subpath(output.stats, parent=True),
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(30),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} dataset build --facts {input.facts} {params.questions}"
        " --languages {params.languages} --relations {params.relations}"
        " --splits {params.splits} --max-answer-share {params.max_answer_share}"
        " --distractors {params.distractors}"
        " --seed {params.seed} --out-dir {params.out_dir} 2> {log}"


rule export_hf_dataset:
    input:
        records=rules.build_dataset.output.records,
        parallel=rules.build_dataset.output.parallel,
        stats=rules.build_dataset.output.stats,
    output:
        directory("results/data/hf"),
    log:
        "results/logs/export_hf_dataset.log",
    params:
        **job_params("export_hf_dataset", "dataset:dataset_export_hf", {}),
        languages=csv(LANGS),
        data_dir=subpath(input.stats, parent=True),
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} dataset export-hf --data-dir {params.data_dir}"
        " --languages {params.languages} --out {output} 2> {log}"


rule data_report:
    input:
        unpack(data_report_inputs),
        records=rules.build_dataset.output.records,
        stats=rules.build_dataset.output.stats,
        facts_stats="results/data/facts.stats.json",
    output:
        md=report(
            "results/data/report.md",
            category="Data",
            caption="../workflow/report/data.rst",
        ),
        json="results/data/report.json",
    log:
        "results/logs/data_report.log",
    params:
        **job_params("data_report", "dataset:dataset_report", {}),
        translation=lambda wildcards, input: (
            f"--translation-stats {input.translation}" if TRANSLATE_LABELS else ""
        ),
        languages=csv(LANGS),
        data_dir=subpath(input.stats, parent=True),
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} dataset report --data-dir {params.data_dir} --languages {params.languages}"
        " --facts-stats {input.facts_stats} {params.translation} --md {output.md} --json {output.json} 2> {log}"


rule audit_dataset:
    input:
        records=expand(
            "results/data/polyfact/{split}/{lang}.jsonl",
            split=AUDIT["split"],
            lang=LANGS,
        ),
        model=llm_model_dir("judge"),
        prompts=LLM["prompts"],
    output:
        md=report(
            "results/data/audit.md",
            category="Data",
            caption="../workflow/report/audit.rst",
        ),
        json="results/data/audit.json",
    log:
        "results/logs/audit_dataset.log",
    benchmark:
        "results/benchmarks/audit_dataset.tsv"
    params:
        **job_params(
            "audit_dataset",
            "dataset:dataset_audit",
            llm_config(llm_model("judge")) | {"audit": AUDIT},
        ),
        data_dir=lambda wildcards, input: Path(input.records[0]).parent.parent,
        languages=csv(LANGS),
        split=AUDIT["split"],
        facts_per_relation=AUDIT["facts_per_relation"],
        cache=LLM["cache_dir"],
        seed=config["seed"],
    threads: LLM["threads"]
    resources:
        mem_mb=scaled(LLM["mem_mb"]),
        runtime=scaled(LLM["runtime"]),
        gpu=LLM["gpus"],
    conda:
        model_env(LLM["gpus"])
    shell:
        "polyfact --job {params.job} dataset audit --data-dir {params.data_dir}"
        " --languages {params.languages} --split {params.split}"
        " --facts-per-relation {params.facts_per_relation} --model {input.model}"
        " --prompts {input.prompts} --settings {params.job}#config.llm --cache-dir {params.cache}"
        " --seed {params.seed} --threads {threads} --md {output.md} --json {output.json} 2> {log}"
