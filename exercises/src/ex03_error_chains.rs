//! # Exercise ex03: error chains back to a panic
//!
//! Go reports failures as values. A function adds context as the error
//! travels up (`fmt.Errorf("load config: %w", err)`), several failures are
//! combined into one with `errors.Join`, and `errors.Is` / `errors.As` walk
//! the resulting tree to ask "was there a timeout in there?". A goroutine
//! that panics can be stopped with `recover()` in a deferred function, and
//! the panic turned into an error like any other.
//!
//! Rust has the same pieces under other names:
//!
//! | Go | Rust, in this exercise |
//! |---|---|
//! | `fmt.Errorf("...: %w", err)` | [`CodedError::wrap`], whose [`Error::source`] is the wrapped error |
//! | `errors.Join(errs...)` | [`join`] → [`Joined`] |
//! | `errors.As(err, &target)` | [`find_panic`]: walk the tree, `downcast_ref` each node |
//! | `recover()` in a deferred func | [`catch_panic`]: `std::panic::catch_unwind` |
//! | the stack printed by a panic | [`PanicError`]'s `file:line:column`, taken from a panic hook |
//!
//! A `source()` chain is a linked list; a [`Joined`] error is where it
//! branches. Its own `source()` is `None`: a walker must recognise it
//! (`err.downcast_ref::<Joined>()`) and visit each of [`Joined::errors`].
//! [`chain`] is that walk, depth-first and in order, like Go's `errors.Is`.
//!
//! `catch_unwind` hands back only the panic's payload (its message). The
//! location is known only to the *panic hook*, which runs before unwinding
//! starts; so [`catch_panic`] installs a hook once (chained to the previous
//! one, so that panics elsewhere still print) that records the location in
//! a thread-local while a `catch_panic` is active on that thread.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex03_error_chains::{Code, CodedError, Task, codes, find_panic, run_all};
//!
//! let failed = run_all(vec![
//!     Task::new("lookup", || Err(CodedError::new(Code::NotFound, "user 42"))),
//!     Task::new("render", || panic!("template missing")),
//! ])
//! .unwrap_err();
//! assert_eq!(codes(&failed), [Code::NotFound, Code::Internal]);
//! let origin = find_panic(&failed).unwrap();
//! println!("it started at {}:{}", origin.file, origin.line);
//! ```

use std::error::Error;
use std::fmt;
use std::panic::UnwindSafe;

/// A boxed error that can cross threads, as every error in a chain here is.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// What kind of failure an error reports, with an HTTP-like number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// The caller asked for something malformed (400).
    InvalidInput,
    /// What was asked for does not exist (404).
    NotFound,
    /// A bug: a panic or a broken invariant (500).
    Internal,
    /// A deadline passed (504).
    Timeout,
}

impl Code {
    /// The code's number (400, 404, 500, 504).
    pub fn number(self) -> u16 {
        match self {
            Code::InvalidInput => 400,
            Code::NotFound => 404,
            Code::Internal => 500,
            Code::Timeout => 504,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.number(), self)
    }
}

/// A panic turned into an error: its message and where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicError {
    /// The panic's message (`panic!("...")`'s text).
    pub message: String,
    /// The source file of the `panic!`, as the compiler names it.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// Its column.
    pub column: u32,
}

impl fmt::Display for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "panicked at {}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl Error for PanicError {}

/// An error with a [`Code`] and a line of context, wrapping its cause
/// (Go: `fmt.Errorf("context: %w", cause)` plus a code).
#[derive(Debug)]
pub struct CodedError {
    /// What kind of failure this is.
    pub code: Code,
    /// What was being done when it failed.
    pub context: String,
    /// The error this one wraps, if any.
    pub cause: Option<BoxError>,
}

impl CodedError {
    /// A new error with no cause.
    pub fn new(code: Code, context: impl Into<String>) -> Self {
        CodedError {
            code,
            context: context.into(),
            cause: None,
        }
    }

