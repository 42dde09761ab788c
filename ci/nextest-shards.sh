#!/usr/bin/env bash
# Every scenario is a test of its own to cargo-nextest, and its partitions split the scenarios
# into disjoint parts that together are the whole suite (as CI shards them).
set -euo pipefail
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "cargo-nextest is missing: installing it"
  cargo install --locked cargo-nextest
fi
list() { cargo nextest list --test bdd --message-format oneline "$@" | sort; }
all=$(list)
one=$(list --partition count:1/2)
two=$(list --partition count:2/2)
total=$(wc -l <<<"$all")
if [ "$total" -lt 50 ]; then
  echo "nextest lists only $total scenarios" >&2
  exit 1
fi
if [ -n "$(comm -12 <(echo "$one") <(echo "$two"))" ]; then
  echo "a scenario is in both partitions" >&2
  exit 1
fi
if [ "$(sort <(echo "$one") <(echo "$two"))" != "$all" ]; then
  echo "the partitions together are not the whole suite" >&2
  exit 1
fi
echo "nextest lists $total scenarios; partitions 1/2 and 2/2 split them"
