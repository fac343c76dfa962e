# Targets developers and CI share. CI (.ci/run) runs the same install and test commands.
PY ?= .venv/bin/python

.PHONY: install test test-all lint bench extension e2e

install:
	python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev,finetune,license]"

test:
	$(PY) -m pytest

test-all:
	$(PY) -m pytest -m "slow or not slow"

lint:
	$(PY) -m ruff check .
	PATH=$(dir $(PY)):$$PATH .ci/typecheck

bench:
	$(PY) bench/latency.py
	$(PY) bench/vetting.py
	$(PY) bench/events.py

extension:
	cd extension && npm ci && npm run build && npm test && npm run package

e2e:
	bash extension/scripts/e2e.sh
