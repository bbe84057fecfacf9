//! A request as the routes see it, whichever engine parsed it, and the
//! labels of its span.
//!
//! Every engine hands the routes the same few things: the method, the
//! target, the body, and the headers this chapter reads
//! (`traceparent`, `tracestate`, `x-load-test`, `x-canary`). [`Incoming::span_labels`]
//! turns them into the labels the request runs under: a child span of a
//! valid incoming trace (an invalid `traceparent` is ignored and a new
//! trace starts), the route, and the load-test tag if there is one.

use crate::tagging;
use crate::traceparent::{self, TraceParent};

/// A request as the routes see it: what every engine can hand over.
#[derive(Debug, Clone, Copy, Default)]
pub struct Incoming<'a> {
    /// The method.
    pub method: &'a str,
    /// The request target: path and query.
    pub target: &'a str,
    /// The body.
    pub body: &'a [u8],
    /// The `traceparent` header.
    pub traceparent: Option<&'a [u8]>,
    /// The `tracestate` header.
    pub tracestate: Option<&'a [u8]>,
    /// The `x-load-test` header.
    pub load_test: Option<&'a [u8]>,
    /// The `x-canary` header (`v1` or `v2`: pins the canary route's version).
    pub canary: Option<&'a [u8]>,
}

impl<'a> Incoming<'a> {
    /// A request, its headers looked up with `header` (case-insensitive
    /// names).
    pub fn from_headers(
        method: &'a str,
        target: &'a str,
        body: &'a [u8],
        header: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Incoming<'a> {
        Incoming {
            method,
            target,
            body,
            traceparent: header("traceparent"),
            tracestate: header("tracestate"),
            load_test: header(tagging::HEADER),
            canary: header(crate::canary::router::HEADER),
        }
    }

    /// The labels of this request's span: a child of a valid incoming
    /// `traceparent` (an invalid one is ignored: a new trace starts), plus
    /// the route and the load-test tag.
    pub fn span_labels(&self, route: &'static str) -> Vec<(&'static str, String)> {
        let parent = self
            .traceparent
            .and_then(|v| TraceParent::parse_bytes(v).ok());
        let tp = parent.unwrap_or_else(TraceParent::new_root);
        let mut labels: Vec<(&'static str, String)> = tp
            .span_labels(traceparent::random_span_id())
            .into_iter()
            .filter(|(k, _)| parent.is_some() || *k != traceparent::PARENT_ID)
            .collect();
        labels.push(("route", route.to_string()));
        if let Some(tag) = tagging::tag_of(self.load_test, self.tracestate) {
            labels.push((tagging::LABEL, tag));
        }
        labels
    }
}
