//! Graded exercises of the course.
//!
//! Each module is one exercise. What you edit is in `exercises/src/`; a
//! reference solution with the same public API is in `exercises/solutions/`,
//! selected by the `solutions` feature; the graded tests are in
//! `exercises/tests/`. Grade your work with `cargo test -p exercises` (all) or
//! `cargo test -p exercises --test ex04_runq` (one), and read a hint with
//! `cargo run --bin course -- hint ex04`.
//!
//! A stub and its solution share everything but the learner's part: in
//! both files that part sits between
//!
//! ```text
//! // --- your code: NAME ---
//! // --- end of your code ---
//! ```
//!
//! markers (same names, same order), and only the module doc comment at
//! the top may differ besides. `.ci/exercise-drift.sh` (run by
//! `.ci/exercises.sh`) checks it: it replaces every region by its name and
//! the two files must then be equal line for line, so a signature, type or
//! doc changed in one file and not the other fails CI. A new exercise:
//! write the solution, copy it to `src/`, and replace each region's body
//! with the stub's `todo!`.
//!
//! The list below pairs each exercise's stub with its solution, one line
//! each; rustfmt leaves this file alone so that it stays a plain list (the
//! exercise files themselves are formatted as usual).
#![cfg_attr(rustfmt, rustfmt::skip)]

#[cfg(not(feature = "solutions"))] pub mod ex01_timeouts;
#[cfg(feature = "solutions")] #[path = "../solutions/ex01_timeouts.rs"] pub mod ex01_timeouts;
#[cfg(not(feature = "solutions"))] pub mod ex02_worker_pool;
#[cfg(feature = "solutions")] #[path = "../solutions/ex02_worker_pool.rs"] pub mod ex02_worker_pool;
#[cfg(not(feature = "solutions"))] pub mod ex03_error_chains;
#[cfg(feature = "solutions")] #[path = "../solutions/ex03_error_chains.rs"] pub mod ex03_error_chains;
#[cfg(not(feature = "solutions"))] pub mod ex04_runq;
#[cfg(feature = "solutions")] #[path = "../solutions/ex04_runq.rs"] pub mod ex04_runq;
#[cfg(not(feature = "solutions"))] pub mod ex05_findrunnable;
#[cfg(feature = "solutions")] #[path = "../solutions/ex05_findrunnable.rs"] pub mod ex05_findrunnable;
#[cfg(not(feature = "solutions"))] pub mod ex06_preemption;
#[cfg(feature = "solutions")] #[path = "../solutions/ex06_preemption.rs"] pub mod ex06_preemption;
#[cfg(not(feature = "solutions"))] pub mod ex07_size_classes;
#[cfg(feature = "solutions")] #[path = "../solutions/ex07_size_classes.rs"] pub mod ex07_size_classes;
#[cfg(not(feature = "solutions"))] pub mod ex08_next_free_fast;
#[cfg(feature = "solutions")] #[path = "../solutions/ex08_next_free_fast.rs"] pub mod ex08_next_free_fast;
#[cfg(not(feature = "solutions"))] pub mod ex09_central;
#[cfg(feature = "solutions")] #[path = "../solutions/ex09_central.rs"] pub mod ex09_central;
#[cfg(not(feature = "solutions"))] pub mod ex10_write_barrier;
#[cfg(feature = "solutions")] #[path = "../solutions/ex10_write_barrier.rs"] pub mod ex10_write_barrier;
#[cfg(not(feature = "solutions"))] pub mod ex11_stack_growth;
#[cfg(feature = "solutions")] #[path = "../solutions/ex11_stack_growth.rs"] pub mod ex11_stack_growth;
#[cfg(not(feature = "solutions"))] pub mod ex12_layout;
#[cfg(feature = "solutions")] #[path = "../solutions/ex12_layout.rs"] pub mod ex12_layout;
#[cfg(not(feature = "solutions"))] pub mod ex13_channel;
#[cfg(feature = "solutions")] #[path = "../solutions/ex13_channel.rs"] pub mod ex13_channel;
#[cfg(not(feature = "solutions"))] pub mod ex14_percentiles;
#[cfg(feature = "solutions")] #[path = "../solutions/ex14_percentiles.rs"] pub mod ex14_percentiles;
#[cfg(not(feature = "solutions"))] pub mod ex15_router;
#[cfg(feature = "solutions")] #[path = "../solutions/ex15_router.rs"] pub mod ex15_router;
#[cfg(not(feature = "solutions"))] pub mod ex16_breaker;
#[cfg(feature = "solutions")] #[path = "../solutions/ex16_breaker.rs"] pub mod ex16_breaker;
#[cfg(not(feature = "solutions"))] pub mod ex20_errgroup;
#[cfg(feature = "solutions")] #[path = "../solutions/ex20_errgroup.rs"] pub mod ex20_errgroup;
#[cfg(not(feature = "solutions"))] pub mod ex21_spsc_ring;
#[cfg(feature = "solutions")] #[path = "../solutions/ex21_spsc_ring.rs"] pub mod ex21_spsc_ring;
