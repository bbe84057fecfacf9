//! Which version answers a request: weighted, or pinned.
//!
//! A canary release runs the old version (v1, the *primary*) and the new one
//! (v2, the *canary*) side by side and sends a share of the traffic, the
//! *weight*, to v2. Two rules decide, in this order:
//!
//! 1. **Pinned.** A request that names a version gets it, whatever the
//!    weight: a tester forcing v2 before any user sees it, or a client that
//!    must stay on v1. An `x-canary: v1|v2` header pins one hop; the pin
//!    that travels is a W3C `tracestate` entry,
//!    `canary=v1` or `canary=v2` (the same list [`crate::tagging`] reads its
//!    `loadtest=` entry from), so it follows the request through every hop
//!    that passes trace context on, as service meshes pass routing headers.
//! 2. **Weighted.** Otherwise the request's *key* is hashed into one of 100
//!    buckets and buckets below the weight go to v2. The key is the trace id
//!    when the request has one (so every hop of one trace lands on the same
//!    version) and otherwise the request's sequence number in this process.
//!    A hash, not a random draw: the same key always lands on the same
//!    version at the same weight, tests are reproducible, and raising the
//!    weight from 5 to 25 only *adds* keys to v2 (buckets 0-4 stay on it),
//!    so no user flips back and forth while the canary grows.
//!
//! The hash is SplitMix64's finaliser: sequential keys (1, 2, 3, ...) come
//! out spread evenly over the buckets, which a plain `key % 100` would also
//! do for a counter but not for trace ids that share low bits.

/// A version of the handler (Flagger's *primary* and *canary*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The running version.
    V1,
    /// The candidate.
    V2,
}

impl Version {
    /// Both, in the order of arrays indexed by [`Version::index`].
    pub const BOTH: [Version; 2] = [Version::V1, Version::V2];

    /// `"v1"` or `"v2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }

    /// 0 for v1, 1 for v2.
    pub fn index(self) -> usize {
        match self {
            Version::V1 => 0,
            Version::V2 => 1,
        }
    }

    /// Parses `v1` or `v2`.
    pub fn parse(s: &[u8]) -> Option<Version> {
        match s {
            b"v1" => Some(Version::V1),
            b"v2" => Some(Version::V2),
            _ => None,
        }
    }
}

/// The header that pins a request to a version (`x-canary: v1|v2`); it
/// wins over a `tracestate` pin, which follows the request downstream.
pub const HEADER: &str = "x-canary";

/// The version a request is pinned to: its `x-canary` header if that names
/// one, else its `tracestate` entry.
///
/// ```
/// use service::canary::router::{Version, pinned};
/// assert_eq!(pinned(Some(b"v1"), Some(b"canary=v2")), Some(Version::V1));
/// assert_eq!(pinned(Some(b"v9"), Some(b"canary=v2")), Some(Version::V2));
/// assert_eq!(pinned(None, None), None);
/// ```
pub fn pinned(header: Option<&[u8]>, tracestate: Option<&[u8]>) -> Option<Version> {
    header
        .and_then(|v| Version::parse(v.trim_ascii()))
        .or_else(|| pin_of(tracestate))
}

/// The `tracestate` key that pins a request to a version.
pub const TRACESTATE_KEY: &str = "canary";

/// The version a `tracestate` list pins, if any (`canary=v1|v2`; any other
/// value pins nothing).
///
/// ```
/// use service::canary::router::{Version, pin_of};
/// assert_eq!(pin_of(Some(b"vendor=x,canary=v2")), Some(Version::V2));
/// assert_eq!(pin_of(Some(b"canary=v3")), None);
/// assert_eq!(pin_of(None), None);
/// ```
pub fn pin_of(tracestate: Option<&[u8]>) -> Option<Version> {
    tracestate?
        .split(|b| *b == b',')
        .filter_map(|entry| {
            let entry = entry.trim_ascii();
            let eq = entry.iter().position(|b| *b == b'=')?;
            (entry[..eq] == *TRACESTATE_KEY.as_bytes()).then(|| Version::parse(&entry[eq + 1..]))
        })
        .next()
        .flatten()
}

/// SplitMix64's finaliser: a cheap hash that spreads nearby keys apart.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A key from a trace id's bytes (FNV-1a, then [`mix`]).
pub fn key_of(bytes: &[u8]) -> u64 {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    mix(h)
}

/// The version for a request with `key` at `weight` percent to v2, unless
/// `pin` names one (Istio's weighted `VirtualService` route plus a header
/// match, in one function).
///
/// ```
/// use service::canary::router::{Version, choose};
/// assert_eq!(choose(7, 0, None), Version::V1);
/// assert_eq!(choose(7, 100, None), Version::V2);
/// assert_eq!(choose(7, 0, Some(Version::V2)), Version::V2);
/// ```
// ANCHOR: choose
pub fn choose(key: u64, weight: u32, pin: Option<Version>) -> Version {
    if let Some(v) = pin {
        return v;
    }
    if mix(key) % 100 < u64::from(weight.min(100)) {
        Version::V2
    } else {
        Version::V1
    }
}
// ANCHOR_END: choose

#[cfg(test)]
mod tests {
    use super::*;

    fn share_of_v2(weight: u32) -> f64 {
        let n = 20_000u64;
        let v2 = (0..n)
            .filter(|k| choose(*k, weight, None) == Version::V2)
            .count();
        v2 as f64 / n as f64
    }

    #[test]
    fn the_weight_is_the_share_of_v2() {
        for w in [0, 5, 25, 50, 100] {
            let share = share_of_v2(w);
            let want = f64::from(w) / 100.0;
            assert!(
                (share - want).abs() < 0.01,
                "weight {w}%: expected a v2 share of {want} within 0.01, got {share}"
            );
        }
    }

    #[test]
    fn the_same_key_always_lands_on_the_same_version() {
        for k in 0..1000 {
            assert_eq!(choose(k, 25, None), choose(k, 25, None), "key {k}");
        }
    }

    #[test]
    fn raising_the_weight_only_adds_keys_to_v2() {
        for k in 0..5000 {
            if choose(k, 5, None) == Version::V2 {
                assert_eq!(choose(k, 25, None), Version::V2, "key {k} left v2 at 25%");
            }
            if choose(k, 25, None) == Version::V2 {
                assert_eq!(choose(k, 50, None), Version::V2, "key {k} left v2 at 50%");
            }
        }
    }

    #[test]
    fn a_pin_overrides_the_weight() {
        for k in 0..1000 {
            assert_eq!(choose(k, 100, Some(Version::V1)), Version::V1);
            assert_eq!(choose(k, 0, Some(Version::V2)), Version::V2);
        }
    }

    #[test]
    fn pins_are_read_from_tracestate_and_bad_ones_ignored() {
        assert_eq!(pin_of(Some(b"canary=v1")), Some(Version::V1));
        assert_eq!(pin_of(Some(b" a=b , canary=v2 ")), Some(Version::V2));
        assert_eq!(pin_of(Some(b"canary=V2")), None);
        assert_eq!(pin_of(Some(b"canary")), None);
        assert_eq!(pin_of(Some(b"loadtest=x")), None);
    }

    #[test]
    fn trace_ids_are_keys() {
        let a = key_of(b"4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(a, key_of(b"4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_ne!(a, key_of(b"4bf92f3577b34da6a3ce929d0e0e4737"));
    }
}
