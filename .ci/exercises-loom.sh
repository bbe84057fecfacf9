#!/usr/bin/env bash
# The loom models of the loom-graded exercises (ex04, Go's run queue; ex13,
# a channel's wait queues; ex21, an spsc ring), run
# against the reference solution. A learner runs the same command without
# `--features solutions` to model-check their own code. Under `--cfg loom`
# ex04's ring shrinks to 4 slots; a separate target directory keeps the loom
# build from invalidating the normal one.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
cargo test -p exercises --features solutions --release --test ex04_runq
cargo test -p exercises --features solutions --release --test ex13_channel
cargo test -p exercises --features solutions --release --test ex21_spsc_ring