    /// A new error wrapping `cause`.
    pub fn wrap(code: Code, context: impl Into<String>, cause: impl Into<BoxError>) -> Self {
        CodedError {
            code,
            context: context.into(),
            cause: Some(cause.into()),
        }
    }
}

impl fmt::Display for CodedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.context, self.code)
    }
}

/// Several errors joined into one (Go's `errors.Join`). Its `source()` is
/// `None`: the chain branches here, see [`Joined::errors`].
#[derive(Debug)]
pub struct Joined {
    errors: Vec<BoxError>,
}

impl Joined {
    /// The joined errors, in the order they were given.
    pub fn errors(&self) -> impl Iterator<Item = &(dyn Error + 'static)> {
        self.errors
            .iter()
            .map(|e| e.as_ref() as &(dyn Error + 'static))
    }

    /// How many errors were joined.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Never true: [`join`] makes no empty `Joined`.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for Joined {
    /// One error per line, like Go's `errors.Join`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl Error for Joined {}

/// A named job for [`run_all`].
pub struct Task {
    /// Names the task in the error if it fails.
    pub name: String,
    /// The work; it may return an error or panic.
    pub job: Box<dyn FnOnce() -> Result<(), CodedError> + UnwindSafe>,
}

impl Task {
    /// A task named `name` running `job`.
    pub fn new(
        name: impl Into<String>,
        job: impl FnOnce() -> Result<(), CodedError> + UnwindSafe + 'static,
    ) -> Self {
        Task {
            name: name.into(),
            job: Box::new(job),
        }
    }
}

impl Error for CodedError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        // --- your code: source ---
        todo!("return the wrapped cause, if any, as the next link of the chain")
        // --- end of your code ---
    }
}

/// Go's `errors.Join`: `None` for no errors, otherwise one [`Joined`] error
/// holding them in order.
pub fn join(errors: impl IntoIterator<Item = BoxError>) -> Option<Joined> {
    // --- your code: join ---
    let _ = errors.into_iter();
    todo!("collect the errors; no errors means None, like Go's errors.Join returning nil")
    // --- end of your code ---
}

/// Go's `recover()`: runs `f`; if it panics, returns the panic as a
/// [`PanicError`] carrying the message and the `file:line:column` of the
/// `panic!` itself.
pub fn catch_panic<T>(f: impl FnOnce() -> T + UnwindSafe) -> Result<T, PanicError> {
    // --- your code: catch_panic ---
    let _ = f;
    todo!("catch_unwind for the message, a panic hook (installed once) for the location")
    // --- end of your code ---
}

/// Runs every task in order and joins their failures: an `Err` is kept as
/// it is; a panic becomes `CodedError { code: Internal, context: "task
/// <name> panicked", cause: PanicError }`. `Ok(())` when all succeed.
pub fn run_all(tasks: Vec<Task>) -> Result<(), Joined> {
    // --- your code: run_all ---
    let _ = tasks;
    todo!("run each task under catch_panic, collect the failures, join them")
    // --- end of your code ---
}

/// Every error in the tree under `err`, depth-first and in order: `err`
/// itself, then, for a [`Joined`], each of its errors' trees in turn, or
/// else the tree of its `source()`.
pub fn chain<'a>(err: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    // --- your code: chain ---
    let _ = err;
    todo!("walk source() links, and branch into each error of a Joined")
    // --- end of your code ---
}

/// The code of every [`CodedError`] in [`chain`] order.
pub fn codes(err: &(dyn Error + 'static)) -> Vec<Code> {
    // --- your code: codes ---
    let _ = err;
    todo!("downcast each error of the chain to CodedError")
    // --- end of your code ---
}

/// The first [`PanicError`] in [`chain`] order (Go's `errors.As`).
pub fn find_panic<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a PanicError> {
    // --- your code: find_panic ---
    let _ = err;
    todo!("downcast each error of the chain to PanicError")
    // --- end of your code ---
}
