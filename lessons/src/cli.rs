//! The lessons' flags: declared here, split into words by `lexopt`.
//!
//! `lexopt` (a small, dependency-free crate, so lesson-01's first build stays
//! fast) turns the command line into options and values; this module adds
//! what a lesson declares about them: names, defaults, ranges, choices, and
//! the usage text. Every lesson takes `--help` and `--quick` (the short run used by the test
//! suite) plus a few flags of its own. A lesson declares them, then calls
//! [`Cli::parse`]: an unknown flag or a bad value prints what was wrong and the
//! usage on stderr and exits with code 2, so a typo never runs the wrong
//! experiment silently. Values may be written `--procs 4` or `--procs=4`.
//!
//! ```
//! use lessons::cli::Cli;
//!
//! let cli = Cli::new("lesson-02", "G, M and P")
//!     .number("--procs", "N", "number of Ps (Go's GOMAXPROCS)", 4, 1..=64)
//!     .flag("--write-book", "also refresh the book's figures");
//! let args = cli.parse_from(["--procs=2", "--quick"]).unwrap();
//! assert_eq!(args.number("--procs"), 2);
//! assert!(args.quick());
//! assert!(!args.flag("--write-book"));
//!
//! let err = cli.parse_from(["--procs", "zero"]).unwrap_err();
//! assert!(err.to_string().contains("--procs"));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

/// What kind of value an option takes.
#[derive(Debug, Clone)]
enum Kind {
    /// A switch with no value.
    Flag,
    /// A whole number within a range.
    Number(RangeInclusive<u64>),
    /// One word out of a fixed list.
    Choice(&'static [&'static str]),
}

/// One declared option.
#[derive(Debug, Clone)]
struct Opt {
    name: &'static str,
    value_name: &'static str,
    help: &'static str,
    default: Option<String>,
    kind: Kind,
}

/// A lesson's command line: its name, a one-line summary and its options.
#[derive(Debug, Clone)]
pub struct Cli {
    name: &'static str,
    about: &'static str,
    opts: Vec<Opt>,
}

/// Why a command line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// A flag nobody declared.
    Unknown(String),
    /// An option that needs a value came last.
    MissingValue(&'static str),
    /// A value that does not parse or is out of range.
    BadValue {
        /// The option.
        option: &'static str,
        /// What was given.
        given: String,
        /// What would have been accepted.
        expected: String,
    },
    /// `--help` was asked for: not an error, but parsing stops there.
    Help,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Unknown(flag) => write!(f, "unknown flag `{flag}`"),
            CliError::MissingValue(opt) => write!(f, "`{opt}` needs a value"),
            CliError::BadValue {
                option,
                given,
                expected,
            } => write!(f, "bad value `{given}` for `{option}`: expected {expected}"),
            CliError::Help => write!(f, "help requested"),
        }
    }
}

impl std::error::Error for CliError {}

/// The parsed command line. Every declared option has a value (its default if
/// it was not given), so the getters cannot fail for a declared name.
#[derive(Debug, Clone)]
pub struct Args {
    values: BTreeMap<&'static str, String>,
}

impl Cli {
    /// A command line with the two flags every lesson has: `--help` and `--quick`.
    pub fn new(name: &'static str, about: &'static str) -> Self {
        let quick = Opt {
            name: "--quick",
            value_name: "",
            help: "a short run (what the test suite uses)",
            default: None,
            kind: Kind::Flag,
        };
        Cli {
            name,
            about,
            opts: vec![quick],
        }
    }

    /// Declares a switch such as `--write-book`.
    pub fn flag(mut self, name: &'static str, help: &'static str) -> Self {
        self.opts.push(Opt {
            name,
            value_name: "",
            help,
            default: None,
            kind: Kind::Flag,
        });
        self
    }

    /// Declares a numeric option with a default and the range it must fall in.
    pub fn number(
        mut self,
        name: &'static str,
        value_name: &'static str,
        help: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Self {
        self.opts.push(Opt {
            name,
            value_name,
            help,
            default: Some(default.to_string()),
            kind: Kind::Number(range),
        });
        self
    }

    /// Declares an option whose value is one word out of `choices`.
    pub fn choice(
        mut self,
        name: &'static str,
        help: &'static str,
        default: &'static str,
        choices: &'static [&'static str],
    ) -> Self {
        self.opts.push(Opt {
            name,
            value_name: "WORD",
            help,
            default: Some(default.to_string()),
            kind: Kind::Choice(choices),
        });
        self
    }

    /// The usage text printed by `--help` and after an error.
    pub fn usage(&self) -> String {
        let mut out = format!(
            "{} — {}\n\nUsage: cargo run --bin {} -- [OPTIONS]\n\nOptions:\n",
            self.name, self.about, self.name
        );
        let mut lines = vec![("--help".to_string(), "print this help".to_string())];
        for opt in &self.opts {
            let left = if opt.value_name.is_empty() {
                opt.name.to_string()
            } else {
                format!("{} {}", opt.name, opt.value_name)
            };
            let mut right = opt.help.to_string();
            match &opt.kind {
                Kind::Flag => {}
                Kind::Number(range) => right.push_str(&format!(
                    " [{}..={}, default {}]",
                    range.start(),
                    range.end(),
                    opt.default.as_deref().unwrap_or("")
                )),
                Kind::Choice(choices) => right.push_str(&format!(
                    " [{}, default {}]",
                    choices.join("|"),
                    opt.default.as_deref().unwrap_or("")
                )),
            }
            lines.push((left, right));
        }
        let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        for (left, right) in lines {
            out.push_str(&format!("  {left:width$}  {right}\n"));
        }
        out
    }

