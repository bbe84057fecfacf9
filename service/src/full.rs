//! The full engine: hyper 1.x (the course's `net/http`), on any runtime.
//!
//! hyper does the HTTP/1.1 work (parsing, keep-alive, pipelining, chunked
//! bodies, 431 for oversize heads) and calls a service function per request.
//! Ours collects the body up to a limit (413 past it, as Go's
//! `http.MaxBytesReader`), asks the shared [`Routes`], waits
//! on the runtime's timer if the reply says so, and answers. The function is
//! generic over hyper's `Timer`, so the same code runs on our runtime
//! ([`crate::adapter`]) and on tokio ([`crate::peer`]).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::rt::Timer;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};

use crate::fast::Limits;
use crate::routes::{Body, Reply, Routes};

/// Serves one connection with hyper until the client closes it.
pub async fn serve_connection<I, T>(
    io: I,
    routes: Arc<Routes>,
    timer: T,
    limits: Limits,
) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    T: Timer + Clone + Send + Sync + 'static,
{
    let t = timer.clone();
    let svc = service_fn(move |req| respond(req, routes.clone(), t.clone(), limits.max_body));
    // Not `pipeline_flush(true)`: with it, hyper 1.x drops the 400/431 it
    // queued for a malformed head and just closes (seen in this crate's
    // tests, on tokio as on ours).
    http1::Builder::new()
        .timer(timer)
        .keep_alive(true)
        .max_buf_size(limits.max_head.max(8192))
        .serve_connection(io, svc)
        .await
}

async fn respond<T: Timer>(
    req: Request<Incoming>,
    routes: Arc<Routes>,
    timer: T,
    max_body: usize,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    // A Content-Length over the limit is refused before reading a byte (as
    // the fast engine does); a chunked body is cut off once it passes it.
    if hyper::body::Body::size_hint(&body).lower() > max_body as u64 {
        return Ok(to_hyper(Reply::text(413, "request body too large\n"), true));
    }
    let body = match Limited::new(body, max_body).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(to_hyper(Reply::text(413, "request body too large\n"), true));
        }
        Err(_) => return Ok(to_hyper(Reply::text(400, "bad request body\n"), true)),
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let header = |name: &str| parts.headers.get(name).map(|v| v.as_bytes());
    let req = crate::Incoming::from_headers(parts.method.as_str(), target, &body, header);
    let reply = routes.handle_async(&req).await;
    if let Some(t) = reply.not_before {
        timer.sleep_until(t).await;
    }
    Ok(to_hyper(reply, false))
}

fn to_hyper(reply: Reply, close: bool) -> Response<Full<Bytes>> {
    let body = match reply.body {
        Body::Static(b) => Bytes::from_static(b),
        Body::Owned(v) => Bytes::from(v),
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(reply.content_type),
    );
    if close {
        r.headers_mut().insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
    }
    r
}
