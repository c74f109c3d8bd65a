#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it: pytest with 2 xdist workers, a timeout on
# every test (setup.cfg), the 20 slowest tests listed, and the requirement matrix written
# to build/requirements.json. Extra arguments go to pytest.
# Exit status: pytest's, except that "no tests collected" (5) is a failure too, and a suite
# running past EXAMBRIDGE_TEST_TIME_LIMIT seconds (default 1800) is stopped and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
LIMIT=${EXAMBRIDGE_TEST_TIME_LIMIT:-1800}
# The playwright pip package drives Debian's chromium; it must never download browsers.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ ! -x "$VENV/bin/python" ]; then
  echo "test.sh: $VENV is missing; run \`make test\` (it creates it)" >&2
  exit 1
fi
# The test tools themselves (make setup installs them; this repairs a venv made by hand).
if ! "$VENV/bin/python" -c 'import pytest, xdist, pytest_timeout, playwright, gunicorn, importlinter' 2>/dev/null; then
  echo "test.sh: installing the test dependencies (.[test])"
  "$VENV/bin/pip" install --quiet -e ".[test]"
fi

# The architecture first (a second): layers, no Flask below the web, no plugin in the core,
# the agent apart from the server, no import cycles (.importlinter).
if ! "$VENV/bin/lint-imports" --no-cache; then
  echo "test.sh: FAILED: an import breaks a contract of .importlinter (see above)" >&2
  exit 1
fi

mkdir -p build
rm -f build/requirements.json
start=$SECONDS
# At a terminal, --foreground keeps Ctrl-C working; in CI the whole group is timed out.
fg=()
[ -t 0 ] && fg=(--foreground)
set +e
timeout "${fg[@]}" --signal=TERM --kill-after=60 "$LIMIT" \
  "$VENV/bin/pytest" -n 2 --durations=20 -p no:cacheprovider "$@"
rc=$?
set -e
elapsed=$((SECONDS - start))

echo
echo "test.sh: pytest finished in $((elapsed / 60))m$((elapsed % 60))s with exit status $rc"
if [ -f build/requirements.json ]; then
  "$VENV/bin/python" - <<'PY'
import json
data = json.load(open("build/requirements.json", encoding="utf-8"))
t = data["totals"]
source = data["spec"] or "IDs named by markers (no docs/requirements.md found)"
print(f"requirements: {t['ids_passing']} of {t['ids']} IDs have a passing test "
      f"({t['ids_failing']} failing, {t['ids_untested']} untested) - {source}")
print(f"requirements: matrix in build/requirements.json (commit {data['commit'] or 'none'})")
PY
else
  echo "test.sh: build/requirements.json was not written" >&2
  [ $rc -eq 0 ] && rc=1
fi

case $rc in
  0) ;;
  5) echo "test.sh: FAILED: pytest collected no tests (exit 5)" >&2; rc=1 ;;
  124|137) echo "test.sh: FAILED: the suite ran past ${LIMIT}s and was stopped" >&2 ;;
  *) echo "test.sh: FAILED (pytest exit status $rc)" >&2 ;;
esac
exit $rc
