//! Canary releases judged by the tail: two versions of a handler side by
//! side, a weight that moves traffic to the new one step by step, and a
//! controller that rolls it back by itself when its P99 gets worse.
//!
//! The pieces, one file each:
//!
//! * [`router`]: which version answers a request (weighted by a hash of the
//!   request's key, or pinned by an `x-canary` header or a `tracestate`
//!   entry `canary=v1|v2`);
//! * [`work`]: the handler both versions run, and v2's injected regression;
//! * [`stats`]: the judgement: a minimum-sample guard, then a bootstrap
//!   bound on `P99(v2) / P99(v1)`;
//! * [`controller`]: the rollout's state machine (5% → 25% → 50% →
//!   promoted, or rolled back to 0%) and its decision log entries;
//! * [`http`]: the routes (`/canary/work`, `/canary/start`, `/canary`), the
//!   controller's G, the JSON log and the Prometheus lines.
//!
//! This file holds the state they share, [`Canary`]: the weight, one live
//! HDR histogram per version, the controller and the log.
//!
//! **Windows and epochs.** Each step is judged on the latencies recorded at
//! its weight, so when the controller changes the weight it also empties
//! both histograms. A request routed just before the change may finish just
//! after it; its latency belongs to the old step. So the weight and an
//! *epoch* (bumped at every change) sit together in one `AtomicU64`: a
//! request reads both in one load when it is routed ([`Canary::route`]),
//! and its sample is dropped when it is recorded ([`Canary::record`]) if
//! the epoch has moved on. Recording and the controller's tick take the
//! same lock, and the tick publishes the new weight and epoch under it, so
//! a sample is either in the window that was judged or discarded, never
//! counted at a weight it did not run at.
//!
//! There is no global state: a [`Canary`] lives in the service's
//! [`crate::Routes`], so two servers in one process (as the tests run
//! them) each have their own.

pub mod controller;
pub mod http;
pub mod router;
pub mod stats;
pub mod work;

use std::sync::atomic::AtomicU64 as CounterU64;

use crate::loom::atomic::{AtomicU64, Ordering};
use crate::loom::{Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;

use controller::{Controller, Decision, Entry, Plan};
use router::Version;
use work::Regression;

/// The largest latency recorded, µs (longer ones are clamped to it).
const MAX_US: u64 = 60_000_000;

/// A request's route: its version and the epoch it was routed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The version that answers.
    pub version: Version,
    /// The request's key (for the regression's hash).
    pub key: u64,
    epoch: u32,
}

/// What [`Canary::start`] was given, for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// The plan.
    pub plan: Plan,
    /// v2's injected regression.
    pub regression: Regression,
}

#[derive(Debug)]
struct Live {
    epoch: u32,
    windows: [Histogram<u64>; 2],
    controller: Option<Controller>,
    rollout: Option<Rollout>,
    log: Vec<Entry>,
    served: [u64; 2],
    decisions: [u64; 3],
}

/// One canary: v2's weight, the live windows, the controller, the log
/// (Flagger's `Canary` resource and its status, in one process).
#[derive(Debug)]
pub struct Canary {
    /// `epoch << 32 | weight`.
    routing: AtomicU64,
    /// `per_10k << 32 | extra µs` of v2's regression (a setting, read
    /// relaxed: no protocol, so not through the loom facade).
    regression: CounterU64,
    /// The key of requests without a trace id (a counter, likewise).
    seq: CounterU64,
    live: Mutex<Live>,
}

impl Default for Canary {
    fn default() -> Self {
        let h = || Histogram::new_with_bounds(1, MAX_US, 3).expect("valid HDR bounds");
        Canary {
            routing: AtomicU64::new(0),
            regression: CounterU64::new(0),
            seq: CounterU64::new(0),
            live: Mutex::new(Live {
                epoch: 0,
                windows: [h(), h()],
                controller: None,
                rollout: None,
                log: Vec::new(),
                served: [0; 2],
                decisions: [0; 3],
            }),
        }
    }
}

impl Canary {
    fn lock(&self) -> MutexGuard<'_, Live> {
        // Every update under the lock is a few plain writes: a panic cannot
        // leave it torn, so a poisoned lock is used as it is.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// v2's weight now, percent.
    pub fn weight(&self) -> u32 {
        (self.routing.load(Ordering::Acquire) & 0xffff_ffff) as u32
    }

    /// v2's injected regression now.
    pub fn regression(&self) -> Regression {
        let r = self.regression.load(Ordering::Relaxed);
        Regression {
            per_10k: (r >> 32) as u32,
            extra: Duration::from_micros(r & 0xffff_ffff),
        }
    }

