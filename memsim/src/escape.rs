//! A small escape analysis over a toy language, reproducing the verdicts Go's
//! compiler prints with `go build -gcflags=-m`.
//!
//! Design. Go allocates a variable on the stack unless it can prove nothing
//! refers to it after the function returns; otherwise the variable "moves to
//! the heap". The compiler's analysis (`cmd/compile/internal/escape`) builds a
//! graph of locations and assignments and asks, for every location whose
//! address is taken, whether that address can reach something that outlives
//! the frame. This module does the same on a toy language with just enough
//! statements for the classic cases:
//!
//! 1. a flow pass computes, for every variable and allocation site, the set
//!    of locations whose **address** it may hold (`p := &x` puts `x` in
//!    `p`'s set; `q := p` copies the set; `*p` reads the sets of what `p`
//!    points to);
//! 2. sinks mark locations as escaping: a `return`, a store to a global, a
//!    variable captured by reference in a `go` closure, a value passed as an
//!    interface to a function whose parameter leaks (like `fmt.Println`);
//! 3. escape is transitive: whatever an escaping location holds the address
//!    of escapes too (the heap may not point into a stack frame);
//! 4. size limits apply regardless: an explicit variable over 10 MiB
//!    (`ir.MaxStackVarSize`) and an implicit allocation (`new`, `make`) over
//!    64 KiB (`ir.MaxImplicitStackVarSize`) or of a size not known at compile
//!    time always go to the heap.
//!
//! Messages follow Go's wording: `moved to heap: x` for a variable,
//! `make([]byte, n) escapes to heap` / `... does not escape` for an allocation
//! site, `x escapes to heap` for a value boxed into an interface, `func
//! literal escapes to heap` for a `go` closure. One difference: for a local
//! whose address is taken but stays in the frame, Go prints nothing; this
//! analysis says `x does not escape`, so that the stack case is visible too.
//!
//! ```
//! use memsim::escape::{analyze, Expr, Func, Stmt};
//! // func newInt() *int { x := 42; return &x }
//! let f = Func::new("newInt", vec![
//!     Stmt::let_("x", 8, Expr::Int(42)),
//!     Stmt::Return(Expr::AddrOf("x")),
//! ]);
//! assert_eq!(analyze(&f).messages(), vec!["moved to heap: x"]);
//! ```

use std::collections::{BTreeMap, BTreeSet};

/// Go's limit for an explicitly declared variable on the stack (`ir.MaxStackVarSize`).
pub const MAX_STACK_VAR: usize = 10 * 1024 * 1024;
/// Go's limit for an implicit allocation (`new`, `&T{}`, `make`) on the stack
/// (`ir.MaxImplicitStackVarSize`).
pub const MAX_IMPLICIT_STACK_VAR: usize = 64 * 1024;

/// The length of a `make`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Len {
    /// Known at compile time.
    Const(usize),
    /// A variable: the size is unknown until run time.
    Var(&'static str),
}

