rule extract_facts:
    input:
        unpack(facts_source_input),
    output:
        facts="results/data/facts.parquet",
        stats="results/data/facts.stats.json",
    log:
        "results/logs/extract_facts.log",
    benchmark:
        "results/benchmarks/extract_facts.tsv"
    params:
        **job_params(
            "extract_facts", "extract:extract", section("facts", "languages", "seed")
        ),
        source=config["facts"]["source"],
        relations=csv(RELATIONS),
        languages=csv(LANGS),
        min_label_langs=config["facts"]["min_label_langs"],
        max_facts=max_facts_arg(),
        extra=extract_args(),
        dump=lambda wildcards, input: (
            f"--input {input.dump}" if "dump" in input.keys() else ""
        ),
        seed=config["seed"],
    threads: config["facts"]["workers"] + 1 if config["facts"]["source"] == "wikidata-dump" else 1
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(60),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} extract --source {params.source} --relations {params.relations}"
        " --languages {params.languages} --min-label-langs {params.min_label_langs}"
        " {params.max_facts} {params.extra} {params.dump} --seed {params.seed} --no-progress"
        " --stats-out {output.stats} --out {output.facts} 2> {log}"
