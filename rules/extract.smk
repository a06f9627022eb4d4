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
    conda:
        "../envs/cpu.yaml"
    threads: config["facts"]["workers"] if config["facts"]["source"] == "wikidata-dump" else 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
    params:
        config=config_digest(config, "facts", "languages", "seed"),
        code=code_digest("facts", "cldr", "wikidata", "languages", "io", "cli"),
        source=config["facts"]["source"],
        relations=csv(RELATIONS),
        languages=csv(LANGS),
        min_label_langs=config["facts"]["min_label_langs"],
        max_facts=max_facts_arg(),
        extra=extract_args(),
        seed=config["seed"],
    shell:
        "polyfact extract --source {params.source} --relations {params.relations}"
        " --languages {params.languages} --min-label-langs {params.min_label_langs}"
        " {params.max_facts} {params.extra} --seed {params.seed} --no-progress"
        " --stats-out {output.stats} --out {output.facts} 2> {log}"
