# The two commands of the README.  Each builds its own environment in .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test env lint docs clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The pinned CPU wheel; an unpinned torch would pull several GB of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test,docs]"
	touch $@

env: $(BIN)/.installed

## Main job: exact round trip of a real image through noise with the shipped model.
demo: env
	$(BIN)/revsde invert

## Tests: lint, types (mypy), the whole pytest suite (slow-marked tests included), then the docs site.
# One intra-op thread: small tensors run much faster so on a loaded 2-core machine.
test: env
	$(BIN)/ruff check revsde tests examples benchmarks docs/scripts
	$(BIN)/mypy revsde
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q
	NO_MKDOCS_2_WARNING=1 OMP_NUM_THREADS=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

lint: env
	$(BIN)/ruff check revsde tests examples benchmarks docs/scripts
	$(BIN)/mypy revsde

## The documentation site (strict: a warning fails the build), in site/.
docs: env
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) out site
