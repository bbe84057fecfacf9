//! Labels: key/value pairs that follow a G into every G it spawns (Go's
//! `pprof.Do`, `pprof.WithLabels`, `runtime/pprof.SetGoroutineLabels`).
//!
//! A profiler that samples the CPU sees a stack; labels say on whose behalf
//! the stack ran: the route, the tenant, whether the request was load-test
//! traffic. Go keeps a pointer to the current label set in the running `g`
//! (`g.labels`), copies it into every goroutine `newproc` creates, and the
//! SIGPROF handler reads it from the interrupted goroutine. Here:
//!
//! * A label set is immutable and shared: an `Arc` of pairs sorted by key.
//!   Inheriting one costs a reference count increment; adding labels makes
//!   a new set (the parent's pairs, with the new keys replacing old ones).
//! * Each G's header holds the set it was spawned with (`Header::labels`).
//! * Each thread has one slot, [`CURRENT`], pointing at the set of whatever
//!   is being polled right now. `execute` points it at the G's set for the
//!   poll; [`with_labels`] points it at its own, larger set while it polls
//!   its inner future and puts the old pointer back afterwards; `spawn`
//!   copies what it points at into the new G.
//! * The slot is a `const`-initialised thread-local holding an `AtomicPtr`:
//!   no lazy initialisation, no destructor to register, one load to read.
//!   The sets it points at outlive every poll that installs them, and the
//!   slot is put back before a set can be dropped, so a signal handler that
//!   interrupts this very thread reads a live set without a lock or an
//!   allocation ([`with_current_labels`]).
//!
//! ```
//! let rt = runtime::Runtime::builder().procs(2).build().unwrap();
//! let seen = rt.block_on(runtime::with_labels(&[("route", "/work")], async {
//!     // A G spawned here inherits the labels.
//!     let h = runtime::spawn(async { runtime::current_labels().to_string() });
//!     h.await.unwrap()
//! }));
//! assert_eq!(seen, "route=/work");
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering, compiler_fence};
use std::task::{Context, Poll};

/// An immutable set of labels, sorted by key, each key once.
pub(crate) type LabelSet = [(Box<str>, Box<str>)];

thread_local! {
    /// The label set of what this thread is polling now (null: none). It
    /// points into an `Arc<LabelSet>` kept alive by whoever installed it.
    static CURRENT: AtomicPtr<Arc<LabelSet>> = const { AtomicPtr::new(ptr::null_mut()) };
}

/// The labels of the G (or root future) being polled on this thread: Go's
/// `pprof.Label(ctx, key)` and `runtime/pprof`'s view of `g.labels`.
///
/// Iterating gives `(key, value)` pairs in key order; `Display` writes
/// `key=value` pairs joined by commas.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// rt.block_on(runtime::with_labels(&[("tenant", "a"), ("route", "/")], async {
///     let labels = runtime::current_labels();
///     assert_eq!(labels.get("tenant"), Some("a"));
///     let pairs: Vec<(&str, &str)> = labels.iter().collect();
///     assert_eq!(pairs, [("route", "/"), ("tenant", "a")]);
/// }));
/// assert!(runtime::current_labels().is_empty(), "none outside");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Labels(Option<Arc<LabelSet>>);

