#!/usr/bin/env bash
# Formatting, as rustfmt.toml sets it.
set -euo pipefail
cargo fmt --all --check
