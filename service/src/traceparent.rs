//! W3C Trace Context: the `traceparent` header, parsed and written, and the
//! request's trace carried in the G's labels.
//!
//! A `traceparent` is four lowercase-hex fields joined by dashes:
//!
//! ```text
//! 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//! │  │                                │                └ flags (01 = sampled)
//! │  │                                └ parent id: the caller's span (8 bytes)
//! │  └ trace id: the whole request's id, the same on every hop (16 bytes)
//! └ version (00; ff is forbidden)
//! ```
//!
//! The rules, from the W3C recommendation: an all-zero trace id or parent id
//! is invalid; version `ff` is invalid; uppercase hex is invalid; a version
//! other than `00` may carry more fields after the fourth (future versions
//! may append), version `00` may not. A header that breaks a rule is
//! *ignored*, exactly as if it were absent: the service starts a new trace,
//! it never answers 400 and never panics over it.
//!
//! Each hop makes a span of its own: it keeps the trace id, records the
//! incoming parent id, picks a new span id, and sends
//! `00-<trace id>-<its span id>-<flags>` on to the next hop
//! ([`TraceParent::child`]). The span's ids live in the G's labels
//! (`trace_id`, `span_id`, `parent_id`, with [`runtime::with_labels`]), so
//! every G the request spawns inherits them, and a downstream call made from
//! any of those Gs finds them with [`TraceParent::current`]. That is what
//! OpenTelemetry's context propagation does with a thread-local or Go's
//! `context.Context`; here the runtime's label inheritance does it.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The label keys a span's ids are stored under.
pub const TRACE_ID: &str = "trace_id";
/// The label key of the current span's id.
pub const SPAN_ID: &str = "span_id";
/// The label key of the caller's span id (absent on a trace's first hop).
pub const PARENT_ID: &str = "parent_id";
/// The label key of the trace flags (two hex digits).
pub const FLAGS: &str = "trace_flags";

/// Why a `traceparent` was rejected (the service ignores it; tests name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not 55 bytes (version 00) or too short (later versions).
    Length,
    /// A dash missing where one belongs.
    Separator,
    /// A character that is not lowercase hex.
    NotHex,
    /// Version `ff`.
    Version,
    /// An all-zero trace id.
    ZeroTraceId,
    /// An all-zero parent id.
    ZeroParentId,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::Length => "traceparent has the wrong length",
            ParseError::Separator => "traceparent fields must be separated by '-'",
            ParseError::NotHex => "traceparent fields must be lowercase hex",
            ParseError::Version => "traceparent version ff is invalid",
            ParseError::ZeroTraceId => "traceparent trace id is all zeros",
            ParseError::ZeroParentId => "traceparent parent id is all zeros",
        })
    }
}

impl std::error::Error for ParseError {}

/// A parsed `traceparent` (OpenTelemetry's `SpanContext`, the W3C header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace: the same on every hop of one request.
    pub trace_id: [u8; 16],
    /// The span that sent this header (the receiver's parent).
    pub parent_id: [u8; 8],
    /// Trace flags; bit 0 is "sampled".
    pub flags: u8,
}

