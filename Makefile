# The two commands a new user needs (README): `make demo` and `make test`.
# Both create the virtual environment on first use and reuse it afterwards; it is
# rebuilt when requirements.txt or pyproject.toml change.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo
PYTEST_ARGS ?=

.PHONY: demo test test-fast bench install clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@if $(BIN)/python -m pip show torchvision >/dev/null 2>&1; then \
		echo "torchvision got installed; it breaks beside torch 2.13.0+cpu. Remove it." >&2; exit 1; fi
	@touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/cocoedit demo --out $(DEMO_OUT)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	status=0; for b in bench_metrics bench_judge bench_backbone bench_train; do $(BIN)/python benchmarks/$$b.py || status=1; done; exit $$status

clean:
	rm -rf $(VENV) runs .pytest_cache
