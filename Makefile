# Two commands for a fresh machine with Python 3.11+ and make:
#   make demo   - set everything up and run the quickstart A/B
#   make test   - set everything up and run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0

.PHONY: setup demo test images lint bench screenshots clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e '.[train,dev]' "$(TORCH_PIN)"
	touch $@

demo: setup
	$(VENV)/bin/abtui demo

test: setup images
	$(PY) -m ruff check abtui runners tests bench
	$(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(PY) -m pytest -ra $(PYTEST_ARGS)

# Local test images for the docker tests (cached; nothing is pulled). Without a daemon the
# docker tests skip here, and fail in CI (.ci/run sets ABTUI_REQUIRE_DOCKER=1).
images: setup
	@if docker info >/dev/null 2>&1; then bash tests/images/build.sh; \
	 else echo "no Docker daemon: skipping test images (start one with: bash .ci/docker-up.sh)"; fi

lint: setup
	$(PY) -m ruff check abtui runners tests bench

bench: setup
	$(PY) bench/run.py $(BENCH_ARGS)

screenshots: setup
	$(PY) -m abtui.tui.screenshots screenshots

clean:
	rm -rf $(VENV) runs .pytest_cache
