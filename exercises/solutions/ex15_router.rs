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
///
/// The static children's names are kept apart from the children
/// themselves: matching scans the names, and a node is large, so names
/// side by side are a few cache lines where `(name, node)` pairs would be
/// one line per child.
#[derive(Debug, Clone)]
struct Node<T> {
    static_names: Vec<Box<str>>,
    static_nodes: Vec<Node<T>>,
    param: Option<(String, Box<Node<T>>)>,
    catch_all: Option<(String, T)>,
    value: Option<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            static_names: Vec::new(),
            static_nodes: Vec::new(),
            param: None,
            catch_all: None,
            value: None,
        }
    }
}
// --- end of your code ---

/// A path router (matchit's `Router`, std only).
// --- your code: default ---
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
}

/// One segment of a pattern.
enum Seg<'a> {
    Static(&'a str),
    Param(&'a str),
    CatchAll(&'a str),
}

fn parse(pattern: &str) -> Result<Vec<Seg<'_>>, InsertError> {
    let invalid = || InsertError::InvalidPattern(pattern.to_string());
    let rest = pattern.strip_prefix('/').ok_or_else(invalid)?;
    let raw: Vec<&str> = rest.split('/').collect();
    let mut segs = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let seg = match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(inner) if inner.contains(['{', '}']) => return Err(invalid()),
            Some(inner) => match inner.strip_prefix('*') {
                Some("") => return Err(invalid()),
                Some(name) if i + 1 == raw.len() => Seg::CatchAll(name),
                Some(_) => return Err(InsertError::CatchAllNotLast(pattern.to_string())),
                None if inner.is_empty() => return Err(invalid()),
                None => Seg::Param(inner),
            },
            None if s.contains(['{', '}']) => return Err(invalid()),
            None => Seg::Static(s),
        };
        segs.push(seg);
    }
    if segs.iter().filter(|s| !matches!(s, Seg::Static(_))).count() > MAX_PARAMS {
        return Err(invalid());
    }
    Ok(segs)
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
        let conflict = || InsertError::Conflict(pattern.to_string());
        let mut node = &mut self.root;
        for seg in parse(pattern)? {
            node = match seg {
                Seg::Static(s) => {
                    let i = match node.static_names.iter().position(|n| &**n == s) {
                        Some(i) => i,
                        None => {
                            node.static_names.push(s.into());
                            node.static_nodes.push(Node::default());
                            node.static_nodes.len() - 1
                        }
                    };
                    &mut node.static_nodes[i]
                }
                Seg::Param(name) => {
                    match &node.param {
                        Some((n, _)) if n != name => return Err(conflict()),
                        Some(_) => {}
                        None => node.param = Some((name.to_string(), Box::default())),
                    }
                    &mut node.param.as_mut().expect("set above").1
                }
                Seg::CatchAll(name) => {
                    if node.catch_all.is_some() {
                        return Err(conflict());
                    }
                    node.catch_all = Some((name.to_string(), value));
                    return Ok(());
                }
            };
        }
        if node.value.is_some() {
            return Err(conflict());
        }
        node.value = Some(value);
        Ok(())
        // --- end of your code ---
    }

    /// The route matching `path`, with its parameters.
    pub fn at<'r, 'p>(&'r self, path: &'p str) -> Option<Match<'r, 'p, T>> {
        // --- your code: at ---
        let rest = path.strip_prefix('/')?;
        let mut params = Params::default();
        let value = walk(&self.root, rest, &mut params)?;
        Some(Match { value, params })
        // --- end of your code ---
    }
}

// --- your code: helpers ---
/// Matches `rest` (the path after a `/`) below `node`, trying static, then
/// parameter, then catch-all, and undoing parameters on the way back.
fn walk<'r, 'p, T>(node: &'r Node<T>, rest: &'p str, params: &mut Params<'r, 'p>) -> Option<&'r T> {
    // A byte loop: segments are short, and memchr's setup costs more.
    let (seg, tail) = match rest.bytes().position(|b| b == b'/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let descend = |child: &'r Node<T>, params: &mut Params<'r, 'p>| match tail {
        None => child.value.as_ref(),
        Some(t) => walk(child, t, params),
    };
    // Compare lengths and first bytes before whole segments: most static
    // children differ there, and a memcmp call per child is what makes a
    // naive tree slow.
    let first = seg.as_bytes().first().copied();
    let child = node.static_names.iter().position(|n| {
        n.len() == seg.len() && n.as_bytes().first().copied() == first && **n == *seg
    });
    if let Some(i) = child
        && let Some(v) = descend(&node.static_nodes[i], params)
    {
        return Some(v);
    }
    if !seg.is_empty()
        && let Some((name, child)) = &node.param
    {
        params.push(name, seg);
        if let Some(v) = descend(child, params) {
            return Some(v);
        }
        params.pop();
    }
    if let Some((name, v)) = &node.catch_all
        && !rest.is_empty()
    {
        params.push(name, rest);
        return Some(v);
    }
    None
}
// --- end of your code ---
