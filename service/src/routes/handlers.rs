//! The handlers that do more than compute a reply from the request: the
//! two-tier call to the backend (`/front`), the store (`/store`), the
//! trace labels (`/trace`), and the CPU and memory work of `/work` and
//! `/alloc`.
//!
//! `/front` is the only handler that waits: it spawns a G for the backend
//! call (so the trace context crosses a spawn as well as a hop), asks the
//! circuit breaker first, and reports the call's outcome to it. `/store`
//! picks the real or the shadow store from the running G's labels (the
//! load-test tag), in [`crate::store::Stores`], so no route can forget to.

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::{Reply, Routes, query};
use crate::breaker::Breaker;
use crate::{reqtrace, tagging, tier, traceparent};

impl Routes {
    /// `/front?path=P`: the backend's `P`, called from a G this request
    /// spawns (so the trace crosses a spawn and a hop).
    pub(super) async fn front(&self, method: &str, query: &str, body: &[u8]) -> Reply {
        let Some(addr) = self.backend else {
            return Reply::text(503, "no backend configured (start with --backend ADDR)\n");
        };
        let Some(target) = query.strip_prefix("path=").filter(|p| p.starts_with('/')) else {
            return Reply::text(400, "/front needs ?path=/backend/target\n");
        };
        let (method, target, body, opts) = (
            method.to_string(),
            target.to_string(),
            body.to_vec(),
            self.call,
        );
        let frontend = span_json();
        let permit = match self.breaker.as_ref().map(Breaker::try_acquire) {
            Some(Err(rejected)) => {
                return Reply::owned(
                    503,
                    "text/plain; charset=utf-8",
                    format!("{rejected}\n").into_bytes(),
                );
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        let call = runtime::spawn(async move {
            reqtrace::note();
            tier::call(addr, &method, &target, &body, opts).await
        });
        let result = call.await;
        if let (Some(b), Some(p)) = (&self.breaker, permit) {
            b.record(p, matches!(&result, Ok(Ok(r)) if r.status < 500));
        }
        match result {
            Ok(Ok(r)) => {
                let body = serde_json::json!({
                    "frontend": frontend,
                    "status": r.status,
                    "backend": String::from_utf8_lossy(&r.body),
                });
                Reply::owned(r.status, "application/json", body.to_string().into_bytes())
            }
            Ok(Err(e)) => Reply::owned(
                502,
                "text/plain; charset=utf-8",
                format!("backend call failed: {e}\n").into_bytes(),
            ),
            Err(_) => Reply::text(500, "the backend call's G failed\n"),
        }
    }

    /// `/store?key=K`: the running G's store (the shadow for tagged traffic).
    pub(super) fn store(&self, method: &str, query: &str, body: &[u8]) -> Reply {
        let Some(stores) = &self.stores else {
            return Reply::text(503, "no store configured (start with --store DIR)\n");
        };
        let Some(key) = query::key(query) else {
            return Reply::text(400, "/store needs ?key=K (1 to 256 bytes)\n");
        };
        match method {
            "PUT" | "POST" => match stores.put(key, body) {
                Ok(()) => Reply::text(200, "stored\n"),
                Err(e) => Reply::owned(
                    500,
                    "text/plain; charset=utf-8",
                    format!("store failed: {e}\n").into_bytes(),
                ),
            },
            "GET" => match stores.get(key) {
                Ok(Some(v)) => Reply::owned(200, "application/octet-stream", v),
                Ok(None) => Reply::text(404, "no such key\n"),
                Err(e) => Reply::owned(
                    500,
                    "text/plain; charset=utf-8",
                    format!("store failed: {e}\n").into_bytes(),
                ),
            },
            _ => Reply::text(405, "GET, PUT or POST /store\n"),
        }
    }
}

/// The trace and tag labels of the running G, as a JSON object.
pub(super) fn span_json() -> serde_json::Value {
    let labels = runtime::current_labels();
    let get = |k: &str| labels.get(k).map(str::to_string);
    serde_json::json!({
        "trace_id": get(traceparent::TRACE_ID),
        "span_id": get(traceparent::SPAN_ID),
        "parent_id": get(traceparent::PARENT_ID),
        "load_test": get(tagging::LABEL),
        "route": get("route"),
    })
}

pub(super) fn trace_reply(spawned: Option<serde_json::Value>) -> Reply {
    let mut v = span_json();
    v["spawned"] = spawned.unwrap_or(serde_json::Value::Null);
    Reply::owned(200, "application/json", v.to_string().into_bytes())
}

/// Burns CPU for `d` (what a handler doing real work looks like to the
/// scheduler: no await, no syscall).
pub(crate) fn spin(d: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        for _ in 0..64 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

/// Allocates `bytes`, writes one byte per 4 KiB page so the memory is real,
/// frees it, and returns how many pages were touched.
pub(super) fn alloc_and_free(bytes: usize) -> usize {
    let mut v = vec![0u8; bytes];
    let mut pages = 0;
    for i in (0..v.len()).step_by(4096) {
        v[i] = 1;
        pages += 1;
    }
    black_box(&v);
    pages
}
