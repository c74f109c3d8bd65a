#!/usr/bin/env bash
# Debian packages ExamBridge needs besides what pip installs:
#   python   python3-venv (only when the interpreter cannot make a venv)
#   browser  chromium + fonts-noto-cjk (browser tests drive Debian's chromium, never a
#            Playwright download; the fonts render the zh_CN pages)
#   all      both (default)
# Idempotent and quiet: apt runs only when something is missing. Under CI=true a failure is
# fatal; elsewhere it is a warning (the tests that need the package will then say so).
set -euo pipefail

what=${1:-all}
PYTHON=${PYTHON:-python3}

fail() {
  if [ "${CI:-}" = "true" ]; then
    echo "system-deps: error: $*" >&2
    exit 1
  fi
  echo "system-deps: warning: $*" >&2
  exit 0
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
if [ "$what" = python ] || [ "$what" = all ]; then
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
fi
if [ "$what" = browser ] || [ "$what" = all ]; then
  for pkg in chromium fonts-noto-cjk; do
    installed "$pkg" || missing+=("$pkg")
  done
fi
case $what in python|browser|all) ;; *) echo "usage: $0 [python|browser|all]" >&2; exit 2 ;; esac

[ ${#missing[@]} -eq 0 ] && exit 0

command -v apt-get >/dev/null || fail "apt-get not found; install ${missing[*]} by hand"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    fail "${missing[*]} missing and not root (run: sudo apt-get install ${missing[*]})"
  fi
fi

echo "system-deps: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "${SUDO[@]}" apt-get update -qq >"$log" 2>&1; then
  cat "$log" >&2
  fail "apt-get update failed"
fi
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  fail "apt-get install ${missing[*]} failed"
fi
echo "system-deps: installed ${missing[*]}"
