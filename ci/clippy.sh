#!/usr/bin/env bash
# Lints of every crate and target, warnings as errors.
set -euo pipefail
cargo clippy --workspace --all-targets -- -D warnings
