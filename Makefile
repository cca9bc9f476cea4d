# The few targets everybody needs. Each installs what it needs itself: `make demo` only
# the package and its runtime dependencies, `make test` the dev extras too.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CORE   := $(VENV)/.installed-core
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-output
# pytest-xdist workers: one per core. Most tests wait on subprocesses, kernels and moto, so
# even two cores finish the suite in about two thirds of the time. `make test PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= auto
# Where pip also looks for torch and torchvision. Unset, they come from your usual index
# (on Linux, PyPI's CUDA wheels: about 5 GB with their nvidia-* dependencies). Where the
# PyTorch CPU index is reachable, CPU-only wheels (+cpu, which pip prefers) are under 1 GB:
#   make demo TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# (container/Dockerfile takes the same build argument.)
TORCH_INDEX_URL ?=
PIP_TORCH := $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL))

.PHONY: install test test-fast image-test demo bench bench-preview bench-startup lint clean strip-notebooks

$(CORE): pyproject.toml setup.py augment/_native.c augment/_jpeg.c
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_TORCH) -e .
	@touch $@

$(STAMP): $(CORE)
	$(PY) -m pip install --quiet $(PIP_TORCH) -e '.[dev]'
	@touch $@

install: $(STAMP)  ## create .venv and install the package with its dev extras

test: $(STAMP)  ## lint, then the whole test suite, then every notebook through nbval (moto started by tests/conftest.py): what CI runs
	$(VENV)/bin/ruff check augment tests benchmarks
	$(PY) -m pytest -n $(PYTEST_WORKERS)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -p tests.conftest --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks/

test-fast: $(STAMP)  ## lint and the unit tests alone: no test marked slow (notebooks, browser, jobs end to end), no nbval
	$(VENV)/bin/ruff check augment tests benchmarks
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow"

image-test: $(STAMP)  ## build container/Dockerfile with Docker or podman and run it as SageMaker would (minutes; tests/test_image.py)
	@tests/image/ensure-engine.sh
	$(PY) -m pytest -m image --timeout 3600 tests/test_image.py

demo: $(CORE)  ## the main job on the local runtime: 2 simulated instances shard the sample photos
	@rm -rf $(DEMO_OUT)
	$(VENV)/bin/augment run --backend local --mode sharded --instance-count 2 --spec light \
		--input "$$($(VENV)/bin/augment samples --dir)" --output $(DEMO_OUT)

bench: $(STAMP)  ## throughput of the kit against its peers, in one run (three rounds each: about a quarter of an hour), then what labels add to a job (about two minutes)
	$(PY) benchmarks/bench.py --json benchmarks/results/latest.json
	$(PY) benchmarks/labels.py --json benchmarks/results/labels-latest.json

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
