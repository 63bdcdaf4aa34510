# The two commands of the README: `make demo` and `make test`. Both start from nothing but
# Python 3.11: they create .venv and install what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= var/demo

.PHONY: demo test serve bench sbom clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the package's declared dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(VENV)/.installed $@

# Browser tests drive Debian's Chromium through Playwright (never a browser download at run time).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	  || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

demo: $(VENV)/.installed
	$(BIN)/dpi demo

test: $(VENV)/.installed-test $(CHROMIUM)
	$(BIN)/python -m pytest -q

serve: $(VENV)/.installed
	$(BIN)/dpi serve --data-dir $(DATA_DIR)

bench: $(VENV)/.installed-test
	$(BIN)/dpi bench transparency

sbom: $(VENV)/.installed-test
	$(BIN)/cyclonedx-py environment --output-reproducible --of JSON -o sbom.json $(BIN)/python
	@echo "CycloneDX SBOM written to sbom.json"

clean:
	rm -rf $(VENV) var build *.egg-info
