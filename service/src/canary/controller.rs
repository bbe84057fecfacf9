//! The rollout's state machine: step the weight up, promote, or roll back.
//!
//! ```text
//!   weight 5% ──ok──▶ 25% ──ok──▶ 50% ──ok──▶ PROMOTED (100%)
//!      │               │           │
//!      └── regression, or no data for too long, or undecided for too long
//!                      ──▶ ROLLED BACK (0%)
//! ```
//!
//! On every tick the controller compares the two versions' windows (the
//! latencies recorded since the weight last changed, see [`super::stats`])
//! and decides one of:
//!
//! * **wait** ([`Verdict::NotEnoughData`]): a window is below the minimum.
//!   Nothing is concluded, and after `patience` such ticks in a row the
//!   canary is rolled back: a v2 that gets no traffic (the router is
//!   broken, the clients are pinned to v1, it is a quiet night) has shown
//!   nothing, and shipping what has shown nothing is Flagger#1098's bug.
//! * **roll back** ([`Verdict::Regression`]): v2's P99 is more than the
//!   tolerance worse at the test's confidence. The weight goes to 0 at once,
//!   whatever the step.
//! * **step up / promote** ([`Verdict::NoRegression`]): shown to be within
//!   the tolerance at this weight; go to the next step, or, after the last,
//!   promote (weight 100: v2 takes all traffic). The last step should be
//!   about 50%, where both versions get equal samples: at 100% v1 would get
//!   none and every window would be "not enough data".
//! * **inconclusive** ([`Verdict::Inconclusive`]): the interval straddles
//!   the tolerance. What to do is the plan's choice, because it is a real
//!   trade-off. With `require_proof` the controller *holds* (keeps the
//!   weight, lets the window grow) and rolls back after `max_inconclusive`
//!   such ticks: a version that cannot be shown to be fine is not shipped.
//!   That is the strict reading, and on a quiet machine it works; on a
//!   loaded one the tail is made of scheduling noise, and showing two noisy
//!   P99s within 5% of each other takes tens of thousands of samples.
//!   Without it (the default, and what Kayenta and Flagger do) the step
//!   *passes*: enough samples were judged and no regression was found, and
//!   the log keeps the interval, so it says how much was shown. The
//!   minimum-sample guard is what keeps this from being Flagger#1098.
//!
//! Each step judges its own window (the caller resets both windows when
//! the weight changes), because latency can depend on the load a version
//! carries. By default a step is judged once, at the first tick its windows
//! have enough samples, since every look is a chance of a false alarm;
//! with `require_proof` the growing window is judged on every tick (a
//! sequential test, whose false-alarm rate is higher than one look's). The
//! tolerance margin keeps both small: a false alarm needs a v2 that is not
//! worse at all to *look* more than 5% worse at 99% confidence.
//!
//! Time is passed in (`at`, since the rollout started), so tests drive the
//! controller tick by tick with made-up times and no sleeps; the service's
//! G passes the real elapsed time.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::stats::{self, Comparison, TestConfig, Verdict};

/// A rollout plan (Flagger's `Canary` analysis: `stepWeights`,
/// `threshold`, and the metric check).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The weights to go through, in percent, increasing, each 1 to 99.
    pub steps: Vec<u32>,
    /// The statistical test.
    pub test: TestConfig,
    /// Ticks in a row without enough data before rolling back.
    pub patience: u32,
    /// Inconclusive ticks at one step before rolling back, when
    /// `require_proof` is set.
    pub max_inconclusive: u32,
    /// Step up only when v2 is *shown* within the tolerance (an
    /// inconclusive tick holds); otherwise a step passes when it is not
    /// shown worse.
    pub require_proof: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            steps: vec![5, 25, 50],
            test: TestConfig::default(),
            patience: 20,
            max_inconclusive: 50,
            require_proof: false,
        }
    }
}

impl Plan {
    /// Checks the plan makes sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.steps.is_empty() {
            return Err("a plan needs at least one step".into());
        }
        if self.steps.iter().any(|w| !(1..=99).contains(w)) {
            return Err("step weights must be 1 to 99 percent".into());
        }
        if self.steps.windows(2).any(|w| w[0] >= w[1]) {
            return Err("step weights must increase".into());
        }
        let t = &self.test;
        if !(0.5..1.0).contains(&t.confidence) {
            return Err("confidence must be at least 50% and under 100%".into());
        }
        if !(0.0..=10.0).contains(&t.tolerance) {
            return Err("tolerance must be 0 to 1000%".into());
        }
        Ok(())
    }
}

/// What a tick decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not enough data: keep the weight.
    Wait,
    /// Inconclusive: keep the weight.
    Hold,
    /// Shown within tolerance: go to the next step's weight.
    StepUp,
    /// Shown within tolerance at the last step: v2 takes everything.
    Promote,
    /// A regression, or nothing shown for too long: v2 gets nothing.
    Rollback,
}

