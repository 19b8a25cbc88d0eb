# Everything runs in .venv, created and filled on first use from pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench clean gpu-check gpu-check-smoke gpu-wheels gpu-train gpu-train-smoke

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m cli.main demo --threads 1

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow tests

# The prepared GPU check (issue 17). The GPU machine has no registry and no venv: it runs with the
# system python3 and PYTHONPATH=. (wheels from `make gpu-wheels` installed into /tmp/site first;
# `python3 -m benchmarks.gpu_check --help` says how). Nine minutes at most; writes GPU_OUT/gpu_check.{json,md}.
GPU_OUT ?= out/gpu-check
gpu-check:
	PYTHONPATH=$${PYTHONPATH:+$$PYTHONPATH:}. $(PYTHON) -m benchmarks.gpu_check --out $(GPU_OUT)

gpu-check-smoke: $(STAMP)
	$(PY) -m benchmarks.gpu_check --smoke --out $(GPU_OUT)-smoke

# The prepared GPU training (issue 28): the demo recipe and as many mini presets x seeds as fit in 9
# minutes, several processes sharing the GPU; packs of at most 16 MiB and gpu_train.json into TRAIN_OUT.
TRAIN_OUT ?= $${OUT:-out/gpu-train}
gpu-train:
	PYTHONPATH=$${PYTHONPATH:+$$PYTHONPATH:}. $(PYTHON) -m benchmarks.gpu_train --out $(TRAIN_OUT)

gpu-train-smoke: $(STAMP)
	$(PY) -m benchmarks.gpu_train --smoke --out out/gpu-train-smoke

# Wheels the GPU machine lacks (lpips), for CPython 3.12 manylinux x86-64, into the git-ignored .whl/.
gpu-wheels:
	$(PYTHON) -m benchmarks.gpu_check.wheels --dest .whl

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
