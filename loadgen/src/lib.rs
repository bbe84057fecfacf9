//! The course's load generator (wrk2's idea, on our runtime).
//!
//! A load generator answers "how fast is the server" only if it tells the
//! truth about the slow requests. Most do not: a closed loop (wrk, ab)
//! waits for each answer before sending the next request, so when the
//! server stalls, the load generator stalls with it and the requests that
//! would have suffered are never sent. This crate's default is the open
//! loop: requests are due on a fixed schedule, and each one's latency is
//! counted from when it was due, not from when a busy connection finally
//! got round to sending it. See [`run`](mod@run) for both loops,
//! [`stats`] for what is recorded (HDR histograms, a latency-over-time
//! series, how far behind schedule the sends fell), [`schedule`] for the
//! arrival patterns (constant, Poisson, bursts: `--burst 500x100ms` every
//! `--burst-every 1s`, the due times that the coordinated-omission
//! correction counts from) and [`client`] for the HTTP/1.1 connection on
//! `runtime::net`. `--header 'Name: value'` (repeatable) adds headers to
//! every request, for tagged traffic.
//!
//! ```no_run
//! let cfg = loadgen::Config::parse(["http://127.0.0.1:8080/", "--rate", "500", "--duration", "1s"]).unwrap();
//! let run = loadgen::run(&cfg).unwrap();
//! println!("{}", run.report.render());
//! ```

pub mod client;
pub mod config;
pub mod run;
pub mod schedule;
pub mod stats;

pub use config::{Arrivals, Config, Mode, USAGE};
pub use run::{Run, run};
pub use schedule::{Burst, Schedule};
pub use stats::{Point, Report};
