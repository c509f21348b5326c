# The two commands in the README. Both run the idempotent setup first.
.PHONY: setup up test lint

setup:
	./scripts/setup.sh

up: setup
	.venv/bin/evr up

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .

test: setup lint
	.venv/bin/pytest
