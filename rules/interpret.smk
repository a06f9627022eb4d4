localrules:
    interpretability_table,
    interpretability_figures,


rule interpret:
    input:
        unpack(interpret_inputs),
    output:
        "results/interp/{model}/{method}/{analysis}.json",
    log:
        "results/logs/interpret/{model}/{method}/{analysis}.log",
    benchmark:
        "results/benchmarks/interpret/{model}/{method}/{analysis}.tsv"
    params:
        **job_params(
            "interpret",
            lambda wildcards: f"interpret:interpret_{wildcards.analysis}",
            interpret_config,
        ),
        languages=csv(INTERPRET_LANGS),
        max_sentences=lambda wildcards: interpret_setting(wildcards, "max_sentences"),
        max_length=lambda wildcards: interpret_setting(wildcards, "max_length"),
        options=interpret_options,
    threads: INTERPRET["threads"]
    resources:
        mem_mb=scaled(INTERPRET["mem_mb"]),
        runtime=scaled(INTERPRET["runtime"]),
        gpu=INTERPRET["gpus"],
    conda:
        model_env(INTERPRET["gpus"])
    shell:
        "polyfact --job {params.job} interpret {wildcards.analysis} --model {input.model}"
        " --corpus {params.job}#config.interpret.corpus --text {input.text}"
        " --languages {params.languages} --max-sentences {params.max_sentences}"
        " --max-length {params.max_length} {params.options}"
        " --threads {threads} --out {output} 2> {log}"


rule interpretability_table:
    input:
        lape=expand(
            "results/interp/{model}/{method}/lape.json", model=MODELS, method=METHODS
        ),
        lahis=expand(
            "results/interp/{model}/{method}/lahis.json", model=MODELS, method=METHODS
        ),
        mexa=expand(
            "results/interp/{model}/{method}/mexa.json", model=MODELS, method=METHODS
        ),
    output:
        md=report(
            "results/tables/interpretability.md",
            category="Interpretability",
            caption="../workflow/report/interpretability.rst",
        ),
        csv="results/tables/interpretability.csv",
    log:
        "results/logs/interpretability_table.log",
    params:
        **job_params("interpretability_table", "interpret:report_interpretability", {}),
        low_resource=csv(config["languages"]["low_resource"]),
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} report interpretability --lape {input.lape:q} --lahis {input.lahis:q}"
        " --mexa {input.mexa:q} --low-resource '{params.low_resource}'"
        " --md {output.md} --csv {output.csv} 2> {log}"


rule interpretability_figures:
    input:
        lape=expand("results/interp/{{model}}/{method}/lape.json", method=METHODS),
        lahis=expand("results/interp/{{model}}/{method}/lahis.json", method=METHODS),
        mexa=expand("results/interp/{{model}}/{method}/mexa.json", method=METHODS),
    output:
        lape_by_language=report(
            multiext("results/figures/{model}/lape_by_language", ".png", ".pdf"),
            category="Interpretability",
            subcategory="{model}",
            caption="../workflow/report/lape.rst",
        ),
        lape_by_layer=report(
            multiext("results/figures/{model}/lape_by_layer", ".png", ".pdf"),
            category="Interpretability",
            subcategory="{model}",
            caption="../workflow/report/lape.rst",
        ),
        lahis_by_layer=report(
            multiext("results/figures/{model}/lahis_by_layer", ".png", ".pdf"),
            category="Interpretability",
            subcategory="{model}",
            caption="../workflow/report/lahis.rst",
        ),
        lahis_overlap=report(
            multiext("results/figures/{model}/lahis_overlap", ".png", ".pdf"),
            category="Interpretability",
            subcategory="{model}",
            caption="../workflow/report/lahis.rst",
        ),
        mexa_by_layer=report(
            multiext("results/figures/{model}/mexa_by_layer", ".png", ".pdf"),
            category="Interpretability",
            subcategory="{model}",
            caption="../workflow/report/mexa.rst",
        ),
        mexa_delta=report(
            multiext("results/figures/{model}/mexa_delta", ".png", ".pdf"),
            category="Interpretability",
            subcategory="{model}",
            caption="../workflow/report/mexa.rst",
        ),
    log:
        "results/logs/interpretability_figures/{model}.log",
    params:
        **job_params(
            "interpretability_figures", "interpret:interpretability_figures", {}
        ),
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} report interp-figures --lape {input.lape:q} --lahis {input.lahis:q} --mexa {input.mexa:q}"
        " --lape-by-language {output.lape_by_language} --lape-by-layer {output.lape_by_layer}"
        " --lahis-by-layer {output.lahis_by_layer} --lahis-overlap {output.lahis_overlap}"
        " --mexa-by-layer {output.mexa_by_layer} --mexa-delta {output.mexa_delta} 2> {log}"
