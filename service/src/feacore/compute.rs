//! The per-request work of the feature service, shared by both versions.
//!
//! A request's features are computed from the stores' answers: each store
//! returns a row of [`ROW`] numbers for the entity. The service spreads the
//! rows over a scratch buffer of `work_bytes` bytes (a cheap generator
//! seeded by each number, standing for decoding and joining real feature
//! blobs), hashes the buffer in 64-byte windows with FNV-1a and folds the
//! window hashes into [`FEATURES`] buckets, then renders the buckets as the
//! JSON body. That is the CPU part of a request: a few microseconds per
//! kilobyte, the part that a thread pool and a task runtime both have to
//! do, so the flame graphs have something to find besides waiting.
//!
//! The scratch buffer and the body are passed in. The thread-pool version
//! passes fresh `Vec`s for every request (as the Python service allocated
//! per request); the task version passes the connection's buffers, cleared
//! but with their capacity kept, so after the first request it allocates
//! nothing here. [`features`] does not know which: the bytes it writes are
//! the same, which a test checks.

use std::io::Write as _;

/// Numbers in one store's answer.
pub const ROW: usize = 16;

/// Aggregated features in a response.
pub const FEATURES: usize = 8;

/// How a feature service is sized: the knobs both versions share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Bytes of scratch work per request (the CPU cost).
    pub work_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            work_bytes: 16 * 1024,
        }
    }
}

/// Parses one store answer line (`ROW` comma-separated numbers) into `row`.
///
/// ```
/// let mut row = [0u32; service::feacore::compute::ROW];
/// let line = (0..16).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
/// assert!(service::feacore::compute::parse_row(line.as_bytes(), &mut row));
/// assert_eq!(row[15], 15);
/// assert!(!service::feacore::compute::parse_row(b"1,2", &mut row));
/// ```
pub fn parse_row(line: &[u8], row: &mut [u32; ROW]) -> bool {
    let mut n = 0;
    for field in line.split(|&b| b == b',') {
        let Some(slot) = row.get_mut(n) else {
            return false;
        };
        let Some(v) = std::str::from_utf8(field)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        else {
            return false;
        };
        *slot = v;
        n += 1;
    }
    n == ROW
}

/// Computes the features of `entity` from the stores' `rows`, using
/// `scratch` as the work buffer, and appends the JSON body to `body`.
///
/// ```
/// use service::feacore::compute::{Settings, ROW, features};
/// let rows = [[7u32; ROW]; 3];
/// let (mut scratch, mut body) = (Vec::new(), Vec::new());
/// features(42, &rows, Settings::default(), &mut scratch, &mut body);
/// assert!(body.starts_with(b"{\"entity\":42,\"features\":["));
/// ```
#[inline(never)]
pub fn features(
    entity: u64,
    rows: &[[u32; ROW]],
    settings: Settings,
    scratch: &mut Vec<u8>,
    body: &mut Vec<u8>,
) {
    spread(entity, rows, settings.work_bytes, scratch);
    let buckets = aggregate(scratch);
    let _ = write!(body, "{{\"entity\":{entity},\"features\":[");
    for (i, b) in buckets.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(body, "{sep}{b}");
    }
    body.extend_from_slice(b"]}\n");
}

/// Fills `scratch` with `bytes` bytes derived from the rows (xorshift
/// seeded by each number in turn).
#[inline(never)]
fn spread(entity: u64, rows: &[[u32; ROW]], bytes: usize, scratch: &mut Vec<u8>) {
    scratch.clear();
    scratch.reserve(bytes);
    let seeds = rows.len() * ROW;
    let per_seed = bytes.div_ceil(seeds.max(1)).max(8);
    let mut x = entity | 1;
    for row in rows {
        for &v in row {
            x ^= u64::from(v).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut left = per_seed.min(bytes - scratch.len());
            while left >= 8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                scratch.extend_from_slice(&x.to_le_bytes());
                left -= 8;
            }
        }
    }
    scratch.resize(bytes, 0);
}

/// FNV-1a over 64-byte windows, folded into [`FEATURES`] buckets.
#[inline(never)]
fn aggregate(scratch: &[u8]) -> [u64; FEATURES] {
    let mut buckets = [0u64; FEATURES];
    for (i, window) in scratch.chunks(64).enumerate() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in window {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let slot = &mut buckets[i % FEATURES];
        *slot = slot.wrapping_add(h >> 20);
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_buffers_give_the_same_body_as_fresh_ones() {
        let rows = [[1u32; ROW], [2; ROW], [3; ROW], [4; ROW]];
        let s = Settings::default();
        let (mut fresh_scratch, mut fresh_body) = (Vec::new(), Vec::new());
        features(9, &rows, s, &mut fresh_scratch, &mut fresh_body);
        // A reused scratch holding a previous request's bytes, and a body
        // cleared after the last response.
        let mut scratch = vec![0xAA; 3 * s.work_bytes];
        let mut body = Vec::with_capacity(256);
        features(1, &[[9; ROW]], s, &mut scratch, &mut body);
        body.clear();
        let cap = (scratch.capacity(), body.capacity());
        features(9, &rows, s, &mut scratch, &mut body);
        assert_eq!(body, fresh_body, "same entity and rows, same body");
        assert_eq!(
            scratch.len(),
            s.work_bytes,
            "the scratch is work_bytes long"
        );
        assert_eq!(
            (scratch.capacity(), body.capacity()),
            cap,
            "a reused buffer is not reallocated"
        );
    }

    #[test]
    fn the_features_depend_on_the_rows_and_the_entity() {
        let s = Settings { work_bytes: 4096 };
        let run = |e: u64, v: u32| {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            features(e, &[[v; ROW]; 4], s, &mut a, &mut b);
            b
        };
        assert_ne!(run(1, 1), run(1, 2), "a different row");
        assert_ne!(run(1, 1), run(2, 1), "a different entity");
        assert_eq!(run(5, 5), run(5, 5), "deterministic");
    }
}