    /// Starts a rollout: v2 gets the plan's first weight, the windows and the
    /// log start empty. Refused while one is running.
    ///
    /// ```
    /// use service::canary::{Canary, controller::Plan, work::Regression};
    /// let c = Canary::default();
    /// c.start(Plan::default(), Regression::default()).unwrap();
    /// assert_eq!(c.weight(), 5);
    /// assert!(c.start(Plan::default(), Regression::default()).is_err());
    /// ```
    pub fn start(&self, plan: Plan, regression: Regression) -> Result<(), String> {
        let controller = Controller::new(plan.clone())?;
        let mut live = self.lock();
        if live.controller.as_ref().is_some_and(|c| !c.is_done()) {
            return Err("a rollout is already running".into());
        }
        let extra = regression.extra.as_micros().min(u128::from(u32::MAX)) as u64;
        self.regression.store(
            u64::from(regression.per_10k) << 32 | extra,
            Ordering::Relaxed,
        );
        live.log.clear();
        live.rollout = Some(Rollout { plan, regression });
        let weight = controller.weight();
        live.controller = Some(controller);
        self.new_window(&mut live, weight);
        Ok(())
    }

    /// Empties both windows and publishes `weight` with a new epoch (under
    /// the lock, so no record lands between the two).
    fn new_window(&self, live: &mut Live, weight: u32) {
        live.epoch = live.epoch.wrapping_add(1);
        live.windows.iter_mut().for_each(Histogram::reset);
        self.routing.store(
            u64::from(live.epoch) << 32 | u64::from(weight),
            Ordering::Release,
        );
    }

    // ANCHOR: epoch
    /// Routes a request: `key` is its trace id's key if it has one (a
    /// sequence number is used otherwise), `pin` a version it asked for.
    pub fn route(&self, key: Option<u64>, pin: Option<Version>) -> Ticket {
        let key = key.unwrap_or_else(|| self.seq.fetch_add(1, Ordering::Relaxed));
        let routing = self.routing.load(Ordering::Acquire);
        let weight = (routing & 0xffff_ffff) as u32;
        Ticket {
            version: router::choose(key, weight, pin),
            key,
            epoch: (routing >> 32) as u32,
        }
    }

    /// Records a request's latency in its version's window, unless the
    /// window it was routed in has been judged and replaced meanwhile.
    /// Returns whether it was counted.
    pub fn record(&self, ticket: Ticket, latency: Duration) -> bool {
        let us = (latency.as_micros() as u64).clamp(1, MAX_US);
        let mut live = self.lock();
        let i = ticket.version.index();
        live.served[i] += 1;
        if ticket.epoch != live.epoch {
            return false;
        }
        live.windows[i].saturating_record(us);
        true
    }
    // ANCHOR_END: epoch

    /// One controller tick at `at` (since the rollout started): judge the
    /// windows, apply the decision, log it. `None` when no rollout runs.
    pub fn tick(&self, at: Duration) -> Option<Entry> {
        let mut live = self.lock();
        let live = &mut *live;
        let controller = live.controller.as_mut().filter(|c| !c.is_done())?;
        let entry = controller.tick(at, &live.windows[0], &live.windows[1]);
        if entry.decision.changes_weight() {
            let slot = match entry.decision {
                Decision::StepUp => 0,
                Decision::Promote => 1,
                _ => 2,
            };
            live.decisions[slot] += 1;
            self.new_window(live, entry.next_weight);
        }
        live.log.push(entry.clone());
        Some(entry)
    }

    /// The decision log so far.
    pub fn log(&self) -> Vec<Entry> {
        self.lock().log.clone()
    }

    /// Whether a rollout was started and has not ended.
    pub fn running(&self) -> bool {
        self.lock()
            .controller
            .as_ref()
            .is_some_and(|c| !c.is_done())
    }
}

