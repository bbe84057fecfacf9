#!/usr/bin/env bash
# The loom models: every interleaving (up to LOOM_MAX_PREEMPTIONS) of the
# scheduler's and the allocator's concurrent protocols, of the service's
# lock-free GCRA limiter, and of the loom-graded exercises. A separate
# target directory keeps `--cfg loom` from invalidating the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
cargo test -p runtime --release --lib loom
cargo test -p allocator --release --lib loom
cargo test -p service --release --lib loom
cargo test -p profiler --release --lib loom  # the SIGPROF sample ring
bash .ci/exercises-loom.sh
