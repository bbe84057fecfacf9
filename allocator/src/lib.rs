//! Go's size-class allocator in Rust (work in progress).
