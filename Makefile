# Two commands: `make test` and `make demo`. Both bootstrap .venv on first use and
# re-install only when pyproject.toml changes (the stamp file is older than it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ARGS ?=

.PHONY: test demo lint typecheck pytest clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "simpang needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing simpang and its dev tools into $(VENV) (first use only)" >&2
	@$(BIN)/python -m pip install --quiet --upgrade pip >&2
	@$(BIN)/python -m pip install --quiet -e '.[dev]' >&2
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# Silent recipe: with DEMO_ARGS="... --json" stdout is the summary's JSON object and nothing else.
demo: $(STAMP)
	@$(BIN)/simpang demo $(DEMO_ARGS)


clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