/// The epoch protocol under loom: a request routed while the controller
/// moves the weight. Run by `.ci/loom.sh`.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::loom::{Arc, model, thread};

    /// The controller moves v2's weight from 0% to 100% while a request is
    /// routed and recorded: a ticket of the old epoch must be v1 (routed at
    /// 0%), one of the new epoch v2 (routed at 100%), and only a ticket of
    /// the window being filled is counted in it.
    #[test]
    fn loom_a_request_routed_during_a_step_is_judged_at_the_weight_it_ran_at() {
        model(|| {
            let c = Arc::new(Canary::default());
            let old = {
                let mut live = c.lock();
                c.new_window(&mut live, 0);
                live.epoch
            };
            let request = {
                let c = c.clone();
                thread::spawn(move || {
                    let t = c.route(Some(7), None);
                    (t, c.record(t, Duration::from_micros(100)))
                })
            };
            {
                let mut live = c.lock();
                c.new_window(&mut live, 100);
            }
            let (ticket, counted) = request.join().unwrap();
            let expected = if ticket.epoch == old {
                Version::V1
            } else {
                Version::V2
            };
            assert_eq!(
                ticket.version, expected,
                "routed in epoch {} (old {old}): the version must be the one that epoch's weight picks",
                ticket.epoch
            );
            // A sample of the old epoch was counted in the old window (if it
            // came before the step) or dropped (if after): never in the new.
            let live = c.lock();
            let in_new_window: u64 = live.windows.iter().map(Histogram::len).sum();
            let of_new_epoch = ticket.epoch == live.epoch;
            assert_eq!(
                in_new_window,
                u64::from(of_new_epoch),
                "the new window holds the sample exactly when it was routed in the new epoch"
            );
            assert!(
                counted || !of_new_epoch,
                "a sample of the live epoch is always counted"
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(c: &Canary, n: u64, us: impl Fn(Version, u64) -> u64) {
        for _ in 0..n {
            let t = c.route(None, None);
            c.record(t, Duration::from_micros(us(t.version, t.key)));
        }
    }

    #[test]
    fn a_regressed_v2_is_rolled_back_to_zero() {
        let c = Canary::default();
        let r = Regression::percent(10.0, Duration::from_micros(1000));
        c.start(Plan::default(), r).unwrap();
        feed(&c, 10_000, |v, k| {
            200 + k % 50 + r.work_time(v, k, Duration::ZERO).as_micros() as u64
        });
        let e = c.tick(Duration::from_millis(100)).unwrap();
        assert_eq!(
            (e.decision, e.next_weight),
            (Decision::Rollback, 0),
            "{e:?}"
        );
        assert_eq!(c.weight(), 0);
        assert!(!c.running());
        // With the weight at 0, unpinned requests all go to v1; pins still work.
        assert!((0..1000).all(|_| c.route(None, None).version == Version::V1));
        assert_eq!(c.route(None, Some(Version::V2)).version, Version::V2);
        assert_eq!(
            c.tick(Duration::from_millis(200)),
            None,
            "a finished rollout does not tick"
        );
    }

    #[test]
    fn a_healthy_v2_steps_up_through_the_plan_and_is_promoted() {
        let c = Canary::default();
        c.start(Plan::default(), Regression::default()).unwrap();
        let mut weights = vec![c.weight()];
        for t in 1..=3 {
            feed(&c, 10_000, |_, k| 200 + k % 50);
            let e = c.tick(Duration::from_millis(100 * t)).unwrap();
            weights.push(e.next_weight);
        }
        assert_eq!(weights, [5, 25, 50, 100]);
        let log = c.log();
        assert_eq!(log.last().unwrap().decision, Decision::Promote);
        // Each step judged its own window: at 5%, v2 had about 500 samples.
        let v2 = log[0].comparison.samples[1];
        assert!(
            (400..600).contains(&v2),
            "expected about 500 v2 samples at 5%, got {v2}"
        );
    }

    #[test]
    fn a_sample_from_before_a_step_is_not_counted_after_it() {
        let c = Canary::default();
        c.start(Plan::default(), Regression::default()).unwrap();
        let late = c.route(None, Some(Version::V2));
        feed(&c, 10_000, |_, k| 200 + k % 50);
        assert_eq!(
            c.tick(Duration::from_millis(100)).unwrap().decision,
            Decision::StepUp
        );
        assert!(
            !c.record(late, Duration::from_secs(5)),
            "a stale sample was counted"
        );
        let fresh = c.route(None, Some(Version::V2));
        assert!(c.record(fresh, Duration::from_micros(200)));
    }

    #[test]
    fn no_traffic_never_promotes() {
        let c = Canary::default();
        let plan = Plan {
            patience: 5,
            ..Plan::default()
        };
        c.start(plan, Regression::default()).unwrap();
        let decisions: Vec<Decision> = (1..=6)
            .filter_map(|t| c.tick(Duration::from_millis(100 * t)))
            .map(|e| e.decision)
            .collect();
        assert_eq!(decisions.len(), 6);
        assert!(
            decisions[..5].iter().all(|d| *d == Decision::Wait),
            "{decisions:?}"
        );
        assert_eq!(decisions[5], Decision::Rollback);
        assert_eq!(c.weight(), 0);
    }
}
