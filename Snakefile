# PolyFact: cross-lingual factual consistency, end to end (see README.md).


from snakemake.utils import min_version

min_version("9.0")


# A `--configfile` scenario (paper.yaml, the test configs) replaces the embedded default
# instead of extending it: merged, every scenario would also train the toy model.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/acquire.smk"
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
        paper_comparison_targets(),
