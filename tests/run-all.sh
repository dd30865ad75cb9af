#!/usr/bin/env bash
# Everything `make check` runs, after both variants are built:
#   1. cmocka unit tests, normal and ASan+UBSan builds
#   2. API, CLI, permission, bad-input and crash tests (tests/api) against
#      the real server, normal and ASan+UBSan builds
#   3. browser tests of the web UI (tests/browser, headless Chromium), release build only
#   4. bench/run --smoke: the benchmark pipeline still works end to end (no timing checked)
set -u
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for v in release asan; do
  tests/run-unit.sh "build/$v/tests" || status=1
done
for v in release asan; do
  echo "== API tests against build/$v/yiqiban"
  YQ_BIN="build/$v/yiqiban" python3 tests/api/run.py || status=1
done
echo "== browser tests (tests/browser) against build/release/yiqiban"
YQ_BIN=build/release/yiqiban node tests/browser/run.mjs || status=1
echo "== benchmark smoke run (bench/run --smoke)"
bench/run --smoke >/dev/null || { echo "bench/run --smoke: FAILED" >&2; status=1; }
if [ $status -ne 0 ]; then
  echo "make check: FAILED" >&2
else
  echo "make check: all tests passed"
fi
exit $status
