//! Tagged ("dyed") traffic: load-test requests marked at the edge, the mark
//! carried with the request through every G and every hop, and their writes
//! sent to a shadow store.
//!
//! Testing a production system with production-shaped load means the load
//! test's writes must not land in production data. The usual answer
//! (Alibaba's "full-link stress testing", Uber's and Meituan's traffic
//! dyeing) is a tag on the request that every service passes on, and a
//! storage layer that routes tagged writes to shadow tables. Here:
//!
//! * The tag arrives as an `x-load-test: NAME` header, or as a
//!   `loadtest=NAME` entry in W3C `tracestate` (so a tracing-aware client
//!   needs no new header).
//! * **Presence marks the request.** A value that is too long (over
//!   [`MAX_TAG`] bytes) or has characters other than `[A-Za-z0-9._-]` is
//!   ignored as a *name* and replaced by [`UNNAMED`], but the request stays
//!   tagged: a load test with a malformed tag must still never write to the
//!   real store. Failing safe is the point.
//! * The tag rides in the G's labels under [`LABEL`], so every G the
//!   request spawns inherits it, and the downstream call sends it on in
//!   both forms.
//! * [`crate::store::Stores`] picks the shadow file when the running G's
//!   labels carry the tag.

/// The request header that marks load-test traffic.
pub const HEADER: &str = "x-load-test";
/// The `tracestate` key that marks load-test traffic.
pub const TRACESTATE_KEY: &str = "loadtest";
/// The label key the tag is carried under.
pub const LABEL: &str = "load_test";
/// The longest tag name kept.
pub const MAX_TAG: usize = 64;
/// The name given to a tagged request whose name was malformed.
pub const UNNAMED: &str = "unnamed";

/// The tag of a request, from its `x-load-test` header and `tracestate`
/// (either marks it; the header's name wins). `None`: real traffic.
///
/// ```
/// use service::tagging::tag_of;
/// assert_eq!(tag_of(Some(b"spring-sale"), None).as_deref(), Some("spring-sale"));
/// assert_eq!(tag_of(None, Some(b"vendor=x,loadtest=run7")).as_deref(), Some("run7"));
/// // A huge or odd value is still load-test traffic, just unnamed.
/// assert_eq!(tag_of(Some(&[b'a'; 1000]), None).as_deref(), Some("unnamed"));
/// assert_eq!(tag_of(None, Some(b"vendor=x")), None);
/// ```
pub fn tag_of(header: Option<&[u8]>, tracestate: Option<&[u8]>) -> Option<String> {
    if let Some(v) = header {
        return Some(name(v));
    }
    let state = tracestate?;
    state
        .split(|b| *b == b',')
        .filter_map(|entry| {
            let entry = entry.trim_ascii();
            let eq = entry.iter().position(|b| *b == b'=')?;
            (entry[..eq] == *TRACESTATE_KEY.as_bytes()).then(|| name(&entry[eq + 1..]))
        })
        .next()
}

/// The tag carried by the G running now, if any.
pub fn current_tag() -> Option<String> {
    runtime::current_labels().get(LABEL).map(str::to_string)
}

fn name(v: &[u8]) -> String {
    let v = v.trim_ascii();
    let ok = !v.is_empty()
        && v.len() <= MAX_TAG
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        // All ASCII, checked above.
        String::from_utf8_lossy(v).into_owned()
    } else {
        UNNAMED.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_names_stay_tagged() {
        for bad in [
            &b""[..],
            b"   ",
            b"a b",
            b"\xff\xfe",
            b"x=y",
            &[b'z'; MAX_TAG + 1],
        ] {
            assert_eq!(tag_of(Some(bad), None).as_deref(), Some(UNNAMED), "{bad:?}");
        }
        assert_eq!(
            tag_of(Some(&[b'z'; MAX_TAG]), None).map(|t| t.len()),
            Some(MAX_TAG)
        );
    }

    #[test]
    fn tracestate_entries_are_found_among_others() {
        assert_eq!(
            tag_of(None, Some(b"a=1 , loadtest=r1,b=2")).as_deref(),
            Some("r1")
        );
        assert_eq!(tag_of(None, Some(b"loadtestx=r1")), None);
        assert_eq!(tag_of(None, Some(b"")), None);
        assert_eq!(tag_of(None, Some(b"loadtest=")).as_deref(), Some(UNNAMED));
        assert_eq!(
            tag_of(Some(b"h"), Some(b"loadtest=t")).as_deref(),
            Some("h")
        );
    }
}
