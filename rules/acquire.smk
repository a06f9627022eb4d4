# Acquisition: every external input is obtained by a rule here, the only rules that touch the
# network, into the path its consumer reads (config/paper.yaml points the consumers here).
# A source's `local` path replaces its download. Downloads resume from `data/raw/` after a
# killed job; outputs appear only complete; each job writes a manifest under data/acquired/.
# They run on the submit host (localrule) unless acquire.run_on is `cluster`.

if ACQUIRE["wikidata_dump"]:

    rule acquire_wikidata_dump:
        output:
            dump="data/wikidata/{dump}",
            manifest="data/acquired/{dump}.json",
        log:
            "results/logs/acquire_wikidata_dump/{dump}.log",
        benchmark:
            "results/benchmarks/acquire_wikidata_dump/{dump}.tsv"
        params:
            **job_params(
                "acquire_wikidata_dump",
                "acquire:acquire_wikidata_dump",
                acquire_config("wikidata_dump"),
            ),
            retries=ACQUIRE["retries"],
        resources:
            mem_mb=scaled(1000),
            runtime=scaled(2880),
            gpu=0,
        localrule: ON_SUBMIT_HOST
        conda:
            "../envs/cpu.yaml"
        shell:
            "polyfact --job {params.job} acquire wikidata-dump"
            " --spec {params.job}#config.acquire.wikidata_dump --retries {params.retries}"
            " --manifest {output.manifest} --out {output.dump} 2> {log}"


if ACQUIRE["ted2025"]:

    rule acquire_ted2025:
        output:
            corpus="data/parallel/ted2025-multiway.jsonl",
            manifest="data/acquired/ted2025-multiway.json",
        log:
            "results/logs/acquire_ted2025.log",
        benchmark:
            "results/benchmarks/acquire_ted2025.tsv"
        params:
            **job_params(
                "acquire_ted2025", "acquire:acquire_ted2025", acquire_config("ted2025")
            ),
            languages=csv(LANGS),
            retries=ACQUIRE["retries"],
        resources:
            mem_mb=scaled(2000),
            runtime=scaled(600),
            gpu=0,
        localrule: ON_SUBMIT_HOST
        conda:
            "../envs/cpu.yaml"
        shell:
            "polyfact --job {params.job} acquire ted2025"
            " --spec {params.job}#config.acquire.ted2025 --languages {params.languages}"
            " --raw-dir data/raw/ted2025 --retries {params.retries}"
            " --manifest {output.manifest} --out {output.corpus} 2> {log}"


if ACQUIRE["flores"]:

    rule acquire_flores:
        output:
            corpus="data/parallel/flores-plus-{flores_split}.jsonl",
            manifest="data/acquired/flores-plus-{flores_split}.json",
        log:
            "results/logs/acquire_flores/{flores_split}.log",
        benchmark:
            "results/benchmarks/acquire_flores/{flores_split}.tsv"
        params:
            **job_params(
                "acquire_flores", "acquire:acquire_flores", acquire_config("flores")
            ),
            languages=csv(LANGS),
        resources:
            mem_mb=scaled(2000),
            runtime=scaled(120),
            gpu=0,
        localrule: ON_SUBMIT_HOST
        conda:
            "../envs/cpu.yaml"
        shell:
            "polyfact --job {params.job} acquire flores"
            " --spec {params.job}#config.acquire.flores --languages {params.languages}"
            " --manifest {output.manifest} --out {output.corpus} 2> {log}"


if ACQUIRE["klar"]:

    rule acquire_klar:
        output:
            klar=directory("data/klar"),
            manifest="data/acquired/klar.json",
        log:
            "results/logs/acquire_klar.log",
        benchmark:
            "results/benchmarks/acquire_klar.tsv"
        params:
            **job_params("acquire_klar", "acquire:acquire_klar", acquire_config("klar")),
            retries=ACQUIRE["retries"],
        resources:
            mem_mb=scaled(1000),
            runtime=scaled(120),
            gpu=0,
        localrule: ON_SUBMIT_HOST
        conda:
            "../envs/cpu.yaml"
        shell:
            "polyfact --job {params.job} acquire klar --spec {params.job}#config.acquire.klar"
            " --raw-dir data/raw/klar --retries {params.retries}"
            " --manifest {output.manifest} --out {output.klar} 2> {log}"


rule acquire_hub_mcq:
    output:
        data=directory("data/mcq/{mcq_set}"),
        manifest="data/acquired/{mcq_set}.json",
    log:
        "results/logs/acquire_hub_mcq/{mcq_set}.log",
    benchmark:
        "results/benchmarks/acquire_hub_mcq/{mcq_set}.tsv"
    params:
        **job_params(
            "acquire_hub_mcq",
            "acquire:acquire_hub_mcq",
            lambda wildcards: acquire_config(mcq_key(wildcards)),
        ),
        key=mcq_key,
        languages=csv(LANGS),
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(120),
        gpu=0,
    localrule: ON_SUBMIT_HOST
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} acquire hub-mcq"
        " --spec {params.job}#config.acquire.{params.key} --languages {params.languages}"
        " --manifest {output.manifest} --out {output.data} 2> {log}"


if ENCODER:

    rule acquire_encoder:
        output:
            encoder=directory(ENCODER_DIR),
            manifest="data/acquired/encoder.json",
        log:
            "results/logs/acquire_encoder.log",
        benchmark:
            "results/benchmarks/acquire_encoder.tsv"
        params:
            **job_params(
                "acquire_encoder", "acquire:acquire_encoder", acquire_config("encoder")
            ),
        resources:
            mem_mb=scaled(2000),
            runtime=scaled(120),
            gpu=0,
        localrule: ON_SUBMIT_HOST
        conda:
            "../envs/cpu.yaml"
        shell:
            "polyfact --job {params.job} acquire encoder --spec {params.job}#config.acquire.encoder"
            " --manifest {output.manifest} --out {output.encoder} 2> {log}"
