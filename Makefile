# Two commands for a newcomer: `make run` and `make test` (see README).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-embedded.txt requirements-dev.txt | sha1sum | cut -c1-12)
ARGS ?=

.PHONY: run test test-slow schema-snapshot validation-pack lint install install-dev messages clean-local build-version backup

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel

# requirements-embedded.txt: the runtime (requirements.txt, all the production image installs)
# plus the embedded PostgreSQL and Redis that `make run` / `make test` start when nothing is set.
install: $(BIN)/python
	$(BIN)/pip install -q -r requirements-embedded.txt
	$(BIN)/python -m trialsite.i18n compile

$(STAMP): $(BIN)/python requirements.txt requirements-embedded.txt requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install-dev: $(STAMP)
	$(BIN)/python -m trialsite.i18n compile

## make run: install, migrate, load the demo study, serve with a worker and beat (embedded
## PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set). Ctrl-C stops everything.
run: install
	$(BIN)/python -m trialsite.launcher

## make test: the suite against PostgreSQL (DATABASE_URL if set, else embedded), one pytest-xdist
## worker per CPU (TEST_WORKERS=N to choose, 0 for one process); prints the time taken. Every test
## but the second tier's long proofs (marks slow, browser, demo: see make test-slow).
FAST := not slow and not browser and not demo
test: install-dev
	$(BIN)/python -m trialsite.testrun -m "$(FAST)" --junitxml=artifacts/junit-fast.xml $(ARGS)

## make test-slow: the bounded second tier, the long proofs. First the end-to-end walks (real
## Chromium, and the tests that read the whole demo study loaded through the services) in one
## worker per CPU; then the fault and load proofs in one process unless TEST_WORKERS is set (their
## timings - outage windows, load - assume the machine is not shared with another test).
test-slow: install-dev
	$(BIN)/python -m trialsite.testrun -m "(browser or demo) and not slow" --junitxml=artifacts/junit-e2e.xml $(ARGS); \
	e2e=$$?; \
	TEST_WORKERS=$${TEST_WORKERS:-0} $(BIN)/python -m trialsite.testrun -m "slow" --junitxml=artifacts/junit-slow.xml $(ARGS); \
	slow=$$?; \
	echo "make test-slow: end-to-end walks exit $$e2e, fault and load proofs exit $$slow"; \
	test $$e2e -eq 0 -a $$slow -eq 0

## make schema-snapshot: after a change of migrations, write the migrated schema that `make test`
## restores on a fresh clone instead of migrating (trialsite/testdb.py; `make lint` asks for it).
schema-snapshot: install-dev
	$(BIN)/python -m trialsite.testrun --schema-snapshot

## make validation-pack: requirements → tests → last results of `make test` (docs/validation/).
validation-pack: install-dev
	DJANGO_DEBUG=1 $(BIN)/python manage.py validation_pack

## make backup: a consistent dump of data and audit history with its SHA-256 and manifest, into
## BACKUP_DIR (default .local/backups/); `make run`'s embedded data unless DATABASE_URL is set.
backup: install
	$(BIN)/python -m trialsite.backup $(ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/djlint templates --lint
	$(BIN)/lint-imports
	$(BIN)/python -m trialsite.import_graph
	DJANGO_DEBUG=1 $(BIN)/mypy clinical --strict
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m trialsite.i18n check
	@$(BIN)/python -c 'import sys; from trialsite.testdb import snapshot_path as p; sys.exit(0 if p().exists() else f"lint: {p().name} is missing: the migrations changed; run make schema-snapshot and commit it")'
	@if grep -rnE --include='*.py' --exclude-dir=.venv --exclude-dir=crf --exclude-dir=tests 'version=(models\.)?F\("version"\) ?\+ ?1' .; then echo 'lint: re-derive through crf.rederive (rederive / update_with_version), not a hand-written version bump (issue 22)'; exit 1; fi

messages: install-dev
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemessages -l zh_Hans --no-obsolete --no-location -i ".venv/*" -i "staticfiles/*" -i "tests/*"
	$(BIN)/python -m trialsite.i18n check

## make build-version: record `git describe` in trialsite/BUILD_VERSION before copying the code
## without its .git (an image build); endpoint runs record it (study/version.py).
build-version:
	git describe --tags --always --dirty | sed 's/^/git /' > trialsite/BUILD_VERSION