    /// Parses `args` (without the program name). The words are split by
    /// `lexopt` (so `--procs 4`, `--procs=4`, `-h` and `--` behave as in any
    /// Unix tool); what each option means is checked here.
    pub fn parse_from<I, S>(&self, args: I) -> Result<Args, CliError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut parser = lexopt::Parser::from_args(args.into_iter().map(Into::into));
        self.parse_with(&mut parser)
    }

    fn parse_with(&self, parser: &mut lexopt::Parser) -> Result<Args, CliError> {
        use lexopt::Arg;
        let mut values = BTreeMap::new();
        for opt in &self.opts {
            if let Some(default) = &opt.default {
                values.insert(opt.name, default.clone());
            }
        }
        // lexopt's own errors (a value that is not UTF-8) name the argument.
        let unknown = |e: lexopt::Error| CliError::Unknown(e.to_string());
        while let Some(arg) = parser.next().map_err(unknown)? {
            let name = match arg {
                Arg::Short('h') | Arg::Long("help") => return Err(CliError::Help),
                Arg::Long(long) => format!("--{long}"),
                Arg::Short(short) => return Err(CliError::Unknown(format!("-{short}"))),
                Arg::Value(word) => return Err(CliError::Unknown(word.to_string_lossy().into())),
            };
            let Some(opt) = self.opts.iter().find(|o| o.name == name) else {
                return Err(CliError::Unknown(name));
            };
            match &opt.kind {
                Kind::Flag => {
                    if let Some(v) = parser.optional_value() {
                        return Err(CliError::BadValue {
                            option: opt.name,
                            given: v.to_string_lossy().into(),
                            expected: "no value (it is a switch)".into(),
                        });
                    }
                    values.insert(opt.name, "true".into());
                }
                kind => {
                    let value = parser
                        .value()
                        .map_err(|_| CliError::MissingValue(opt.name))?
                        .to_string_lossy()
                        .into_owned();
                    check_value(opt.name, kind, &value)?;
                    values.insert(opt.name, value);
                }
            }
        }
        Ok(Args { values })
    }

    /// Parses the process's own arguments. On `--help` prints the usage and
    /// exits 0; on an error prints the problem and the usage on stderr and
    /// exits with code 2.
    pub fn parse(&self) -> Args {
        match self.parse_with(&mut lexopt::Parser::from_env()) {
            Ok(args) => args,
            Err(CliError::Help) => {
                print!("{}", self.usage());
                std::process::exit(0);
            }
            Err(err) => {
                eprintln!("error: {err}\n\n{}", self.usage());
                std::process::exit(2);
            }
        }
    }
}

fn check_value(option: &'static str, kind: &Kind, value: &str) -> Result<(), CliError> {
    match kind {
        Kind::Flag => Ok(()),
        Kind::Number(range) => match value.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(()),
            _ => Err(CliError::BadValue {
                option,
                given: value.to_string(),
                expected: format!("a whole number from {} to {}", range.start(), range.end()),
            }),
        },
        Kind::Choice(choices) => {
            if choices.contains(&value) {
                Ok(())
            } else {
                Err(CliError::BadValue {
                    option,
                    given: value.to_string(),
                    expected: format!("one of {}", choices.join(", ")),
                })
            }
        }
    }
}

impl Args {
    /// Whether `--quick` was given.
    pub fn quick(&self) -> bool {
        self.flag("--quick")
    }

    /// Whether a declared switch was given.
    pub fn flag(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The value of a declared numeric option.
    ///
    /// # Panics
    /// If `name` was not declared with [`Cli::number`] (a bug in the lesson).
    pub fn number(&self, name: &str) -> u64 {
        self.values
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("option {name} was not declared as a number"))
    }

    /// The value of a declared choice option.
    ///
    /// # Panics
    /// If `name` was not declared with [`Cli::choice`] (a bug in the lesson).
    pub fn choice(&self, name: &str) -> &str {
        self.values
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("option {name} was not declared as a choice"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> Cli {
        Cli::new("lesson-xx", "test")
            .number("--procs", "N", "Ps", 4, 1..=64)
            .choice("--queue", "backend", "ring", &["ring", "deque"])
            .flag("--write-book", "book")
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let args = cli().parse_from(Vec::<String>::new()).unwrap();
        assert_eq!(args.number("--procs"), 4);
        assert_eq!(args.choice("--queue"), "ring");
        assert!(!args.quick());
    }

    #[test]
    fn values_in_both_spellings() {
        let args = cli()
            .parse_from(["--procs", "8", "--queue=deque", "--write-book"])
            .unwrap();
        assert_eq!(args.number("--procs"), 8);
        assert_eq!(args.choice("--queue"), "deque");
        assert!(args.flag("--write-book"));
    }

    #[test]
    fn rejects_unknown_out_of_range_and_missing() {
        assert_eq!(
            cli().parse_from(["--prox"]).unwrap_err(),
            CliError::Unknown("--prox".into())
        );
        assert!(matches!(
            cli().parse_from(["--procs", "0"]).unwrap_err(),
            CliError::BadValue {
                option: "--procs",
                ..
            }
        ));
        assert!(matches!(
            cli().parse_from(["--queue", "heap"]).unwrap_err(),
            CliError::BadValue {
                option: "--queue",
                ..
            }
        ));
        assert_eq!(
            cli().parse_from(["--procs"]).unwrap_err(),
            CliError::MissingValue("--procs")
        );
        assert_eq!(cli().parse_from(["--help"]).unwrap_err(), CliError::Help);
    }

    #[test]
    fn usage_lists_every_option_with_its_default() {
        let usage = cli().usage();
        for needle in ["--help", "--quick", "--procs N", "default 4", "ring|deque"] {
            assert!(usage.contains(needle), "usage lacks {needle}:\n{usage}");
        }
    }
}
