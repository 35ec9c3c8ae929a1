# Quickstart: `make run` (train + measure the stem-ablation suite on the built-in digits data, write the report)
# and `make test`. Each target creates .venv on first use.
VENV := .venv
PY := $(VENV)/bin/python
BENCH := $(VENV)/bin/bench
STAMP := $(VENV)/.installed-stamp

.PHONY: run test overhead venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The report is written even when a run failed (it lists failures); the exit status is the run's.
run: $(STAMP)
	$(BENCH) run --suite stem-ablation; status=$$?; $(BENCH) report --suite stem-ablation && exit $$status

test: $(STAMP)
	$(PY) -m pytest

overhead: $(STAMP)
	$(PY) -m tests.benchmarks.runner_overhead --rounds 11

clean:
	rm -rf $(VENV) .pytest_cache
