localrules:
    models_report,
    results_table,
    significance,
    paper_comparison,
    evaluation_figures,
    training_curves,


rule evaluate_mcq:
    input:
        unpack(mcq_inputs),
    output:
        "results/eval/{model}/{method}/{benchmark}.json",
    log:
        "results/logs/evaluate_mcq/{model}/{method}/{benchmark}.log",
    benchmark:
        "results/benchmarks/evaluate_mcq/{model}/{method}/{benchmark}.tsv"
    params:
        **job_params("evaluate_mcq", "evaluate:evaluate_mcq", mcq_config),
        args=mcq_args,
        normalisation=EVALUATION["normalisation"],
        batch_size=EVALUATION["batch_size"],
    threads: EVALUATION["threads"]
    resources:
        mem_mb=scaled(EVALUATION["mem_mb"]),
        runtime=scaled(EVALUATION["runtime"]),
        gpu=EVALUATION["gpus"],
    conda:
        model_env(EVALUATION["gpus"])
    shell:
        "polyfact --job {params.job} evaluate mcq --model {input.model} {params.args}"
        " --normalisation {params.normalisation} --batch-size {params.batch_size}"
        " --threads {threads} --out {output} 2> {log}"


rule evaluate_klar:
    input:
        unpack(klar_inputs),
    output:
        "results/eval/{model}/{method}/klar.json",
    log:
        "results/logs/evaluate_klar/{model}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate_klar/{model}/{method}.tsv"
    params:
        **job_params(
            "evaluate_klar",
            "evaluate:evaluate_klar",
            section("evaluation", "languages", "seed"),
        ),
        klar_dir=EVALUATION["klar"]["dir"],
        languages=klar_language_args(),
        prompt=klar_prompt_args(),
        decontaminate=klar_decontaminate_arg,
        shots=EVALUATION["klar"]["shots"],
        max_new_tokens=EVALUATION["klar"]["max_new_tokens"],
        normalisation=EVALUATION["normalisation"],
        batch_size=EVALUATION["klar"]["batch_size"],
        seed=config["seed"],
    threads: EVALUATION["threads"]
    resources:
        mem_mb=scaled(EVALUATION["mem_mb"]),
        runtime=scaled(EVALUATION["runtime"]),
        gpu=EVALUATION["gpus"],
    conda:
        model_env(EVALUATION["gpus"])
    shell:
        "polyfact --job {params.job} evaluate klar --model {input.model} --klar-dir {params.klar_dir}"
        " {params.languages} {params.prompt} {params.decontaminate}"
        " --shots {params.shots} --max-new-tokens {params.max_new_tokens} --seed {params.seed}"
        " --normalisation {params.normalisation} --batch-size {params.batch_size}"
        " --threads {threads} --out {output} 2> {log}"


rule results_table:
    input:
        evals=expand(
            "results/eval/{model}/{method}/{benchmark}.json",
            model=MODELS,
            method=METHODS,
            benchmark=BENCHMARKS,
        ),
        models=expand("results/models/{model}/{method}", model=MODELS, method=METHODS),
    output:
        md=report(
            "results/tables/main.md",
            category="Evaluation",
            caption="../workflow/report/main_table.rst",
        ),
        csv="results/tables/main.csv",
    log:
        "results/logs/results_table.log",
    params:
        **job_params("results_table", "tables:report_tables", {}),
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} report tables --evals {input.evals:q} --models {input.models:q}"
        " --md {output.md} --csv {output.csv} 2> {log}"


rule significance:
    input:
        evals=expand(
            "results/eval/{model}/{method}/{benchmark}.json",
            model=MODELS,
            method=METHODS,
            benchmark=BENCHMARKS,
        ),
    output:
        md=report(
            "results/tables/significance.md",
            category="Evaluation",
            caption="../workflow/report/significance.rst",
        ),
        json="results/tables/significance.json",
    log:
        "results/logs/significance.log",
    params:
        **job_params(
            "significance",
            "tables:report_significance",
            section("evaluation", "seed"),
        ),
        resamples=EVALUATION["bootstrap_resamples"],
        seed=config["seed"],
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(30),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} report significance --evals {input.evals:q} --resamples {params.resamples}"
        " --seed {params.seed} --md {output.md} --json {output.json} 2> {log}"


