#!/usr/bin/env bash
# The engine without its "driver" feature must not depend on an async runtime: a phone is sans-IO.
# Normal and build edges are what a user of the crate gets; dev-dependencies may use tokio in tests.
set -euo pipefail
tree=$(cargo tree -p callsim-engine --no-default-features -e normal,build --prefix none)
if grep -qE '^tokio v' <<<"$tree"; then
  echo "callsim-engine depends on tokio without its \"driver\" feature:" >&2
  cargo tree -p callsim-engine --no-default-features -e normal,build -i tokio >&2 || true
  exit 1
fi
echo "callsim-engine has no async runtime without \"driver\""
