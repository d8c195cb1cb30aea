# The two commands a new user needs (README): `make demo` and `make test`.
# Both create the virtual environment on first use and reuse it afterwards; it is
# rebuilt when requirements.txt or pyproject.toml change.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint bench install browser clean

install: $(STAMP) browser

# The browser tests (rating app, side-by-side page) drive Debian's chromium through Playwright;
# Playwright's own browser download is not used. Installed here when no Chromium is on PATH.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	command -v google-chrome >/dev/null 2>&1 || test -n "$$COCOEDIT_CHROMIUM" || { \
		command -v apt-get >/dev/null 2>&1 || { echo "no Chromium on PATH and no apt-get: install Chromium (or set COCOEDIT_CHROMIUM); the browser tests need it" >&2; exit 1; }; \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@if $(BIN)/python -m pip show torchvision >/dev/null 2>&1; then \
		echo "torchvision got installed; it breaks beside torch 2.13.0+cpu. Remove it." >&2; exit 1; fi
	@touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/cocoedit demo --out $(DEMO_OUT)

# ruff: lint rules and format settings in pyproject.toml ([tool.ruff]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) browser lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-fast: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	status=0; for b in bench_metrics bench_judge bench_backbone bench_train; do $(BIN)/python benchmarks/$$b.py || status=1; done; exit $$status

clean:
	rm -rf $(VENV) runs .pytest_cache
