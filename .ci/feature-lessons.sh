#!/usr/bin/env bash
# The lessons of chapters 3 to 5 sit behind the lessons crate's features
# (`load-testing`: hyper, tokio and the load generator; `profiling`: the
# profiler; `registry`: the fast engine and sha2), which the README's
# `cargo test --workspace` leaves off so that lesson-01 builds fast. This
# lints every lesson with every feature on and runs the lesson tests that no
# other script runs (wrk.sh, pprof.sh and cachegrind.sh run the ones that
# need their tools).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
cargo clippy --quiet -p lessons --all-features --all-targets -- -D warnings
cargo test --quiet -p lessons --features load-testing,profiling \
  --test tracing_breaker_lessons_run --test canary_lesson --test hot_service_lesson
bash .ci/registry.sh
