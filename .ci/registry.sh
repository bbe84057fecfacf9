#!/usr/bin/env bash
# Lesson 26's local registry sits behind the lessons crate's `registry`
# feature (the fast engine and sha2, no hyper), which the README's
# `cargo test --workspace` does not turn on: its unit tests, doc tests,
# lints and the lesson's own test (real cargo builds against a loopback
# sparse registry, a fresh CARGO_HOME, nothing from the internet).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
cargo clippy --quiet -p lessons --features registry --all-targets -- -D warnings
cargo test --quiet -p lessons --features registry --lib registry
cargo test --quiet -p lessons --features registry --doc registry
cargo test --quiet -p lessons --features registry --test registry_lesson
