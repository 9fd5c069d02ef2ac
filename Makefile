# Set-up and runs: `make repro` (environment + the core DVC pipeline), `make repro-all` (+ every study
# pipeline under experiments/), `make test` (environment + the test suite).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
export PATH := $(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: env repro repro-all test plots bench clean-env lock check-repro

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

# The study pipelines on the embedded default, as animatelab.config.STUDIES (experiments/webvid-sd15 needs real
# weights and data: run it by hand)
STUDIES := motion-design motionlora prompt-motion sparsectrl moonshot motion-world motion-learning

repro: env
	$(BIN)/python -m animatelab.warm -- $(BIN)/dvc repro
	$(BIN)/python -m animatelab.readme_splice README.md reports/findings.md

repro-all: env
	$(BIN)/python -m animatelab.warm -- $(BIN)/dvc repro dvc.yaml $(foreach s,$(STUDIES),experiments/$(s)/dvc.yaml)
	$(BIN)/python -m animatelab.readme_splice README.md reports/findings.md

test: env
	$(BIN)/python -m pytest

# every DVC plot as one page that opens offline (dvc plots show's page loads its libraries from a CDN);
# e.g. `make plots PLOTS=loss_rq1_motion` or PLOTS="--diff HEAD~1"
PLOTS ?=
plots: env
	$(BIN)/python -m animatelab.plots_page $(PLOTS)

# After `make repro`: the fresh metrics/*.json and dvc.lock hashes (data/synth, data/prepared) vs the
# committed ones, each difference printed; e.g. `make check-repro CHECK_REPRO="--rel-tol 0.02 --within-ci"`.
CHECK_REPRO ?= --rel-tol 0 --abs-tol 0
check-repro: env
	$(BIN)/python -m animatelab.repro_check $(CHECK_REPRO)

bench: env
	$(BIN)/python benchmarks/run_all.py

clean-env:
	rm -rf $(VENV)

# Re-pin after changing dependencies: freezes the current venv into requirements.lock + environment.yml.
lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^animatelab' > requirements.lock.tmp
	@grep -q '^setuptools==' requirements.lock.tmp || $(BIN)/python -c "import setuptools; print('setuptools=='+setuptools.__version__)" >> requirements.lock.tmp
	(echo "# Exact versions (pip freeze of a working env, CPU x86_64, Python 3.11). Regenerate with: make lock"; cat requirements.lock.tmp) > requirements.lock && rm requirements.lock.tmp
	$(BIN)/python -m animatelab.envfile requirements.lock environment.yml