impl Decision {
    /// The decision's name in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Wait => "wait",
            Decision::Hold => "hold",
            Decision::StepUp => "step up",
            Decision::Promote => "promote",
            Decision::Rollback => "rollback",
        }
    }

    /// Whether the rollout is over after it.
    pub fn is_final(self) -> bool {
        matches!(self, Decision::Promote | Decision::Rollback)
    }

    /// Whether the weight changes (and the windows start again).
    pub fn changes_weight(self) -> bool {
        matches!(
            self,
            Decision::StepUp | Decision::Promote | Decision::Rollback
        )
    }
}

/// One line of the decision log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Since the rollout started.
    pub at: Duration,
    /// v2's weight while the window was recorded, percent.
    pub weight: u32,
    /// The comparison of the two windows.
    pub comparison: Comparison,
    /// What was decided.
    pub decision: Decision,
    /// v2's weight from now on.
    pub next_weight: u32,
    /// Why, in words.
    pub reason: String,
}

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// At step `i` of the plan.
    Analysing(usize),
    /// v2 took all traffic.
    Promoted,
    /// v2 took none.
    RolledBack,
}

/// The controller: a plan and where it is (Flagger's canary controller,
/// one canary).
#[derive(Debug, Clone)]
pub struct Controller {
    plan: Plan,
    phase: Phase,
    waiting: u32,
    inconclusive: u32,
}