impl Labels {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The pairs, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|(k, v)| (&**k, &**v))
    }

    /// How many labels there are.
    pub fn len(&self) -> usize {
        self.0.as_deref().map_or(0, <[_]>::len)
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The labels of what this thread is polling now (see [`Labels`]). Empty
/// outside a runtime or in a G that has none.
pub fn current_labels() -> Labels {
    Labels(inherit())
}

/// Runs `f` with the labels of what this thread is polling now, without a
/// lock, an allocation or a reference count: the form a signal handler on
/// this thread may call (the CPU profiler's SIGPROF handler records the
/// interrupted G's labels this way). `f` must not keep the pairs.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// rt.block_on(runtime::with_labels(&[("route", "/work")], async {
///     let n = runtime::with_current_labels(|pairs| pairs.len());
///     assert_eq!(n, 1);
/// }));
/// ```
pub fn with_current_labels<R>(f: impl FnOnce(&[(Box<str>, Box<str>)]) -> R) -> R {
    with_current_set(|set| match set {
        Some(set) => f(set),
        None => f(&[]),
    })
}

/// A clone of the current set, for a G about to be spawned (Go's
/// `newproc` copying `g.labels`).
pub(crate) fn inherit() -> Option<Arc<LabelSet>> {
    with_current_set(|set| set.cloned())
}

/// Runs `f` with the set this thread's slot points at, if any.
fn with_current_set<R>(f: impl FnOnce(Option<&Arc<LabelSet>>) -> R) -> R {
    // `try_with`: a handler may interrupt a thread that is exiting.
    let p = CURRENT
        .try_with(|c| c.load(Ordering::Relaxed))
        .unwrap_or(ptr::null_mut());
    // SAFETY: a non-null pointer was installed by `Installed::new` on this
    // thread from an `Arc` that outlives the installation, and is put back
    // (with a compiler fence) before that `Arc` can be dropped; code on this
    // thread, a signal handler that interrupts it included, therefore sees
    // a live set or the previous one, alive for the whole of `f`.
    f(unsafe { p.as_ref() })
}

/// Points this thread's slot at `set` until dropped, then back at what it
/// pointed at before.
pub(crate) struct Installed {
    prev: *mut Arc<LabelSet>,
}

impl Installed {
    /// `set` must outlive the returned guard (the caller keeps it alive).
    pub(crate) fn new(set: Option<&Arc<LabelSet>>) -> Self {
        let p = set.map_or(ptr::null_mut(), |s| s as *const Arc<LabelSet> as *mut _);
        let prev = CURRENT
            .try_with(|c| c.swap(p, Ordering::Relaxed))
            .unwrap_or(ptr::null_mut());
        compiler_fence(Ordering::SeqCst);
        Installed { prev }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        // The fence keeps the compiler from moving the set's drop (by the
        // caller, after this) above the store, where a signal handler could
        // see a pointer to a freed set.
        let _ = CURRENT.try_with(|c| c.store(self.prev, Ordering::Relaxed));
        compiler_fence(Ordering::SeqCst);
    }
}

/// Polls `future` with `labels` added to the current G's labels, and makes
/// every G spawned inside inherit them (Go's `pprof.Do(ctx, labels, f)`).
/// A key already set is replaced for the duration.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// let inner = rt.block_on(runtime::with_labels(&[("a", "1")], async {
///     runtime::with_labels(&[("a", "2"), ("b", "3")], async {
///         runtime::current_labels().to_string()
///     })
///     .await
/// }));
/// assert_eq!(inner, "a=2,b=3");
/// ```
pub fn with_labels<F: Future>(labels: &[(&str, &str)], future: F) -> WithLabels<F> {
    WithLabels {
        future,
        add: labels
            .iter()
            .map(|(k, v)| (Box::from(*k), Box::from(*v)))
            .collect(),
        set: None,
    }
}

/// The future returned by [`with_labels`].
#[must_use = "futures do nothing unless awaited"]
pub struct WithLabels<F> {
    future: F,
    /// The labels to add, until the first poll merges them.
    add: Vec<(Box<str>, Box<str>)>,
    /// The merged set, made on the first poll from the labels current then.
    set: Option<Arc<LabelSet>>,
}

impl<F: Future> Future for WithLabels<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning: `future` is never moved out of the
        // pinned WithLabels; the other fields are plain data, never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if this.set.is_none() {
            this.set = Some(merge(inherit().as_deref(), std::mem::take(&mut this.add)));
        }
        let _installed = Installed::new(this.set.as_ref());
        // SAFETY: `this` came from a pinned WithLabels, and `future` is never
        // moved out of it, so it stays where it is until dropped.
        unsafe { Pin::new_unchecked(&mut this.future) }.poll(cx)
    }
}

impl<F> fmt::Debug for WithLabels<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithLabels")
            .field("labels", &Labels(self.set.clone()))
            .finish_non_exhaustive()
    }
}

/// `base` plus `add`, sorted by key; a key in `add` replaces the same key
/// in `base`, and the last of a repeated key in `add` wins.
fn merge(base: Option<&LabelSet>, add: Vec<(Box<str>, Box<str>)>) -> Arc<LabelSet> {
    let mut pairs: Vec<(Box<str>, Box<str>)> = base.unwrap_or(&[]).to_vec();
    for (k, v) in add {
        match pairs.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => pairs.push((k, v)),
        }
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs.into()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> Arc<LabelSet> {
        merge(
            None,
            pairs
                .iter()
                .map(|(k, v)| (Box::from(*k), Box::from(*v)))
                .collect(),
        )
    }

    #[test]
    fn merge_sorts_and_later_keys_replace_earlier_ones() {
        let base = set(&[("route", "/a"), ("tag", "shadow")]);
        let merged = merge(
            Some(&base),
            vec![("route".into(), "/b".into()), ("id".into(), "7".into())],
        );
        let labels = Labels(Some(merged));
        assert_eq!(labels.to_string(), "id=7,route=/b,tag=shadow");
        assert_eq!(labels.len(), 3);
    }

    #[test]
    fn installed_restores_the_previous_set() {
        let outer = set(&[("a", "1")]);
        let inner = set(&[("b", "2")]);
        assert!(current_labels().is_empty());
        {
            let _o = Installed::new(Some(&outer));
            assert_eq!(current_labels().get("a"), Some("1"));
            {
                let _i = Installed::new(Some(&inner));
                assert_eq!(current_labels().to_string(), "b=2");
                assert_eq!(with_current_labels(|p| p.len()), 1);
            }
            assert_eq!(current_labels().to_string(), "a=1");
        }
        assert!(current_labels().is_empty());
        assert_eq!(with_current_labels(|p| p.len()), 0);
    }
}
