# The two commands of the README: `make demo` and `make test`. Both start from nothing but
# Python 3.11: they create .venv and install what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= var/demo
# The suite runs in two worker processes (pytest-xdist; a module stays on one worker): the
# machines are 2-core. TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2

.PHONY: demo test serve bench sbom clean web-assets web-i18n

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

# What the portal's browser tests inject (axe-core), from the committed lock file.
AXE := tests/web/node_modules/axe-core/axe.min.js
$(AXE): tests/web/package.json tests/web/package-lock.json
	cd tests/web && npm ci --no-audit --no-fund
	touch $@

# The independent SD-JWT VC implementation the credentials tests check ours against.
SDJWT_JS := tests/credentials/node_modules/@sd-jwt/sd-jwt-vc/package.json
$(SDJWT_JS): tests/credentials/package.json tests/credentials/package-lock.json
	cd tests/credentials && npm ci --no-audit --no-fund
	touch $@

test: $(VENV)/.installed-test $(CHROMIUM) $(AXE) $(SDJWT_JS)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --durations=15

# The portal's CSS/JS (GOV.UK Frontend, system fonts, no crown), rebuilt from web/ and committed
# in src/dpistack/web/static, so that `make demo` needs no Node. Run after changing web/.
STATIC := src/dpistack/web/static
web-assets:
	cd web && npm ci --no-audit --no-fund
	cd web && npx sass --load-path=node_modules --style=compressed --no-source-map --quiet-deps portal.scss ../$(STATIC)/portal.css
	sed 's#//\# sourceMappingURL=.*##' web/node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js > $(STATIC)/govuk-frontend.min.js
	cp web/GOVUK-FRONTEND-LICENCE.txt $(STATIC)/GOVUK-FRONTEND-LICENCE.txt
	cp web/node_modules/htmx.org/dist/htmx.min.js $(STATIC)/htmx.min.js
	cp web/node_modules/htmx.org/LICENSE $(STATIC)/HTMX-LICENCE.txt

# Translations: extract the portal's messages and merge them into each language's .po
# (the .mo files are compiled from the .po when the portal first loads them).
WEB := src/dpistack/web
# ... and those of identity's OpenID Provider login pages.
IDENTITY := src/dpistack/identity
web-i18n: $(VENV)/.installed-test
	$(BIN)/pybabel extract -F $(WEB)/babel.cfg -o $(WEB)/locale/messages.pot --no-location --sort-output $(WEB)
	for l in fr es pt ar; do $(BIN)/pybabel update -i $(WEB)/locale/messages.pot -d $(WEB)/locale -l $$l --no-fuzzy-matching; done
	$(BIN)/pybabel extract -F $(IDENTITY)/babel.cfg -o $(IDENTITY)/locale/messages.pot --no-location --sort-output $(IDENTITY)
	for l in fr es pt ar; do $(BIN)/pybabel update -i $(IDENTITY)/locale/messages.pot -d $(IDENTITY)/locale -l $$l --no-fuzzy-matching; done

serve: $(VENV)/.installed
	$(BIN)/dpi serve --data-dir $(DATA_DIR)

bench: $(VENV)/.installed-test
	$(BIN)/dpi bench transparency

sbom: $(VENV)/.installed-test
	$(BIN)/cyclonedx-py environment --output-reproducible --of JSON -o sbom.json $(BIN)/python
	@echo "CycloneDX SBOM written to sbom.json"

clean:
	rm -rf $(VENV) var build *.egg-info
