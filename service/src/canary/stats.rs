//! Is v2's tail worse than v1's? A bootstrap bound on the ratio of P99s.
//!
//! The rule to enforce is about one number: *roll back when v2's P99 is
//! more than 5% worse than v1's*. Two samples' P99s always differ, so the
//! question is whether the difference is bigger than what chance gives. Two
//! tests fit; this module uses the second:
//!
//! * **Mann–Whitney U** (what Netflix's Kayenta runs) asks whether one
//!   sample tends to be larger than the other. Run on the latencies above a
//!   quantile it looks at the tail, but what it rejects is "same
//!   distribution", not "P99 within 5%": the tolerance has to be smuggled in
//!   by scaling one sample, and a tiny but consistent shift in a huge sample
//!   is "significant" though harmless.
//! * **A bootstrap bound on P99** asks the rule's question directly. Resample
//!   each version's latencies with replacement, take each resample's P99,
//!   and look at the spread of `P99(v2*) / P99(v1*)` over many resamples.
//!   Its lower 5th percentile above 1.05 says "more than 5% worse, at 95%
//!   confidence"; its upper 95th percentile at or below 1.05 says "not more
//!   than 5% worse, at 95% confidence". In between, the data cannot tell.
//!   (The default confidence is 99%, for the controller's sake: see
//!   [`super::controller`].) It needs no assumption
//!   about the shape of latency distributions (which are skewed and often
//!   multi-modal), and it works on the HDR histograms directly.
//!
//! **Resampling without drawing n values.** A resample's P99 is its k-th
//! smallest value, `k = ceil(0.99 n)`. Drawing n values from a distribution
//! F and sorting them is the same as drawing n uniform numbers, sorting, and
//! mapping each through F's inverse; and the k-th smallest of n uniforms has
//! a Beta(k, n + 1 - k) distribution. So one replicate of the resample's P99
//! is `F̂⁻¹(U)` with `U ~ Beta(k, n + 1 - k)`: one Beta draw (two Gamma
//! draws, Marsaglia and Tsang's method) and one binary search in the
//! histogram's cumulative counts, instead of n draws. That keeps a judgement
//! of two windows of any size to about a millisecond, cheap enough to run on
//! every controller tick inside the service.
//!
//! Too few samples is its own answer, [`Verdict::NotEnoughData`], checked
//! before any statistics: a P99 of 20 requests is their maximum, and a
//! window with no requests has no P99 at all. It must never read as
//! healthy (Flagger#1098: a canary that got no traffic passed its checks,
//! because "no errors" was computed over no requests, and was promoted).
//! The random numbers come from a fixed seed, so one window always gets
//! the same verdict.

use hdrhistogram::Histogram;

/// What a comparison of the two windows says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// A version has fewer than the minimum samples: nothing can be said.
    NotEnoughData,
    /// v2's P99 is more than the tolerance worse, at the confidence asked.
    Regression,
    /// v2's P99 is not more than the tolerance worse, at the confidence asked.
    NoRegression,
    /// The interval straddles the tolerance: more samples are needed.
    Inconclusive,
}

impl Verdict {
    /// The verdict's name in the decision log.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::NotEnoughData => "not enough data",
            Verdict::Regression => "regression",
            Verdict::NoRegression => "no regression",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// How the test is run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestConfig {
    /// Fewer samples than this in either window: [`Verdict::NotEnoughData`].
    pub min_samples: u64,
    /// How much worse v2's P99 may be (0.05: 5%).
    pub tolerance: f64,
    /// One-sided confidence of each bound (0.99: a controller looks many
    /// times, and each look is a chance of a false alarm).
    pub confidence: f64,
    /// Bootstrap replicates.
    pub replicates: usize,
    /// The quantile compared (0.99).
    pub quantile: f64,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            min_samples: 200,
            tolerance: 0.05,
            confidence: 0.99,
            replicates: 2000,
            quantile: 0.99,
        }
    }
}

/// One comparison: the counts, the observed tails, the bound, the verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Samples in v1's and v2's windows.
    pub samples: [u64; 2],
    /// Observed median of each, µs (0 for an empty window).
    pub p50_us: [u64; 2],
    /// Observed P99 of each, µs (0 for an empty window).
    pub p99_us: [u64; 2],
    /// Observed `P99(v2) / P99(v1)` (`None` without enough data).
    pub ratio: Option<f64>,
    /// The bootstrap interval of the ratio, `(lower, upper)`.
    pub bounds: Option<(f64, f64)>,
    /// What it means.
    pub verdict: Verdict,
}

/// Compares v1's and v2's windows (latencies in µs).
///
/// ```
/// use hdrhistogram::Histogram;
/// use service::canary::stats::{Verdict, TestConfig, compare};
/// let mut v1 = Histogram::<u64>::new(3).unwrap();
/// let mut v2 = v1.clone();
/// for i in 0..1000u64 {
///     v1.record(100 + i % 50).unwrap();
///     // One request in ten takes 1 ms longer.
///     v2.record(100 + i % 50 + if i % 10 == 0 { 1000 } else { 0 }).unwrap();
/// }
/// let c = compare(&v1, &v2, &TestConfig::default());
/// assert_eq!(c.verdict, Verdict::Regression);
/// ```
pub fn compare(v1: &Histogram<u64>, v2: &Histogram<u64>, cfg: &TestConfig) -> Comparison {
    let (e1, e2) = (Empirical::of(v1), Empirical::of(v2));
    let samples = [e1.n, e2.n];
    let p99_us = [e1.quantile(cfg.quantile), e2.quantile(cfg.quantile)];
    let p50_us = [e1.quantile(0.5), e2.quantile(0.5)];
    if e1.n < cfg.min_samples.max(1) || e2.n < cfg.min_samples.max(1) {
        return Comparison {
            samples,
            p50_us,
            p99_us,
            ratio: None,
            bounds: None,
            verdict: Verdict::NotEnoughData,
        };
    }
    // ANCHOR: bootstrap
    let ratio = p99_us[1] as f64 / p99_us[0].max(1) as f64;
    let mut rng = Rng::new(0x5eed_ca1a_2025);
    let mut ratios: Vec<f64> = (0..cfg.replicates.max(1))
        .map(|_| {
            let a = e1.resampled_quantile(cfg.quantile, &mut rng) as f64;
            let b = e2.resampled_quantile(cfg.quantile, &mut rng) as f64;
            b / a.max(1.0)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((q * ratios.len() as f64) as usize).min(ratios.len() - 1)];
    let alpha = 1.0 - cfg.confidence;
    let (lower, upper) = (at(alpha), at(1.0 - alpha));
    let limit = 1.0 + cfg.tolerance;
    let verdict = if lower > limit {
        Verdict::Regression
    } else if upper <= limit {
        Verdict::NoRegression
    } else {
        Verdict::Inconclusive
    };
    // ANCHOR_END: bootstrap
    Comparison {
        samples,
        p50_us,
        p99_us,
        ratio: Some(ratio),
        bounds: Some((lower, upper)),
        verdict,
    }
}

/// A window's empirical distribution: distinct values (HDR's highest
/// equivalent value of each recorded bucket) and cumulative counts.
struct Empirical {
    values: Vec<u64>,
    cumulative: Vec<u64>,
    n: u64,
}

impl Empirical {
    fn of(h: &Histogram<u64>) -> Empirical {
        let (mut values, mut cumulative, mut n) = (Vec::new(), Vec::new(), 0);
        for v in h.iter_recorded() {
            n += v.count_at_value();
            values.push(h.highest_equivalent(v.value_iterated_to()));
            cumulative.push(n);
        }
        Empirical {
            values,
            cumulative,
            n,
        }
    }

    /// The value at rank `ceil(u n)` (F̂⁻¹(u)); 0 for an empty window.
    fn value_at_fraction(&self, u: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((u * self.n as f64).ceil() as u64).clamp(1, self.n);
        let i = self.cumulative.partition_point(|c| *c < rank);
        self.values[i]
    }

    fn quantile(&self, q: f64) -> u64 {
        self.value_at_fraction(q)
    }

    // ANCHOR: resample
    /// The `q` quantile of one bootstrap resample of size n.
    fn resampled_quantile(&self, q: f64, rng: &mut Rng) -> u64 {
        let k = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let u = rng.beta(k as f64, (self.n + 1 - k) as f64);
        self.value_at_fraction(u)
    }
    // ANCHOR_END: resample
}

/// xorshift64* with Box–Muller normals and Marsaglia–Tsang gammas: enough
/// randomness for a bootstrap, from a seed, with no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform on (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Gamma(shape, 1) for shape ≥ 1 (Marsaglia and Tsang, 2000).
    fn gamma(&mut self, shape: f64) -> f64 {
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            if self.uniform().ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Beta(a, b) for a, b ≥ 1.
    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        x / (x + self.gamma(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window of `n` latencies: a base of 200-299 µs spread evenly, plus
    /// `extra` µs on one request in `every` (none if `every` is 0).
    fn window(n: u64, seed: u64, every: u64, extra: u64) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).unwrap();
        let mut rng = Rng::new(seed);
        for i in 0..n {
            let base = 200 + rng.next_u64() % 100;
            let slow = every != 0 && i % every == 0;
            h.record(base + if slow { extra } else { 0 }).unwrap();
        }
        h
    }

    #[test]
    fn a_ten_percent_tail_regression_is_detected() {
        let cfg = TestConfig::default();
        let c = compare(&window(2000, 1, 0, 0), &window(2000, 2, 10, 500), &cfg);
        assert_eq!(c.verdict, Verdict::Regression, "{c:?}");
        let (lower, _) = c.bounds.unwrap();
        assert!(lower > 1.05, "expected a lower bound over 1.05: {c:?}");
    }

    #[test]
    fn a_regression_of_just_over_the_tolerance_is_detected_with_enough_samples() {
        // Every request 10% slower: P99 about 10% worse, over the 5% rule.
        let mut v2 = Histogram::<u64>::new(3).unwrap();
        let mut rng = Rng::new(9);
        for _ in 0..20_000 {
            v2.record((200 + rng.next_u64() % 100) * 110 / 100).unwrap();
        }
        let c = compare(&window(20_000, 8, 0, 0), &v2, &TestConfig::default());
        assert_eq!(c.verdict, Verdict::Regression, "{c:?}");
    }

    #[test]
    fn identical_distributions_are_not_a_regression() {
        let cfg = TestConfig::default();
        for seed in 0..20 {
            let c = compare(
                &window(2000, seed, 0, 0),
                &window(2000, seed + 100, 0, 0),
                &cfg,
            );
            assert_ne!(c.verdict, Verdict::Regression, "seed {seed}: {c:?}");
            assert_eq!(c.verdict, Verdict::NoRegression, "seed {seed}: {c:?}");
        }
    }

    #[test]
    fn too_few_samples_never_passes() {
        let cfg = TestConfig::default();
        let empty = Histogram::<u64>::new(3).unwrap();
        for (v1, v2) in [
            (window(5000, 1, 0, 0), empty.clone()),
            (empty.clone(), window(5000, 1, 0, 0)),
            (empty.clone(), empty.clone()),
            (window(5000, 1, 0, 0), window(199, 2, 0, 0)),
        ] {
            let c = compare(&v1, &v2, &cfg);
            assert_eq!(c.verdict, Verdict::NotEnoughData, "{c:?}");
            assert_eq!((c.ratio, c.bounds), (None, None), "{c:?}");
        }
        // Even a minimum of 0 asks for one sample each.
        let zero = TestConfig {
            min_samples: 0,
            ..cfg
        };
        assert_eq!(
            compare(&empty, &empty, &zero).verdict,
            Verdict::NotEnoughData
        );
    }

    #[test]
    fn a_small_sample_with_a_wide_interval_is_inconclusive() {
        // 200 samples each from a heavy tail: P99 is the 2nd largest value,
        // which moves a lot between resamples.
        let heavy = |seed| {
            let mut h = Histogram::<u64>::new(3).unwrap();
            let mut rng = Rng::new(seed);
            for _ in 0..200 {
                h.record((100.0 / rng.uniform()) as u64).unwrap();
            }
            h
        };
        let c = compare(&heavy(3), &heavy(4), &TestConfig::default());
        assert_eq!(c.verdict, Verdict::Inconclusive, "{c:?}");
    }

    #[test]
    fn the_beta_draws_have_the_order_statistics_mean() {
        // E[U_(k)] = k / (n + 1).
        let mut rng = Rng::new(5);
        let (k, n) = (990.0, 1000.0);
        let mean = (0..20_000).map(|_| rng.beta(k, n + 1.0 - k)).sum::<f64>() / 20_000.0;
        assert!(
            (mean - k / (n + 1.0)).abs() < 1e-3,
            "expected a mean of {}, got {mean}",
            k / (n + 1.0)
        );
    }

    #[test]
    fn quantiles_are_read_from_the_cumulative_counts() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in 1..=100 {
            h.record(v).unwrap();
        }
        let e = Empirical::of(&h);
        assert_eq!((e.n, e.quantile(0.99), e.quantile(0.5)), (100, 99, 50));
        assert_eq!(e.quantile(1.0), 100);
    }
}
