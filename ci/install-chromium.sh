#!/usr/bin/env bash
# Installs Debian's chromium for the sweep report's browser test, if it is not there yet.
# Called by ci/test.sh and by the test itself (tests/sweep.rs), so `cargo test --workspace`
# on a fresh Debian or Ubuntu machine needs nothing done by hand.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no chromium and no apt-get: install Chromium by hand" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
$sudo apt-get install -y chromium >/dev/null 2>&1 || {
  $sudo apt-get update >/dev/null 2>&1
  $sudo apt-get install -y chromium >/dev/null
}
command -v chromium >/dev/null
