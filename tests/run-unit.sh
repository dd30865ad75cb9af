#!/usr/bin/env bash
# Run every cmocka unit test binary in DIR; exit non-zero if any fails.
set -u
dir=$1
fail=0
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t") ($dir)"
  if ! "$t"; then
    echo "FAILED: $t" >&2
    fail=1
  fi
done
exit $fail