impl Controller {
    /// A controller at the plan's first step.
    ///
    /// ```
    /// use service::canary::controller::{Controller, Plan};
    /// let c = Controller::new(Plan::default()).unwrap();
    /// assert_eq!(c.weight(), 5);
    /// assert!(Controller::new(Plan { steps: vec![50, 25], ..Plan::default() }).is_err());
    /// ```
    pub fn new(plan: Plan) -> Result<Controller, String> {
        plan.validate()?;
        Ok(Controller {
            plan,
            phase: Phase::Analysing(0),
            waiting: 0,
            inconclusive: 0,
        })
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Where the rollout is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the rollout has ended (promoted or rolled back).
    pub fn is_done(&self) -> bool {
        !matches!(self.phase, Phase::Analysing(_))
    }

    /// v2's weight now, percent.
    pub fn weight(&self) -> u32 {
        match self.phase {
            Phase::Analysing(i) => self.plan.steps[i],
            Phase::Promoted => 100,
            Phase::RolledBack => 0,
        }
    }

    /// A step that passed: the next step, or promotion after the last.
    fn pass(&self, step: usize) -> Decision {
        if step + 1 == self.plan.steps.len() {
            Decision::Promote
        } else {
            Decision::StepUp
        }
    }

    /// Judges v1's and v2's windows at `at` and moves the rollout on. A
    /// finished rollout only logs that it is finished.
    pub fn tick(&mut self, at: Duration, v1: &Histogram<u64>, v2: &Histogram<u64>) -> Entry {
        let weight = self.weight();
        let comparison = stats::compare(v1, v2, &self.plan.test);
        let Phase::Analysing(step) = self.phase else {
            return Entry {
                at,
                weight,
                comparison,
                decision: if self.phase == Phase::Promoted {
                    Decision::Promote
                } else {
                    Decision::Rollback
                },
                next_weight: weight,
                reason: "the rollout is over".into(),
            };
        };
        let min = self.plan.test.min_samples;
        let tol = self.plan.test.tolerance * 100.0;
        let conf = self.plan.test.confidence * 100.0;
        // ANCHOR: decide
        let (decision, reason) = match comparison.verdict {
            Verdict::NotEnoughData => {
                self.waiting += 1;
                if self.waiting > self.plan.patience {
                    (
                        Decision::Rollback,
                        format!(
                            "{} ticks without {min} samples per version: no traffic is not health",
                            self.waiting
                        ),
                    )
                } else {
                    (
                        Decision::Wait,
                        format!("fewer than {min} samples in a window"),
                    )
                }
            }
            Verdict::Regression => (
                Decision::Rollback,
                format!("v2's P99 is more than {tol:.0}% worse at {conf:.0}% confidence"),
            ),
            Verdict::NoRegression => (
                self.pass(step),
                format!("v2's P99 is within {tol:.0}% at {conf:.0}% confidence"),
            ),
            Verdict::Inconclusive if !self.plan.require_proof => (
                self.pass(step),
                format!("v2's P99 is not shown more than {tol:.0}% worse at {conf:.0}% confidence"),
            ),
            Verdict::Inconclusive => {
                self.waiting = 0;
                self.inconclusive += 1;
                if self.inconclusive > self.plan.max_inconclusive {
                    (
                        Decision::Rollback,
                        format!(
                            "{} inconclusive ticks: v2 could not be shown within {tol:.0}%",
                            self.inconclusive
                        ),
                    )
                } else {
                    (Decision::Hold, "the interval straddles the limit".into())
                }
            }
        };
        // ANCHOR_END: decide
        self.phase = match decision {
            Decision::Wait | Decision::Hold => Phase::Analysing(step),
            Decision::StepUp => Phase::Analysing(step + 1),
            Decision::Promote => Phase::Promoted,
            Decision::Rollback => Phase::RolledBack,
        };
        if decision.changes_weight() {
            self.waiting = 0;
            self.inconclusive = 0;
        }
        Entry {
            at,
            weight,
            comparison,
            decision,
            next_weight: self.weight(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(n: u64, base: u64, slow_every: u64, extra: u64) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for i in 0..n {
            let slow = slow_every != 0 && i % slow_every == 0;
            h.record(base + (i * 7919) % 100 + if slow { extra } else { 0 })
                .unwrap();
        }
        h
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_healthy_canary_steps_up_and_is_promoted() {
        let mut c = Controller::new(Plan::default()).unwrap();
        let mut weights = vec![c.weight()];
        let mut decisions = Vec::new();
        for t in 1..=3 {
            let e = c.tick(ms(100 * t), &hist(2000, 200, 0, 0), &hist(2000, 200, 0, 0));
            decisions.push(e.decision);
            weights.push(e.next_weight);
        }
        assert_eq!(
            decisions,
            [Decision::StepUp, Decision::StepUp, Decision::Promote]
        );
        assert_eq!(weights, [5, 25, 50, 100]);
        assert_eq!(c.phase(), Phase::Promoted);
    }

    #[test]
    fn a_tail_regression_is_rolled_back_at_the_first_step() {
        let mut c = Controller::new(Plan::default()).unwrap();
        let e = c.tick(ms(100), &hist(2000, 200, 0, 0), &hist(400, 200, 10, 1000));
        assert_eq!(
            (e.decision, e.weight, e.next_weight),
            (Decision::Rollback, 5, 0)
        );
        assert!(e.reason.contains("more than 5% worse"), "{}", e.reason);
        assert_eq!(c.phase(), Phase::RolledBack);
        // Later ticks change nothing.
        let e = c.tick(ms(200), &hist(2000, 200, 0, 0), &hist(2000, 200, 0, 0));
        assert_eq!((e.decision, e.next_weight), (Decision::Rollback, 0));
    }

    #[test]
    fn no_traffic_waits_then_rolls_back_and_never_promotes() {
        let plan = Plan {
            patience: 3,
            ..Plan::default()
        };
        let mut c = Controller::new(plan).unwrap();
        let empty = Histogram::<u64>::new(3).unwrap();
        let mut decisions = Vec::new();
        for t in 1..=4 {
            decisions.push(c.tick(ms(100 * t), &hist(5000, 200, 0, 0), &empty).decision);
        }
        assert_eq!(
            decisions,
            [
                Decision::Wait,
                Decision::Wait,
                Decision::Wait,
                Decision::Rollback
            ]
        );
        assert_eq!(c.weight(), 0);
    }

    #[test]
    fn a_few_samples_are_waited_for_then_judged() {
        let mut c = Controller::new(Plan::default()).unwrap();
        let e = c.tick(ms(100), &hist(2000, 200, 0, 0), &hist(50, 200, 0, 0));
        assert_eq!((e.decision, e.next_weight), (Decision::Wait, 5));
        assert_eq!(e.comparison.samples, [2000, 50]);
        let e = c.tick(ms(200), &hist(2000, 200, 0, 0), &hist(2000, 200, 0, 0));
        assert_eq!((e.decision, e.next_weight), (Decision::StepUp, 25));
    }

    #[test]
    fn undecided_for_too_long_is_rolled_back() {
        let plan = Plan {
            max_inconclusive: 2,
            require_proof: true,
            ..Plan::default()
        };
        let mut c = Controller::new(plan.clone()).unwrap();
        // A heavy tail, v2 3% slower everywhere, 200 samples each: P99 is
        // about the 2nd largest value, and the interval straddles 5%.
        let heavy = |scale: u64| {
            let mut h = Histogram::<u64>::new(3).unwrap();
            for i in 0..200u64 {
                h.record(scale * 1000 / (1 + (i * 7919) % 1000)).unwrap();
            }
            h
        };
        let (v1, v2) = (heavy(1000), heavy(1030));
        let decisions: Vec<Decision> = (1..=3).map(|t| c.tick(ms(t), &v1, &v2).decision).collect();
        assert_eq!(
            decisions,
            [Decision::Hold, Decision::Hold, Decision::Rollback]
        );
    }

    #[test]
    fn bad_plans_are_refused() {
        for steps in [vec![], vec![0, 50], vec![50, 100], vec![25, 25]] {
            assert!(
                Controller::new(Plan {
                    steps: steps.clone(),
                    ..Plan::default()
                })
                .is_err(),
                "{steps:?}"
            );
        }
    }
}