rule paper_comparison:
    input:
        evals=expand(
            "results/eval/{model}/{method}/{benchmark}.json",
            model=MODELS,
            method=METHODS,
            benchmark=BENCHMARKS,
        ),
        published=published_files(),
    output:
        md=report("results/tables/paper_comparison.md", category="Evaluation"),
        csv="results/tables/paper_comparison.csv",
    log:
        "results/logs/paper_comparison.log",
    params:
        **job_params(
            "paper_comparison",
            "tables:report_paper_comparison",
            section("evaluation", "seed"),
        ),
        published=lambda wildcards, input: (
            Path(input.published[0]).parent
            if input.published
            else EVALUATION["published"]
        ),
        resamples=EVALUATION["bootstrap_resamples"],
        seed=config["seed"],
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(30),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} report paper-comparison --evals {input.evals:q}"
        " --published {params.published:q} --resamples {params.resamples} --seed {params.seed}"
        " --md {output.md} --csv {output.csv} 2> {log}"


rule evaluation_figures:
    input:
        evals=expand(
            "results/eval/{{model}}/{method}/polyfact.json",
            method=METHODS,
        ),
    output:
        accuracy_png=report(
            "results/figures/{model}/accuracy_by_language.png",
            category="Evaluation",
            subcategory="{model}",
            caption="../workflow/report/accuracy_by_language.rst",
        ),
        accuracy_pdf="results/figures/{model}/accuracy_by_language.pdf",
        totcons_png=report(
            "results/figures/{model}/totcons_histogram.png",
            category="Evaluation",
            subcategory="{model}",
            caption="../workflow/report/totcons_histogram.rst",
        ),
        totcons_pdf="results/figures/{model}/totcons_histogram.pdf",
    log:
        "results/logs/evaluation_figures/{model}.log",
    params:
        **job_params("evaluation_figures", "tables:report_figures", {}),
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} report figures --evals {input.evals:q}"
        " --accuracy {output.accuracy_png} {output.accuracy_pdf}"
        " --totcons {output.totcons_png} {output.totcons_pdf} 2> {log}"


rule models_report:
    input:
        models=expand("results/models/{model}/{method}", model=MODELS, method=METHODS),
        evals=expand(
            "results/eval/{model}/{method}/polyfact.json", model=MODELS, method=METHODS
        ),
    output:
        md=report(
            "results/models/report.md",
            category="Models",
            caption="../workflow/report/models.rst",
        ),
        json="results/models/report.json",
    log:
        "results/logs/models_report.log",
    params:
        **job_params("models_report", "train:report_models", {}),
        stats=lambda wildcards, input: [
            Path(d) / "train_stats.json" for d in input.models
        ],
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} report models --stats {params.stats} --evals {input.evals}"
        " --md {output.md} --json {output.json} 2> {log}"


rule training_curves:
    input:
        models=expand("results/models/{{model}}/{method}", method=METHODS),
    output:
        png=report(
            "results/figures/{model}/training_curves.png",
            category="Models",
            subcategory="{model}",
            caption="../workflow/report/training_curves.rst",
        ),
        pdf="results/figures/{model}/training_curves.pdf",
    log:
        "results/logs/training_curves/{model}.log",
    params:
        **job_params("training_curves", "train:report_training_curves", {}),
        stats=lambda wildcards, input: [
            Path(d) / "train_stats.json" for d in input.models
        ],
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
        gpu=0,
    conda:
        "../envs/cpu.yaml"
    shell:
        "polyfact --job {params.job} report training-curves --stats {params.stats}"
        " --out {output.png} {output.pdf} 2> {log}"
