#!/usr/bin/env bash
# Cache misses where the VM hides the hardware counters: lesson 21 under
# cachegrind (Debian's valgrind, installed here when missing) with the
# cache geometry pinned (--D1=49152,12,64 --LL=2097152,16,64), checked by
# its test: column order and arrays of structs miss far more than row
# order and dense keys. About a minute once built.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
if ! command -v valgrind >/dev/null; then
    echo "cachegrind.sh: installing Debian's valgrind"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
cargo test --quiet -p lessons --features profiling --test cache_lesson_run
