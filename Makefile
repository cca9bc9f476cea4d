# The few targets everybody needs. Each installs what it needs itself.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-output

.PHONY: install test demo bench bench-preview bench-startup lint clean strip-notebooks

$(STAMP): pyproject.toml setup.py augment/_native.c augment/_jpeg.c
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)  ## create .venv and install the package with its dev extras

test: $(STAMP)  ## lint, then the whole test suite, then every notebook through nbval (moto started by tests/conftest.py)
	$(VENV)/bin/ruff check augment tests benchmarks
	$(PY) -m pytest
	$(PY) -m pytest -p tests.conftest --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks/

demo: $(STAMP)  ## the main job on the local runtime: 2 simulated instances shard the sample photos
	@rm -rf $(DEMO_OUT)
	$(VENV)/bin/augment run --backend local --mode sharded --instance-count 2 --spec light \
		--input "$$($(VENV)/bin/augment samples --dir)" --output $(DEMO_OUT)

bench: $(STAMP)  ## throughput of the kit against its peers, in one run (three rounds each: about a quarter of an hour)
	$(PY) benchmarks/bench.py --json benchmarks/results/latest.json

bench-preview: $(STAMP)  ## how long the preview takes to re-render (light and strong, 4 images x 4 copies, one core)
	$(PY) benchmarks/preview.py --json benchmarks/results/preview-latest.json

bench-startup: $(STAMP)  ## how long the commands that draw no pixel take to answer (validate, ops, presets, ...; goal 0.5 s)
	$(PY) benchmarks/startup.py --json benchmarks/results/startup-latest.json

strip-notebooks: $(STAMP)  ## remove outputs and execution counts, set the kernel to python3, before a commit
	$(PY) -m augment.notebooks strip notebooks/*.ipynb tests/notebooks/*.ipynb

lint: $(STAMP)
	$(VENV)/bin/ruff check augment tests benchmarks

clean:
	rm -rf $(DEMO_OUT) .pytest_cache build *.egg-info
