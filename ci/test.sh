#!/usr/bin/env bash
# The README's test command, after installing what the tests need beyond cargo (Chromium for
# the sweep report's browser test).
set -euo pipefail
bash "$(dirname "$0")/install-chromium.sh"
cargo test --workspace
