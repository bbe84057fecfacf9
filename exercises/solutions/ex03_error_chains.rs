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
        self.cause.as_deref().map(|e| e as &(dyn Error + 'static))
        // --- end of your code ---
    }
}

/// Go's `errors.Join`: `None` for no errors, otherwise one [`Joined`] error
/// holding them in order.
pub fn join(errors: impl IntoIterator<Item = BoxError>) -> Option<Joined> {
    // --- your code: join ---
    let errors: Vec<BoxError> = errors.into_iter().collect();
    (!errors.is_empty()).then_some(Joined { errors })
}

mod hook {
    //! The panic hook that tells `catch_panic` where a panic happened.
    use std::cell::{Cell, RefCell};
    use std::panic::{self, PanicHookInfo};
    use std::sync::Once;

    thread_local! {
        /// True while a `catch_panic` runs on this thread.
        pub(super) static CATCHING: Cell<bool> = const { Cell::new(false) };
        /// Where the last caught panic happened: file, line, column.
        pub(super) static LOCATION: RefCell<Option<(String, u32, u32)>> = const { RefCell::new(None) };
    }

    /// Installs the hook once per process, in front of the previous hook,
    /// which still handles (prints) every panic not being caught.
    pub(super) fn install() {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
                if CATCHING.get() {
                    let place = info
                        .location()
                        .map(|l| (l.file().to_string(), l.line(), l.column()));
                    LOCATION.set(place);
                } else {
                    previous(info);
                }
            }));
        });
    }
    // --- end of your code ---
}

/// Go's `recover()`: runs `f`; if it panics, returns the panic as a
/// [`PanicError`] carrying the message and the `file:line:column` of the
/// `panic!` itself.
pub fn catch_panic<T>(f: impl FnOnce() -> T + UnwindSafe) -> Result<T, PanicError> {
    // --- your code: catch_panic ---
    hook::install();
    let was_catching = hook::CATCHING.replace(true);
    let outcome = std::panic::catch_unwind(f);
    hook::CATCHING.set(was_catching);

    outcome.map_err(|payload| {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a payload that is not text".to_string()
        };
        let (file, line, column) = hook::LOCATION
            .take()
            .unwrap_or_else(|| ("<unknown>".to_string(), 0, 0));
        PanicError {
            message,
            file,
            line,
            column,
        }
    })
    // --- end of your code ---
}

/// Runs every task in order and joins their failures: an `Err` is kept as
/// it is; a panic becomes `CodedError { code: Internal, context: "task
/// <name> panicked", cause: PanicError }`. `Ok(())` when all succeed.
pub fn run_all(tasks: Vec<Task>) -> Result<(), Joined> {
    // --- your code: run_all ---
    let failures = tasks
        .into_iter()
        .filter_map(|task| match catch_panic(task.job) {
            Ok(Ok(())) => None,
            Ok(Err(failed)) => Some(BoxError::from(failed)),
            Err(panicked) => Some(
                CodedError::wrap(
                    Code::Internal,
                    format!("task {} panicked", task.name),
                    panicked,
                )
                .into(),
            ),
        });
    match join(failures) {
        None => Ok(()),
        Some(joined) => Err(joined),
    }
    // --- end of your code ---
}

/// Every error in the tree under `err`, depth-first and in order: `err`
/// itself, then, for a [`Joined`], each of its errors' trees in turn, or
/// else the tree of its `source()`.
pub fn chain<'a>(err: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    // --- your code: chain ---
    let mut out = vec![err];
    if let Some(joined) = err.downcast_ref::<Joined>() {
        for inner in joined.errors() {
            out.extend(chain(inner));
        }
    } else if let Some(source) = err.source() {
        out.extend(chain(source));
    }
    out
    // --- end of your code ---
}

/// The code of every [`CodedError`] in [`chain`] order.
pub fn codes(err: &(dyn Error + 'static)) -> Vec<Code> {
    // --- your code: codes ---
    chain(err)
        .into_iter()
        .filter_map(|e| e.downcast_ref::<CodedError>())
        .map(|e| e.code)
        .collect()
    // --- end of your code ---
}

/// The first [`PanicError`] in [`chain`] order (Go's `errors.As`).
pub fn find_panic<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a PanicError> {
    // --- your code: find_panic ---
    chain(err)
        .into_iter()
        .find_map(|e| e.downcast_ref::<PanicError>())
    // --- end of your code ---
}
