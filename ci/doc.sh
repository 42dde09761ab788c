#!/usr/bin/env bash
# The API documentation builds without a warning (broken links, private links, bad code blocks).
set -euo pipefail
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps
