//! A tiny seeded random number generator, so that every simulation in this
//! crate replays exactly from its seed.
//!
//! Design: SplitMix64 (Steele, Lea and Flood, 2014). It is one 64-bit state
//! word, an add and three xor-shift-multiply rounds per output. It is not a
//! cryptographic generator and does not need to be: the simulations only need
//! schedules that are spread out and that repeat bit for bit from a seed on
//! every machine. Keeping it here (rather than pulling in `rand`) keeps the
//! lessons' dependency tree small.

/// A deterministic pseudo-random source (SplitMix64).
///
/// ```
/// use memsim::rng::SplitMix64;
/// let mut a = SplitMix64::new(7);
/// let mut b = SplitMix64::new(7);
/// assert_eq!(a.next_u64(), b.next_u64()); // same seed, same stream
/// assert!(a.below(10) < 10);
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` must be non-zero). The multiply-shift keeps the
    /// bias below 2^-32 for the small `n` used here.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0) has no possible value");
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// `true` with probability `percent`/100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_different_seeds_differ() {
        let a: Vec<u64> = (0..4)
            .scan(SplitMix64::new(1), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .scan(SplitMix64::new(1), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..4)
            .scan(SplitMix64::new(2), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_covers_its_range_and_stays_inside() {
        let mut r = SplitMix64::new(3);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.below(5);
            assert!(v < 5, "below(5) returned {v}");
            seen[v] = true;
        }
        assert!(
            seen.iter().all(|&s| s),
            "every value in 0..5 should appear in 1000 draws: {seen:?}"
        );
    }
}
