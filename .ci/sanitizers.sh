#!/usr/bin/env bash
# AddressSanitizer over the runtime's and the allocator's tests, on the
# nightly toolchain the machine ships beside stable (`-Zsanitizer` is
# nightly-only). It is what found the use-after-free on wake (a task cell
# freed by another M while `schedule` still ran on the scheduler handle
# inside it); `runtime/tests/wake_stress.rs` is the loop that drives that
# race, bounded.
#
# Flags, as they work here:
# * `--target x86_64-unknown-linux-gnu` is required: without an explicit
#   target, RUSTFLAGS would also instrument build scripts and proc macros,
#   which then fail to load.
# * No `-Zbuild-std` (the nightly has no rust-src component): std itself is
#   not instrumented, but every heap block still goes through ASan's
#   malloc, so a use-after-free of a task cell is caught.
# * `--lib --tests`: doc tests would need RUSTDOCFLAGS too and add nothing.
# * A target directory of its own, so the instrumented build never
#   invalidates the normal one.
# * `--cfg asan` leaves out the bench-only dev-dependencies (tokio,
#   criterion, mimalloc): no bench is built here, and they would only add
#   minutes of instrumented compiling.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "sanitizers: no nightly toolchain on this machine (rustup toolchain install nightly)" >&2
    exit 1
fi
export RUSTFLAGS="-Zsanitizer=address --cfg asan"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/asan"
target=x86_64-unknown-linux-gnu
cargo +nightly test --target "$target" -p runtime --lib --tests
cargo +nightly test --target "$target" -p allocator --lib --tests
