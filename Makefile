# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv on first use; torch comes from constraints.txt (the CPU build).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit chromium clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/grade submissions/ --assignment bs6207-a1
	$(BIN)/grade reference --assignment bs6207-a1 --out reports/reference/bs6207-a1

test: chromium lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The report test opens pages in Debian's chromium (driven by playwright; no browser download).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "note: no /usr/bin/chromium; the browser test will be skipped (apt-get install chromium)"; fi; \
	fi

unit: $(STAMP)
	$(BIN)/pytest

clean:
	rm -rf $(VENV) reports/reference tests/output
