# Two commands on a fresh machine: `make run` (embedded default DAG) and `make test`.
VENV := .venv
STAMP := $(VENV)/.installed
CORES ?= 2
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test test-fast lint dry-run clean

# torch first, pinned: the local CPU wheel; anything resolving torch by itself pulls a CUDA build.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[test]'
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