impl TraceParent {
    /// Parses a header value; anything that breaks the W3C rules is an error.
    ///
    /// ```
    /// use service::traceparent::{ParseError, TraceParent};
    /// let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    /// assert_eq!(tp.flags, 1);
    /// assert_eq!(TraceParent::parse("00-0000-00-01"), Err(ParseError::Length));
    /// ```
    pub fn parse(value: &str) -> Result<TraceParent, ParseError> {
        let b = value.as_bytes();
        // version(2) - trace(32) - parent(16) - flags(2) = 55 bytes.
        if b.len() < 55 {
            return Err(ParseError::Length);
        }
        let version = hex_byte(&b[0..2])?;
        if version == 0xff {
            return Err(ParseError::Version);
        }
        if version == 0 && b.len() != 55 {
            return Err(ParseError::Length);
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(ParseError::Separator);
        }
        // A later version may append fields, each after a dash.
        if b.len() > 55 && b[55] != b'-' {
            return Err(ParseError::Separator);
        }
        let mut trace_id = [0u8; 16];
        for (i, out) in trace_id.iter_mut().enumerate() {
            *out = hex_byte(&b[3 + 2 * i..5 + 2 * i])?;
        }
        let mut parent_id = [0u8; 8];
        for (i, out) in parent_id.iter_mut().enumerate() {
            *out = hex_byte(&b[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&b[53..55])?;
        if trace_id == [0; 16] {
            return Err(ParseError::ZeroTraceId);
        }
        if parent_id == [0; 8] {
            return Err(ParseError::ZeroParentId);
        }
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Parses raw header bytes (not UTF-8 is an error too).
    pub fn parse_bytes(value: &[u8]) -> Result<TraceParent, ParseError> {
        std::str::from_utf8(value)
            .map_err(|_| ParseError::NotHex)
            .and_then(|s| TraceParent::parse(s.trim_matches(|c| c == ' ' || c == '\t')))
    }

    /// A new trace (the first hop saw no valid header), sampled.
    pub fn new_root() -> TraceParent {
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&random_u64().to_be_bytes());
        trace_id[8..].copy_from_slice(&random_u64().to_be_bytes());
        TraceParent {
            trace_id,
            parent_id: random_span_id(),
            flags: 1,
        }
    }

    /// The header this hop sends downstream: same trace, this span as the
    /// parent.
    ///
    /// ```
    /// use service::traceparent::TraceParent;
    /// let incoming = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    /// let out = incoming.child([1, 2, 3, 4, 5, 6, 7, 8]);
    /// assert_eq!(out.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01");
    /// ```
    pub fn child(&self, span_id: [u8; 8]) -> TraceParent {
        TraceParent {
            parent_id: span_id,
            ..*self
        }
    }

    /// The trace id as 32 hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The labels of a span of this trace: `trace_id`, `span_id` (ours),
    /// `parent_id` (the caller's), `trace_flags`.
    pub fn span_labels(&self, span_id: [u8; 8]) -> [(&'static str, String); 4] {
        [
            (TRACE_ID, hex(&self.trace_id)),
            (SPAN_ID, hex(&span_id)),
            (PARENT_ID, hex(&self.parent_id)),
            (FLAGS, format!("{:02x}", self.flags)),
        ]
    }

    /// The header to send downstream from the G that is running now: the
    /// trace in its labels, with its span as the parent. `None` outside a
    /// traced request.
    ///
    /// ```
    /// use service::traceparent::TraceParent;
    /// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
    /// let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    /// let labels = tp.span_labels([9; 8]);
    /// let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    /// let sent = rt.block_on(runtime::with_labels(&pairs, async {
    ///     // A G spawned by the request inherits the trace.
    ///     runtime::spawn(async { TraceParent::current() }).await.unwrap()
    /// }));
    /// assert_eq!(sent.unwrap().to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-0909090909090909-01");
    /// ```
    pub fn current() -> Option<TraceParent> {
        let labels = runtime::current_labels();
        let trace_id = unhex::<16>(labels.get(TRACE_ID)?)?;
        let span_id = unhex::<8>(labels.get(SPAN_ID)?)?;
        let flags = unhex::<1>(labels.get(FLAGS).unwrap_or("01"))?[0];
        Some(TraceParent {
            trace_id,
            parent_id: span_id,
            flags,
        })
    }
}

impl fmt::Display for TraceParent {
    /// Writes the version-00 header: `00-<trace>-<parent>-<flags>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            self.flags
        )
    }
}

/// A new span id: random, never all zeros.
pub fn random_span_id() -> [u8; 8] {
    loop {
        let id = random_u64();
        if id != 0 {
            return id.to_be_bytes();
        }
    }
}

/// SplitMix64 over a counter seeded from the clock and the process id:
/// unique enough for ids within a course run (not cryptographic, and the
/// W3C spec does not ask for that).
fn random_u64() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        t ^ (u64::from(std::process::id()) << 32)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = hex_byte(&b[2 * i..2 * i + 2]).ok()?;
    }
    Some(out)
}

