# The course in two commands:  make lab  (open the course)  and  make test  (run every test).
# Both create the virtual environment .venv on first use and install course_lib into it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-installed
PYTEST_ARGS ?=
RUN_ALL_ARGS ?=

.PHONY: lab test setup chromium lint format exercises run-all benchmarks clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "The course needs Python 3.11 or newer; '$(PYTHON)' is older. Run: make PYTHON=python3.11 ..."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install course_lib with its dev tools

lab: $(STAMP)  ## open the course in JupyterLab
	$(BIN)/jupyter lab --ServerApp.root_dir=. $$([ "$$(id -u)" = 0 ] && echo --allow-root) README.md

# The browser test needs Debian's chromium. Install it where the system allows (root with
# apt-get); anywhere else say how, and go on: the test then skips and says why.
chromium:  ## install chromium for the browser test, where that is possible
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || [ -n "$$COURSE_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium for the browser test (apt-get install chromium)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }; } \
	  || echo "note: apt-get could not install chromium; the browser test will be skipped"; \
	else \
	  echo "note: chromium is not installed (Debian/Ubuntu: sudo apt-get install chromium);" \
	    "the browser test will be skipped"; \
	fi

test: $(STAMP) chromium  ## lint, exercise drift, unit tests, the browser test, every notebook in smoke mode
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SMOKE_TEST=1 PYDEVD_DISABLE_FILE_VALIDATION=1 $(BIN)/python -m pytest tests \
	  notebooks exercises solutions --nbval-lax --nbval-current-env \
	  --nbval-cell-timeout=900 --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

exercises: $(STAMP)  ## rewrite exercises/ from solutions/
	$(BIN)/python tools/make_exercises.py

run-all: $(STAMP)  ## run every lecture notebook at the lecture budget; HTML copies in build/html/
	$(BIN)/python tools/run_all.py $(RUN_ALL_ARGS)

benchmarks: $(STAMP)  ## measure the lecture budgets (minutes; prints the figures)
	$(BIN)/python benchmarks/vae_elbo.py

clean:
	rm -rf $(VENV) build *.egg-info
