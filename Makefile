# The two commands (DESIGN.md): `make run` and `make test`. Both build .venv first when needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp

.PHONY: run test lint typecheck pytest golden bench clean

# Rebuilt when pyproject.toml (dependencies, tool config) changes, or when .venv is missing or broken.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || command -v $(PYTHON) >/dev/null || { \
		echo "$(PYTHON) が見つかりません。Python 3.11（venv モジュールを含む）をインストールしてください。" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/jichi db upgrade
	$(BIN)/jichi demo load
	@# plain http on the loopback address only: cookies without the Secure flag (docs/accounts.md)
	JICHI_INSECURE_COOKIES=1 $(BIN)/jichi serve --host 127.0.0.1 --port 5000

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# PostgreSQL tests run whenever the OS's PostgreSQL can be started: tests/services/postgres.sh starts it (it
# installs it only under CI=true) and prints the URL; when it cannot, the reason is printed and those tests are
# skipped — or fail, under CI=true. A JICHI_TEST_POSTGRES_URL already set is used as it is. The browser tests
# (tests/browser/) likewise use Debian's chromium found by tests/services/browser.sh (JICHI_TEST_CHROMIUM).
pytest: $(STAMP)
	@url="$${JICHI_TEST_POSTGRES_URL:-}"; \
	if [ -z "$$url" ]; then url="$$(bash tests/services/postgres.sh)" || url=""; fi; \
	echo "PostgreSQL: $${url:-なし（PostgreSQL のテストは実行されません）}"; \
	chromium="$${JICHI_TEST_CHROMIUM:-}"; \
	if [ -z "$$chromium" ]; then chromium="$$(bash tests/services/browser.sh)" || chromium=""; fi; \
	echo "ブラウザー: $${chromium:-なし（ブラウザーのテストは実行されません）}"; \
	JICHI_TEST_POSTGRES_URL="$$url" JICHI_TEST_CHROMIUM="$$chromium" $(BIN)/pytest

# The benchmark suite (issue 14): regenerates bench/RESULTS.md on this machine (about 10 minutes; PostgreSQL as
# for the tests). Not part of `make test`: timings belong in benchmarks, never in unit tests.
bench: $(STAMP)
	$(BIN)/python bench/suite.py --out bench/RESULTS.md

# Rewrite the expected blocks of tests/golden/**/*.golden from the current output; review the diff.
golden: $(STAMP)
	JICHI_UPDATE_GOLDEN=1 $(BIN)/pytest tests/test_dsl_golden.py
	git diff --stat -- tests/golden

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
