# The two commands in the README. Both run the idempotent setup first.
.PHONY: setup up test lint lock

setup:
	./scripts/setup.sh

up: setup
	.venv/bin/evr up

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .
	cd infra/ansible && ../../.venv/bin/ansible-lint --offline --profile production

test: setup lint
	.venv/bin/pytest

# Re-resolve requirements.lock after editing pyproject.toml's dependencies (setup installs it).
lock:
	./scripts/lock.sh