/// An expression of the toy language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// An integer constant (holds no address).
    Int(i64),
    /// The value of a variable.
    Var(&'static str),
    /// `&x`.
    AddrOf(&'static str),
    /// `*p`.
    Deref(&'static str),
    /// `new(T)` with `T`'s name and size.
    New {
        /// Type name, for the message.
        ty: &'static str,
        /// Size of `T` in bytes.
        size: usize,
    },
    /// `make([]T, len)`.
    MakeSlice {
        /// Element type name, for the message.
        elem: &'static str,
        /// Element size in bytes.
        elem_size: usize,
        /// Length.
        len: Len,
    },
    /// `any(x)`: boxing a variable's value into an interface.
    ToInterface(&'static str),
}

/// A statement of the toy language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    /// `name := init`, where `name`'s type is `size` bytes.
    Let {
        /// Variable name.
        name: &'static str,
        /// Size of its type in bytes.
        size: usize,
        /// Initial value.
        init: Expr,
    },
    /// `name = value`.
    Assign(&'static str, Expr),
    /// `*p = value`: a store through a pointer.
    StoreThrough(&'static str, Expr),
    /// `global = value`: a store to a package-level variable.
    StoreGlobal(Expr),
    /// `return value`.
    Return(Expr),
    /// `go func() { ... }()` capturing these variables by reference (Go
    /// captures by reference any variable the closure or its caller assigns
    /// after capture, and anything over 128 bytes).
    Go(Vec<&'static str>),
    /// `fmt.Println(value)`: a call whose parameter leaks to the heap.
    Println(Expr),
}

impl Stmt {
    /// `name := init` (shorthand for [`Stmt::Let`]).
    pub fn let_(name: &'static str, size: usize, init: Expr) -> Stmt {
        Stmt::Let { name, size, init }
    }
}

/// A function of the toy language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Func {
    /// Function name.
    pub name: &'static str,
    /// Its body, in order.
    pub body: Vec<Stmt>,
}

impl Func {
    /// A function with a body.
    pub fn new(name: &'static str, body: Vec<Stmt>) -> Self {
        Func { name, body }
    }
}

/// One verdict, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The variable or expression judged.
    pub subject: String,
    /// Whether it is allocated on the heap.
    pub heap: bool,
    /// Go's message for it.
    pub message: String,
    /// Why, in a few words (Go's `-m=2` gives the long form).
    pub reason: String,
}

/// The analysis of one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Verdicts in source order.
    pub verdicts: Vec<Verdict>,
}

impl Analysis {
    /// Just the messages, as `-gcflags=-m` would print them.
    pub fn messages(&self) -> Vec<String> {
        self.verdicts.iter().map(|v| v.message.clone()).collect()
    }
}

/// A location: a variable or an allocation site (by statement index).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Loc {
    Var(&'static str),
    Site(usize),
}

#[derive(Debug, Clone)]
struct Site {
    display: String,
    /// Forced to the heap by size, with the reason.
    forced: Option<&'static str>,
    /// An interface box: its message names the boxed variable.
    boxed: bool,
}

// ANCHOR: analyze
/// Runs the analysis on `func`.
pub fn analyze(func: &Func) -> Analysis {
    let mut holds: BTreeMap<Loc, BTreeSet<Loc>> = BTreeMap::new();
    let mut sites: BTreeMap<usize, Site> = BTreeMap::new();
    let mut escaping: BTreeMap<Loc, &'static str> = BTreeMap::new();
    let mut addressed: Vec<&'static str> = Vec::new();
    let mut closures: Vec<usize> = Vec::new();

    // Pass 1: allocation sites, size limits, and which variables have their
    // address taken (only those can move to the heap).
    for (i, stmt) in func.body.iter().enumerate() {
        if let Stmt::Let { name, size, .. } = stmt
            && *size > MAX_STACK_VAR
        {
            escaping.insert(Loc::Var(name), "too large for stack");
            addressed.push(name);
        }
        for expr in exprs(stmt) {
            match expr {
                Expr::AddrOf(x) => addressed.push(x),
                Expr::New { ty, size } => {
                    let forced = (*size > MAX_IMPLICIT_STACK_VAR).then_some("too large for stack");
                    sites.insert(
                        i,
                        Site {
                            display: format!("new({ty})"),
                            forced,
                            boxed: false,
                        },
                    );
                }
                Expr::MakeSlice {
                    elem,
                    elem_size,
                    len,
                } => {
                    let (shown, forced) = match len {
                        Len::Const(n) => (
                            n.to_string(),
                            (n * elem_size > MAX_IMPLICIT_STACK_VAR)
                                .then_some("too large for stack"),
                        ),
                        Len::Var(v) => (v.to_string(), Some("non-constant size")),
                    };
                    sites.insert(
                        i,
                        Site {
                            display: format!("make([]{elem}, {shown})"),
                            forced,
                            boxed: false,
                        },
                    );
                }
                Expr::ToInterface(x) => {
                    sites.insert(
                        i,
                        Site {
                            display: x.to_string(),
                            forced: None,
                            boxed: true,
                        },
                    );
                }
                _ => {}
            }
        }
        if let Stmt::Go(captured) = stmt {
            addressed.extend(captured.iter().copied());
            closures.push(i);
        }
    }
    for (i, site) in &sites {
        if let Some(reason) = site.forced {
            escaping.insert(Loc::Site(*i), reason);
        }
    }

    // Pass 2: what each location may hold the address of, to a fixed point.
    loop {
        let before = holds.clone();
        for (i, stmt) in func.body.iter().enumerate() {
            match stmt {
                Stmt::Let {
                    name, init: value, ..
                }
                | Stmt::Assign(name, value) => {
                    let flow = addresses(value, i, &holds);
                    holds.entry(Loc::Var(name)).or_default().extend(flow);
                    if let Expr::ToInterface(x) = value {
                        let inner = holds.get(&Loc::Var(x)).cloned().unwrap_or_default();
                        holds.entry(Loc::Site(i)).or_default().extend(inner);
                    }
                }
                Stmt::StoreThrough(p, value) => {
                    let flow = addresses(value, i, &holds);
                    for target in holds.get(&Loc::Var(p)).cloned().unwrap_or_default() {
                        holds
                            .entry(target)
                            .or_default()
                            .extend(flow.iter().cloned());
                    }
                }
                _ => {}
            }
        }
        if holds == before {
            break;
        }
    }

    // Pass 3: sinks.
    for (i, stmt) in func.body.iter().enumerate() {
        let (value, reason) = match stmt {
            Stmt::Return(v) => (v, "returned from the function"),
            Stmt::StoreGlobal(v) => (v, "stored in a global"),
            Stmt::Println(v) => (v, "passed to a function whose parameter leaks"),
            Stmt::Go(captured) => {
                for x in captured {
                    escaping
                        .entry(Loc::Var(x))
                        .or_insert("captured by a goroutine's closure");
                }
                continue;
            }
            _ => continue,
        };
        for loc in addresses(value, i, &holds) {
            escaping.entry(loc).or_insert(reason);
        }
        if let Expr::ToInterface(_) = value {
            escaping.entry(Loc::Site(i)).or_insert(reason);
        }
    }

    // Pass 4: the heap may not point into a frame.
    loop {
        let mut grew = false;
        for (loc, _) in escaping.clone() {
            for target in holds.get(&loc).cloned().unwrap_or_default() {
                if let std::collections::btree_map::Entry::Vacant(e) = escaping.entry(target) {
                    e.insert("pointed to by something on the heap");
                    grew = true;
                }
            }
        }
        if !grew {
            break;
        }
    }

    verdicts(func, &sites, &escaping, &addressed, &closures)
}
// ANCHOR_END: analyze

fn exprs(stmt: &Stmt) -> Vec<&Expr> {
    match stmt {
        Stmt::Let { init, .. } => vec![init],
        Stmt::Assign(_, e)
        | Stmt::StoreThrough(_, e)
        | Stmt::StoreGlobal(e)
        | Stmt::Return(e)
        | Stmt::Println(e) => vec![e],
        Stmt::Go(_) => vec![],
    }
}

/// The locations whose address `expr` (in statement `i`) may evaluate to.
fn addresses(expr: &Expr, i: usize, holds: &BTreeMap<Loc, BTreeSet<Loc>>) -> BTreeSet<Loc> {
    let of = |loc: &Loc| holds.get(loc).cloned().unwrap_or_default();
    match expr {
        Expr::Int(_) => BTreeSet::new(),
        Expr::Var(x) => of(&Loc::Var(x)),
        Expr::AddrOf(x) => BTreeSet::from([Loc::Var(x)]),
        Expr::Deref(p) => of(&Loc::Var(p)).iter().flat_map(of).collect(),
        Expr::New { .. } | Expr::MakeSlice { .. } | Expr::ToInterface(_) => {
            BTreeSet::from([Loc::Site(i)])
        }
    }
}

fn verdicts(
    func: &Func,
    sites: &BTreeMap<usize, Site>,
    escaping: &BTreeMap<Loc, &'static str>,
    addressed: &[&'static str],
    closures: &[usize],
) -> Analysis {
    let mut out = Vec::new();
    for (i, stmt) in func.body.iter().enumerate() {
        if let Stmt::Let { name, .. } = stmt
            && addressed.contains(name)
        {
            let reason = escaping.get(&Loc::Var(name));
            out.push(Verdict {
                subject: name.to_string(),
                heap: reason.is_some(),
                message: if reason.is_some() {
                    format!("moved to heap: {name}")
                } else {
                    format!("{name} does not escape")
                },
                reason: reason
                    .copied()
                    .unwrap_or("its address never leaves the frame")
                    .to_string(),
            });
        }
        if let Some(site) = sites.get(&i) {
            let reason = escaping.get(&Loc::Site(i));
            out.push(Verdict {
                subject: site.display.clone(),
                heap: reason.is_some(),
                message: if reason.is_some() {
                    format!("{} escapes to heap", site.display)
                } else {
                    format!("{} does not escape", site.display)
                },
                reason: reason
                    .copied()
                    .unwrap_or(if site.boxed {
                        "the interface never leaves the frame"
                    } else {
                        "never leaves the frame"
                    })
                    .to_string(),
            });
        }
        if closures.contains(&i) {
            out.push(Verdict {
                subject: "func literal".into(),
                heap: true,
                message: "func literal escapes to heap".into(),
                reason: "a goroutine's closure outlives the frame".into(),
            });
        }
    }
    Analysis { verdicts: out }
}

/// One of the canonical cases: Go source, the same function in the toy
/// language, and the messages `go build -gcflags=-m` prints for it.
#[derive(Debug, Clone)]
pub struct Case {
    /// What the case shows.
    pub title: &'static str,
    /// The Go function.
    pub go: &'static str,
    /// The function in the toy language.
    pub func: Func,
    /// Go's `-m` messages for it, in order (see the module comment for the
    /// one place where this analysis says more than Go).
    pub expected: Vec<&'static str>,
}

/// The canonical escape cases the lesson prints and the tests check.
pub fn canonical_cases() -> Vec<Case> {
    use Expr::*;
    vec![
        Case {
            title: "pointer returned",
            go: "func newInt() *int {\n    x := 42\n    return &x\n}",
            func: Func::new(
                "newInt",
                vec![Stmt::let_("x", 8, Int(42)), Stmt::Return(AddrOf("x"))],
            ),
            expected: vec!["moved to heap: x"],
        },
        Case {
            title: "stored in a global",
            go: "var global *int\n\nfunc keep() {\n    x := 7\n    global = &x\n}",
            func: Func::new(
                "keep",
                vec![Stmt::let_("x", 8, Int(7)), Stmt::StoreGlobal(AddrOf("x"))],
            ),
            expected: vec!["moved to heap: x"],
        },
        Case {
            title: "captured by a goroutine",
            go: "func spawn() {\n    x := 0\n    go func() { x++ }()\n}",
            func: Func::new(
                "spawn",
                vec![Stmt::let_("x", 8, Int(0)), Stmt::Go(vec!["x"])],
            ),
            expected: vec!["moved to heap: x", "func literal escapes to heap"],
        },
        Case {
            title: "too large for the stack",
            go: "func big() byte {\n    var buf [16 << 20]byte\n    return buf[0]\n}",
            func: Func::new(
                "big",
                vec![Stmt::let_("buf", 16 << 20, Int(0)), Stmt::Return(Int(0))],
            ),
            expected: vec!["moved to heap: buf"],
        },
        Case {
            title: "converted to an interface",
            go: "func show() {\n    x := 42\n    fmt.Println(x)\n}",
            func: Func::new(
                "show",
                vec![Stmt::let_("x", 8, Int(42)), Stmt::Println(ToInterface("x"))],
            ),
            expected: vec!["x escapes to heap"],
        },
        Case {
            title: "slice of non-constant size",
            go: "func buffer(n int) byte {\n    s := make([]byte, n)\n    return s[0]\n}",
            func: Func::new(
                "buffer",
                vec![
                    Stmt::let_(
                        "s",
                        24,
                        MakeSlice {
                            elem: "byte",
                            elem_size: 1,
                            len: Len::Var("n"),
                        },
                    ),
                    Stmt::Return(Int(0)),
                ],
            ),
            expected: vec!["make([]byte, n) escapes to heap"],
        },
        Case {
            title: "slice of small constant size",
            go: "func small() byte {\n    s := make([]byte, 64)\n    return s[0]\n}",
            func: Func::new(
                "small",
                vec![
                    Stmt::let_(
                        "s",
                        24,
                        MakeSlice {
                            elem: "byte",
                            elem_size: 1,
                            len: Len::Const(64),
                        },
                    ),
                    Stmt::Return(Int(0)),
                ],
            ),
            expected: vec!["make([]byte, 64) does not escape"],
        },
        Case {
            title: "address taken, but it stays in the frame",
            go: "func sum() int {\n    x := 1\n    p := &x\n    return *p\n}",
            func: Func::new(
                "sum",
                vec![
                    Stmt::let_("x", 8, Int(1)),
                    Stmt::let_("p", 8, AddrOf("x")),
                    Stmt::Return(Deref("p")),
                ],
            ),
            // Go prints nothing here; this analysis names the stack verdict.
            expected: vec!["x does not escape"],
        },
        Case {
            title: "escape is transitive",
            go: "var global **int\n\nfunc chain() {\n    x := 1\n    p := &x\n    global = &p\n}",
            func: Func::new(
                "chain",
                vec![
                    Stmt::let_("x", 8, Int(1)),
                    Stmt::let_("p", 8, AddrOf("x")),
                    Stmt::StoreGlobal(AddrOf("p")),
                ],
            ),
            expected: vec!["moved to heap: x", "moved to heap: p"],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_canonical_case_matches_gos_verdicts() {
        for case in canonical_cases() {
            let got = analyze(&case.func).messages();
            assert_eq!(got, case.expected, "case `{}`:\n{}", case.title, case.go);
        }
    }

    #[test]
    fn at_least_six_cases_go_to_the_heap_for_six_different_reasons() {
        let mut reasons = BTreeSet::new();
        for case in canonical_cases() {
            for v in analyze(&case.func).verdicts.into_iter().filter(|v| v.heap) {
                reasons.insert(v.reason);
            }
        }
        assert!(reasons.len() >= 6, "{reasons:?}");
    }

    #[test]
    fn store_through_a_pointer_into_an_escaping_object_escapes() {
        // p := new(*int); x := 1; *p = &x; global = p
        let f = Func::new(
            "through",
            vec![
                Stmt::let_(
                    "p",
                    8,
                    Expr::New {
                        ty: "*int",
                        size: 8,
                    },
                ),
                Stmt::let_("x", 8, Expr::Int(1)),
                Stmt::StoreThrough("p", Expr::AddrOf("x")),
                Stmt::StoreGlobal(Expr::Var("p")),
            ],
        );
        assert_eq!(
            analyze(&f).messages(),
            vec!["new(*int) escapes to heap", "moved to heap: x"]
        );
    }

    #[test]
    fn large_constant_make_escapes_and_interface_kept_local_does_not() {
        let f = Func::new(
            "f",
            vec![
                Stmt::let_(
                    "s",
                    24,
                    Expr::MakeSlice {
                        elem: "byte",
                        elem_size: 1,
                        len: Len::Const(1 << 20),
                    },
                ),
                Stmt::let_("x", 8, Expr::Int(3)),
                Stmt::let_("i", 16, Expr::ToInterface("x")),
            ],
        );
        assert_eq!(
            analyze(&f).messages(),
            vec!["make([]byte, 1048576) escapes to heap", "x does not escape"]
        );
    }
}
