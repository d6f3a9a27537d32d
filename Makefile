# autopilotcx.maintenance: two commands matter, `make demo` and `make test`. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSSTAMP := .tmp/.system-packages
COLL := .tmp/ansible-test/ansible_collections/autopilotcx/maintenance
export ANSIBLE_PYTHON_INTERPRETER := $(abspath $(VPY))

.PHONY: all deps venv system-packages test unit integration matrix sanity lint doc build changelog-lint demo bench clean

all: test

# ------------------------------------------------------------------ setup
$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -U pip wheel
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

$(SYSSTAMP): tests/system-packages.txt
	@mkdir -p .tmp
	bash scripts/install-system-packages.sh tests/system-packages.txt
	@touch $(SYSSTAMP)

system-packages: $(SYSSTAMP)

deps: venv system-packages

# ------------------------------------------------------------------ tests
# Everything CI runs: the README's test command.
test: deps
	bash scripts/run-tests.sh

# The fast tier for your own loop: every test that starts no real service (see tests/harness/tier.py).
unit: deps
	AUTOPILOTCX_TEST_TIER=fast $(VPY) -m pytest -q -n 2 -m 'not service and not slow' tests/unit tests/integration

integration: deps
	$(VPY) -m pytest -q tests/integration

# The support matrix alone (part of `make test`): oldest and newest ansible-core, target Pythons 3.8-3.13, the
# distributions' library versions. Venvs are cached in ~/.cache/autopilotcx-maintenance/matrix (AUTOPILOTCX_MATRIX_CACHE moves them).
matrix: deps
	$(VPY) -m pytest -q -n 0 tests/integration/test_support_matrix.py tests/unit/test_support_matrix_docs.py

sanity: deps
	bash scripts/ansible-test-sanity.sh

lint: deps
	bash scripts/lint.sh

doc: deps
	bash scripts/check-docs.sh

build: deps
	$(VENV)/bin/ansible-galaxy collection build --force --output-path .tmp/build .

changelog-lint: deps
	$(VENV)/bin/antsibull-changelog lint

# ------------------------------------------------------------------ demo and benchmarks
demo: deps
	bash scripts/demo.sh

bench: deps
	bash scripts/bench.sh

clean:
	rm -rf .tmp build bench-output demo-output tests/output
