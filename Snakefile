# PolyFact: cross-lingual factual consistency, end to end (see README.md).


from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/extract.smk"
include: "rules/dataset.smk"
include: "rules/models.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/interpret.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
