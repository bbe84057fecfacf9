//! What a route answers: a status, a content type, a body, and perhaps a
//! time before which the engine must not send it.
//!
//! A [`Reply`] is plain data, written all at once (Go's
//! `http.ResponseWriter` without the streaming): every engine turns it
//! into bytes on its own connection, the fast engine with
//! [`reason`]'s phrases, hyper with its own. `not_before` is how a route
//! waits without a timer of its own (see the parent module).

use std::time::Instant;

/// A response body: a constant or bytes made for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A body known at compile time.
    Static(&'static [u8]),
    /// A body made for this request.
    Owned(Vec<u8>),
}

impl Body {
    /// The body's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Static(b) => b,
            Body::Owned(v) => v,
        }
    }
}

/// What a route answers (Go's `http.ResponseWriter`, written all at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: Body,
    /// Hold the response until this instant (a sleep or a stall).
    pub not_before: Option<Instant>,
}

impl Reply {
    /// A plain-text reply with a constant body.
    ///
    /// ```
    /// let r = service::Reply::text(404, "not found\n");
    /// assert_eq!((r.status, r.body.as_bytes()), (404, &b"not found\n"[..]));
    /// ```
    pub fn text(status: u16, body: &'static str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Body::Static(body.as_bytes()),
            not_before: None,
        }
    }

    /// A plain-text reply with a body made for it (a message with a value
    /// in it, a profile's text form).
    ///
    /// ```
    /// let r = service::Reply::text_owned(400, format!("bad value {}\n", 7));
    /// assert_eq!((r.status, r.body.as_bytes()), (400, &b"bad value 7\n"[..]));
    /// ```
    pub fn text_owned(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Body::Owned(body.into_bytes()),
            not_before: None,
        }
    }

    pub(super) fn owned(status: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type,
            body: Body::Owned(body),
            not_before: None,
        }
    }
}

/// The reason phrase of the status codes the engines send.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}
