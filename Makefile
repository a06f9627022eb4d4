# Two commands on a fresh machine: `make run` (embedded default DAG) and `make test`.
VENV := .venv
STAMP := $(VENV)/.installed
CORES ?= 2
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test test-fast lint dry-run clean slurm-profile

# The CPU set (envs/cpu-pins.txt), torch first: the local CPU wheel; anything resolving torch by
# itself pulls a CUDA build. The GPU set (envs/gpu-pins.txt) is for the cluster's GPU rules.
$(STAMP): pyproject.toml envs/cpu-pins.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -c envs/cpu-pins.txt torch
	$(VENV)/bin/pip install --quiet -c envs/cpu-pins.txt -e '.[workflow,test]'
	touch $@

run: $(STAMP)
	snakemake --cores $(CORES)

test: $(STAMP)
	python -m pytest

test-fast: $(STAMP)
	python -m pytest -m "not slow"

dry-run: $(STAMP)
	snakemake -n --cores $(CORES)

lint: $(STAMP)
	snakemake --lint
	snakefmt --check Snakefile rules

clean:
	rm -rf results .snakemake

# Install profiles/slurm as the user's `slurm` profile, so `snakemake --profile slurm` works
# from the workflow directory: make slurm-profile PARTITION=cpu GPU_PARTITION=gpu ACCOUNT=proj
# NETWORK_PARTITION (default PARTITION): where acquisition runs when submitted (acquire.run_on: cluster).
SLURM_PROFILE_DIR ?= $(HOME)/.config/snakemake/slurm
PARTITION ?= <cpu-partition>
GPU_PARTITION ?= <gpu-partition>
NETWORK_PARTITION ?= $(PARTITION)
ACCOUNT ?= <account>
slurm-profile:
	mkdir -p $(SLURM_PROFILE_DIR)
	sed -e 's|<cpu-partition>|$(PARTITION)|g' -e 's|<gpu-partition>|$(GPU_PARTITION)|g' \
		-e 's|<network-partition>|$(NETWORK_PARTITION)|g' \
		-e 's|<account>|$(ACCOUNT)|g' profiles/slurm/config.yaml > $(SLURM_PROFILE_DIR)/config.yaml
	@echo "installed $(SLURM_PROFILE_DIR)/config.yaml: snakemake --profile slurm --configfile config/paper.yaml"
