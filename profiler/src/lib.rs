//! Chapter 4's profiler: Go's `runtime/pprof` for the course runtime.
//!
//! * [`cpu`]: a POSIX timer per thread on its CPU clock sends SIGPROF 100
//!   times per second of CPU; the handler walks frame pointers ([`walk`])
//!   into a preallocated ring, with the running G and its labels.
//! * [`cache`]: hardware cache counters if present, cachegrind's heat map if not.
//! * [`contention`]: block and mutex profiles from `runtime::sync`'s waits.
//! * [`goroutine`]: the goroutine profile and dump (`debug=1`, `debug=2`).
//! * `ring`: the lock-free sample ring the handler writes (loom-checked;
//!   under `--cfg loom` only it and its facade `loom` are built).
//! * [`heap`]: the heap profile by allocation stack, from the allocator's sampler.
//! * [`symbols`]: addresses to function, file and line, after the fact.
//! * [`builder`] and [`proto`]: pprof's `profile.proto`, gzipped, which
//!   `go tool pprof` reads; [`profile`] writes the CPU profile with it, and
//!   folded stacks; [`flame`] draws the course's flame graph.
//!
//! ```no_run
//! let p = profiler::CpuProfiler::start(profiler::DEFAULT_HZ).unwrap();
//! // ... the work to profile ...
//! let profile = p.stop().symbolize();
//! std::fs::write("cpu.pb.gz", profile.to_pprof()).unwrap(); // go tool pprof -top cpu.pb.gz
//! std::fs::write("cpu.svg", profiler::flame::svg(&profile.folded(), "cpu", 1200).unwrap()).unwrap();
//! ```

#[cfg(not(loom))]
pub mod builder;
#[cfg(not(loom))]
pub mod cache;
#[cfg(not(loom))]
pub mod contention;
#[cfg(not(loom))]
pub mod cpu;
#[cfg(not(loom))]
pub mod flame;
#[cfg(not(loom))]
pub mod goroutine;
#[cfg(not(loom))]
pub mod heap;
mod loom;
#[cfg(not(loom))]
pub mod profile;
#[cfg(not(loom))]
pub mod proto;
mod ring;
#[cfg(not(loom))]
pub mod symbols;
#[cfg(not(loom))]
pub mod walk;

#[cfg(not(loom))]
pub use builder::{ProfileBuilder, decode};
#[cfg(not(loom))]
pub use cpu::{CpuProfiler, DEFAULT_HZ, RawProfile, RawSample, StartError};
#[cfg(not(loom))]
pub use profile::{CpuProfile, StackCount};
