//! Reading a request's query string: the numbers and keys the routes take.
//!
//! Queries here are `k=v&k=v` with no percent-decoding: every parameter a
//! route takes is a plain number or a short key, and a value that does not
//! parse is a 400 from the route, never a panic or a default.

/// `key=N` from a query string, if present, a number, and at most `max`.
pub(super) fn number(query: &str, key: &str, max: u64) -> Option<u64> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .filter(|n| *n <= max)
}

/// `key=K` from a query string, if present and 1 to 256 bytes (the
/// `/store` key).
pub(super) fn key(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("key="))
        .filter(|k| !k.is_empty() && k.len() <= 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_keys_are_read_or_refused() {
        assert_eq!(number("us=10&x=1", "us", 100), Some(10));
        assert_eq!(number("us=1000", "us", 100), None, "over the maximum");
        assert_eq!(number("us=ten", "us", 100), None, "not a number");
        assert_eq!(number("", "us", 100), None, "missing");
        assert_eq!(key("a=1&key=k1"), Some("k1"));
        assert_eq!(key("key="), None, "empty");
        assert_eq!(key(&format!("key={}", "k".repeat(257))), None, "too long");
    }
}
