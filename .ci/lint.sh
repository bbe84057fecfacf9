#!/usr/bin/env bash
# The lints the workspace declares, enforced: formatting, clippy with every
# warning an error (the workspace's `missing_docs` and
# `clippy::undocumented_unsafe_blocks` included, from [workspace.lints]), the
# same for the exercises' reference solutions, and rustdoc with warnings as
# errors (broken intra-doc links). Runs early in `.ci/run`: it is cheap and
# catches what the tests do not.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
step() { printf -- '--- %s (%ss)\n' "$1" "$SECONDS"; }

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy -p exercises --all-targets --features solutions -- -D warnings"
cargo clippy -p exercises --all-targets --features solutions -- -D warnings

step "RUSTDOCFLAGS=\"-D warnings\" cargo doc --workspace --no-deps"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "lints clean"
