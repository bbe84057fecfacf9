//! # Exercise ex15: a router of our own, instead of `matchit`
//!
//! The syllabus asks to replace a third-party router with one written on
//! the standard library alone, and to show it is not much slower. A router
//! maps a request path to a handler and pulls the parameters out of it:
//! `/users/{id}` matches `/users/42` with `id = "42"`.
//!
//! Patterns (the subset of `matchit` 0.8's syntax this exercise uses):
//!
//! * a pattern starts with `/` and is split into segments at `/`;
//! * `{name}` is a parameter: it matches one whole, non-empty segment;
//! * `{*name}` is a catch-all: it must be the last segment and matches the
//!   non-empty rest of the path, slashes included;
//! * anything else is a static segment, matched exactly (an empty segment
//!   too, so `/users` and `/users/` are different routes); a `{` or `}`
//!   anywhere else is an invalid pattern.
//!
//! Matching prefers, at each segment, a static segment over a parameter
//! over a catch-all, and backtracks: with `/a/b/d` and `/a/{x}/c`, the path
//! `/a/b/c` goes down `b` first, finds no `c` there, and comes back to
//! match `{x}`.
//!
//! Inserting fails with [`InsertError::Conflict`] when the same route is
//! already there (parameter names aside) or a parameter at the same place
//! has another name, with [`InsertError::CatchAllNotLast`] for a catch-all
//! followed by more segments, and [`InsertError::InvalidPattern`] for the
//! rest (including more than [`MAX_PARAMS`] parameters).
//!
//! A tree of segments does it: each node has its static children, at most
//! one parameter child, at most one catch-all, and the value of a route
//! that ends there. The graded tests compare your router with `matchit` on
//! the same routes; the bench (`cargo bench -p exercises --features
//! solutions --bench ex15_router`, or without the feature once yours
//! works) compares their speed, and the target is at most 15% slower.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex15_router::Router;
//!
//! let mut r = Router::new();
//! r.insert("/users/{id}", "user").unwrap();
//! r.insert("/files/{*path}", "file").unwrap();
//! let m = r.at("/users/42").unwrap();
//! assert_eq!((*m.value, m.params.get("id")), ("user", Some("42")));
//! assert_eq!(r.at("/files/a/b.txt").unwrap().params.get("path"), Some("a/b.txt"));
//! assert!(r.at("/users").is_none());
//! ```

use std::fmt;

/// Why a route could not be inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertError {
    /// Not starting with `/`, an empty or unbalanced `{}`, braces inside a
    /// segment.
    InvalidPattern(String),
    /// A catch-all followed by more segments.
    CatchAllNotLast(String),
    /// The route is already there, or a parameter at the same place has
    /// another name.
    Conflict(String),
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::InvalidPattern(p) => write!(f, "invalid route pattern `{p}`"),
            InsertError::CatchAllNotLast(p) => {
                write!(f, "the catch-all in `{p}` is not its last segment")
            }
            InsertError::Conflict(p) => write!(f, "`{p}` conflicts with a route already inserted"),
        }
    }
}

impl std::error::Error for InsertError {}

/// The most parameters (catch-all included) a route may have.
pub const MAX_PARAMS: usize = 4;

/// The parameters of a match: names borrowed from the router, values from
/// the path, kept in a fixed array (no allocation per match, as matchit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params<'r, 'p> {
    len: usize,
    list: [(&'r str, &'p str); MAX_PARAMS],
}

impl Default for Params<'_, '_> {
    fn default() -> Self {
        Params {
            len: 0,
            list: [("", ""); MAX_PARAMS],
        }
    }
}

impl<'r, 'p> Params<'r, 'p> {
    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.list[..self.len]
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
    /// How many parameters matched.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether none did.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// (name, value) pairs in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&'r str, &'p str)> + '_ {
        self.list[..self.len].iter().copied()
    }
    /// Adds a parameter (at most [`MAX_PARAMS`]: `insert` refuses more).
    #[allow(dead_code)] // for the matcher you write
    fn push(&mut self, name: &'r str, value: &'p str) {
        self.list[self.len] = (name, value);
        self.len += 1;
    }
    /// Removes the last parameter (when a match attempt backtracks).
    #[allow(dead_code)] // for the matcher you write
    fn pop(&mut self) {
        self.len -= 1;
    }
}

/// A matched route: its value and the parameters.
#[derive(Debug)]
pub struct Match<'r, 'p, T> {
    /// The value inserted with the route.
    pub value: &'r T,
    /// The parameters, in path order.
    pub params: Params<'r, 'p>,
}

// --- your code: node (the tree's representation is yours to choose) ---
/// One node of the segment tree.
#[allow(dead_code)] // the fields are for the methods you write
#[derive(Debug, Clone)]
struct Node<T> {
    statics: Vec<(String, Node<T>)>,
    param: Option<(String, Box<Node<T>>)>,
    catch_all: Option<(String, T)>,
    value: Option<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            statics: Vec::new(),
            param: None,
            catch_all: None,
            value: None,
        }
    }
}
// --- end of your code ---

/// A path router (matchit's `Router`, std only).
// --- your code: default ---
#[allow(dead_code)] // the tree is for the methods you write
// --- end of your code ---
#[derive(Debug, Clone)]
pub struct Router<T> {
    root: Node<T>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router::new()
    }
    // --- your code: default (2) ---
    // --- end of your code ---
}

impl<T> Router<T> {
    /// An empty router.
    pub fn new() -> Router<T> {
        Router {
            root: Node::default(),
        }
    }

    /// Adds a route.
    pub fn insert(&mut self, pattern: &str, value: T) -> Result<(), InsertError> {
        // --- your code: insert ---
        let _ = (pattern, value);
        todo!("insert: split the pattern into segments, walk (and grow) the tree, store the value")
        // --- end of your code ---
    }

    /// The route matching `path`, with its parameters.
    pub fn at<'r, 'p>(&'r self, path: &'p str) -> Option<Match<'r, 'p, T>> {
        // --- your code: at ---
        let _ = path;
        todo!(
            "at: walk the tree segment by segment: static, then parameter, then catch-all, backtracking"
        )
        // --- end of your code ---
    }
}

// --- your code: helpers ---
// --- end of your code ---
