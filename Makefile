# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv on first use; torch comes from constraints.txt (the CPU build).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint typecheck unit system-packages sandbox-package clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP) sandbox-package
	$(BIN)/grade submissions/ --assignment bs6207-a1
	$(BIN)/grade reference --assignment bs6207-a1 --out reports/reference/bs6207-a1

test: system-packages lint typecheck unit

# A measurement, not a test: ms per student for classes of 50 and 200 (see docs/tas.md, Speed).
bench: $(STAMP) sandbox-package
	$(BIN)/python -m grader.bench --students 50 200

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian packages, installed when missing and we are root: bubblewrap walls in student code
# (without it grading still runs, less isolated); the report test opens pages in chromium.
define apt_install
	@missing=""; for p in $(1); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq $$(echo $$missing | sed 's/bwrap/bubblewrap/'); \
	  else echo "note: not installed:$$missing (apt-get install them as root)"; fi; \
	fi
endef

system-packages:
	$(call apt_install,bwrap chromium)

sandbox-package:
	$(call apt_install,bwrap)

unit: $(STAMP)
	$(BIN)/pytest

clean:
	rm -rf $(VENV) reports/reference tests/output