/// Two lowercase hex digits as a byte (uppercase is invalid in traceparent).
fn hex_byte(two: &[u8]) -> Result<u8, ParseError> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(ParseError::NotHex),
    };
    Ok(digit(two[0])? << 4 | digit(two[1])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_spec_example_round_trips() {
        let tp = TraceParent::parse(GOOD).unwrap();
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&tp.parent_id), "00f067aa0ba902b7");
        assert_eq!(tp.to_string(), GOOD);
        assert_eq!(
            TraceParent::parse_bytes(b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t"),
            Ok(tp)
        );
    }

    #[test]
    fn named_malformed_headers_are_rejected_with_the_right_reason() {
        use ParseError::*;
        let cases: &[(&str, ParseError)] = &[
            ("", Length),
            ("00", Length),
            (&GOOD[..54], Length),
            (&format!("{GOOD}-"), Length),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                ZeroTraceId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                ZeroParentId,
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                NotHex,
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Separator,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
                Separator,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
                Separator,
            ),
            (
                "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                NotHex,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
                NotHex,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
                NotHex,
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
                Separator,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(TraceParent::parse(input), Err(*want), "input {input:?}");
        }
        // A later version may append fields; version 00 may not.
        let v1 = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(TraceParent::parse(v1).is_ok());
        assert!(TraceParent::parse_bytes(&[0xff; 55]).is_err());
    }

    /// Every single-byte substitution, deletion and insertion of the good
    /// header, with every byte value: each either parses to something that
    /// writes back as a valid header, or is rejected, and nothing panics.
    /// The substitutions that must be accepted are exactly the lowercase
    /// hex digits inside the hex fields.
    #[test]
    fn every_one_byte_mutation_is_rejected_or_still_valid() {
        let good = GOOD.as_bytes();
        let mut accepted = 0;
        let mut rejected = 0;
        for pos in 0..good.len() {
            for byte in 0..=255u8 {
                if byte == good[pos] {
                    continue;
                }
                let mut m = good.to_vec();
                m[pos] = byte;
                match TraceParent::parse_bytes(&m) {
                    Ok(tp) => {
                        accepted += 1;
                        let hexdigit = byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
                        let in_field = ![2, 35, 52].contains(&pos);
                        assert!(
                            hexdigit && in_field,
                            "accepted {:?}",
                            String::from_utf8_lossy(&m)
                        );
                        assert_eq!(TraceParent::parse(&tp.to_string()), Ok(tp));
                    }
                    Err(_) => rejected += 1,
                }
                let mut del = good.to_vec();
                del.remove(pos);
                assert!(TraceParent::parse_bytes(&del).is_err(), "deletion at {pos}");
                let mut ins = good.to_vec();
                ins.insert(pos, byte);
                let _ = TraceParent::parse_bytes(&ins); // must not panic
            }
        }
        // 52 hex positions x 15 other digits each (one change cannot make
        // "ff" or an all-zero id from this header).
        assert_eq!(accepted, 52 * 15);
        assert_eq!(accepted + rejected, good.len() * 255);
    }

    /// Pseudo-random garbage of every length up to 80 (a fuzz loop without
    /// a fuzzer): never a panic, never an accepted all-zero id.
    #[test]
    fn random_garbage_never_panics() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let alphabet = b"0123456789abcdefABCDEF-ff00 \x00\xff";
        for len in 0..80 {
            for _ in 0..500 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize]
                    })
                    .collect();
                if let Ok(tp) = TraceParent::parse_bytes(&s) {
                    assert_ne!(tp.trace_id, [0; 16]);
                    assert_ne!(tp.parent_id, [0; 8]);
                }
            }
        }
    }

    #[test]
    fn roots_and_spans_are_fresh_and_valid() {
        let a = TraceParent::new_root();
        let b = TraceParent::new_root();
        assert_ne!(a.trace_id, b.trace_id);
        assert_eq!(TraceParent::parse(&a.to_string()), Ok(a));
        assert_ne!(random_span_id(), random_span_id());
    }

    #[test]
    fn the_trace_follows_spawned_gs_and_nothing_outside() {
        let rt = runtime::Runtime::builder().procs(2).build().unwrap();
        let tp = TraceParent::parse(GOOD).unwrap();
        let labels = tp.span_labels([7; 8]);
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (inner, grandchild) = rt.block_on(runtime::with_labels(&pairs, async {
            let h = runtime::spawn(async {
                runtime::spawn(async { TraceParent::current() })
                    .await
                    .unwrap()
            });
            (TraceParent::current(), h.await.unwrap())
        }));
        let want = tp.child([7; 8]);
        assert_eq!(inner, Some(want));
        assert_eq!(grandchild, Some(want));
        assert_eq!(rt.block_on(async { TraceParent::current() }), None);
    }
}
