#!/usr/bin/env bash
# Builds the book the way a learner does (mdBook as a library, through the
# `course` binary), then runs the book's integrity checks: includes resolve,
# internal links land, every lesson the book names exists.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --bin course -- build
cargo test --quiet -p course --test book
