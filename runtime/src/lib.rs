//! A G/M/P work-stealing task runtime (work in progress).

mod loom;
mod runq;
mod trace;
