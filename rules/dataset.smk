localrules:
    export_hf_dataset,
    data_report,


rule build_dataset:
    input:
        facts="results/data/facts.parquet",
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
            section("dataset", "languages", "seed"),
        ),
        templates=lambda wildcards, input: Path(input.templates[0]).parent,
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
        "polyfact --job {params.job} dataset build --facts {input.facts} --templates {params.templates}"
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
        " --facts-stats {input.facts_stats} --md {output.md} --json {output.json} 2> {log}"
