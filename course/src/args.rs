//! Command-line arguments: words split by `lexopt`, meaning given here.
//!
//! The front door has eight subcommands and three flags. `lexopt` (the same
//! small crate the lessons use) splits the words (`--port 3001` or
//! `--port=3001`, `-h`, `--`); this module says what they mean and words
//! the errors. Parsing is a pure function
//! from the argument list to a [`Command`], which keeps it testable; the
//! caller prints [`USAGE`] and exits with code 2 on an [`ArgError`].
//!
//! ```
//! use course::args::{parse, Command};
//! let cmd = parse(["--port", "3001"]).unwrap();
//! assert_eq!(cmd, Command::Serve { port: 3001 });
//! ```

use std::fmt;

/// The port `course` serves on when `--port` is not given.
pub const DEFAULT_PORT: u16 = 3000;

/// The help text printed by `--help` and after every argument error.
pub const USAGE: &str = "\
usage: cargo run --bin course [-- COMMAND]

commands:
  serve [--port N]      build the book and serve it on http://127.0.0.1:N (default; N = 3000)
  build                 build the book into target/book and exit
  list                  list the chapters, the lessons, and the exercises with where you stand
  next                  the first unfinished exercise: the section to read, the command to grade it
  watch [EXERCISE]      grade an exercise on every save of its stub (keys: h hint, l list,
                        n next, r re-run, q quit); starts at EXERCISE or the first unfinished one
  hint EXERCISE         print the hint for an exercise (e.g. `hint ex04`)
  progress [--json] [--fresh]
                        grade the exercises that changed since they were last graded and show
                        which are done (--fresh: grade every one again)
  help                  print this text";

/// What the user asked `course` to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Build the book, then serve it on 127.0.0.1:`port` until interrupted.
    Serve {
        /// The loopback port to listen on.
        port: u16,
    },
    /// Build the book and exit.
    Build,
    /// Print chapters, lessons and exercises.
    List,
    /// Print the hint of one exercise.
    Hint {
        /// What the user typed: `ex04`, `ex04_runq`, `04` or `4`.
        exercise: String,
    },
    /// Run the graded tests and print a progress table.
    Progress {
        /// Print JSON instead of a table.
        json: bool,
        /// Ignore saved verdicts and grade every exercise.
        fresh: bool,
    },
    /// Print the first unfinished exercise and how to work on it.
    Next,
    /// Grade exercises as their stubs are saved.
    Watch {
        /// Where to start, as the user typed it; `None` for the first unfinished.
        exercise: Option<String>,
    },
    /// Print usage and exit successfully.
    Help,
}

/// A command line `course` cannot make sense of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ArgError> {
    Err(ArgError(msg.into()))
}

/// Parses the arguments that follow the program name.
///
/// No subcommand means `serve`. `--help`/`-h` anywhere means [`Command::Help`].
///
/// ```
/// use course::args::{parse, Command};
/// assert_eq!(parse(["progress", "--json"]).unwrap(), Command::Progress { json: true, fresh: false });
/// assert!(parse(["frobnicate"]).is_err());
/// ```
pub fn parse<I, S>(args: I) -> Result<Command, ArgError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    // `--help` anywhere wins over whatever else is wrong with the line.
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Help);
    }
    // The subcommand is the first word, if it is not a flag.
    let (sub, rest) = match args.split_first() {
        Some((first, rest)) if !first.starts_with('-') => (first.as_str(), rest.to_vec()),
        _ => ("serve", args.clone()),
    };
    let mut p = lexopt::Parser::from_args(rest);
    match sub {
        "serve" => parse_serve(&mut p),
        "build" => no_more(&mut p, "build").map(|()| Command::Build),
        "list" => no_more(&mut p, "list").map(|()| Command::List),
        "next" => no_more(&mut p, "next").map(|()| Command::Next),
        "help" => no_more(&mut p, "help").map(|()| Command::Help),
        "watch" => Ok(Command::Watch {
            exercise: one_exercise(&mut p, "watch")?,
        }),
        "hint" => match one_exercise(&mut p, "hint")? {
            Some(exercise) => Ok(Command::Hint { exercise }),
            None => err("`hint` needs an exercise, e.g. `hint ex04`"),
        },
        "progress" => {
            let (mut json, mut fresh) = (false, false);
            while let Some(arg) = next(&mut p)? {
                match arg {
                    lexopt::Arg::Long("json") => json = true,
                    lexopt::Arg::Long("fresh") => fresh = true,
                    other => {
                        return err(format!(
                            "unknown argument `{}` for `progress`",
                            shown(&other)
                        ));
                    }
                }
            }
            Ok(Command::Progress { json, fresh })
        }
        other => err(format!("unknown command `{other}`")),
    }
}

/// The next word, as `lexopt` splits it (its own errors become ours).
fn next(p: &mut lexopt::Parser) -> Result<Option<lexopt::Arg<'_>>, ArgError> {
    p.next().map_err(|e| ArgError(e.to_string()))
}

/// An argument as the user typed it, for messages.
fn shown(arg: &lexopt::Arg<'_>) -> String {
    match arg {
        lexopt::Arg::Short(c) => format!("-{c}"),
        lexopt::Arg::Long(l) => format!("--{l}"),
        lexopt::Arg::Value(v) => v.to_string_lossy().into_owned(),
    }
}

fn parse_serve(p: &mut lexopt::Parser) -> Result<Command, ArgError> {
    let mut port = DEFAULT_PORT;
    while let Some(arg) = next(p)? {
        if arg != lexopt::Arg::Long("port") {
            return err(format!("unknown argument `{}` for `serve`", shown(&arg)));
        }
        let Ok(value) = p.value() else {
            return err("`--port` needs a number, e.g. `--port 3001`");
        };
        let value = value.to_string_lossy().into_owned();
        port = match value.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => {
                return err(format!(
                    "`--port` wants a number from 1 to 65535, got `{value}`"
                ));
            }
        };
    }
    Ok(Command::Serve { port })
}

/// At most one exercise name and no flags (`watch`, `hint`).
fn one_exercise(p: &mut lexopt::Parser, sub: &str) -> Result<Option<String>, ArgError> {
    let mut exercise = None;
    while let Some(arg) = next(p)? {
        match arg {
            lexopt::Arg::Value(v) if exercise.is_none() => {
                exercise = Some(v.to_string_lossy().into_owned());
            }
            lexopt::Arg::Value(v) => {
                return err(format!(
                    "unexpected argument `{}` after the exercise",
                    v.to_string_lossy()
                ));
            }
            flag => return err(format!("unknown flag `{}` for `{sub}`", shown(&flag))),
        }
    }
    Ok(exercise)
}

fn no_more(p: &mut lexopt::Parser, sub: &str) -> Result<(), ArgError> {
    match next(p)? {
        None => Ok(()),
        Some(a) => err(format!("unexpected argument `{}` for `{sub}`", shown(&a))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_arguments_serves_on_the_default_port() {
        assert_eq!(
            parse(Vec::<String>::new()).unwrap(),
            Command::Serve { port: 3000 }
        );
    }

    #[test]
    fn port_is_read_in_both_spellings() {
        assert_eq!(
            parse(["--port", "3001"]).unwrap(),
            Command::Serve { port: 3001 }
        );
        assert_eq!(
            parse(["serve", "--port=8080"]).unwrap(),
            Command::Serve { port: 8080 }
        );
    }

    #[test]
    fn bad_ports_are_rejected_with_the_value_named() {
        for bad in [["--port", "0"], ["--port", "70000"], ["--port", "abc"]] {
            let e = parse(bad).unwrap_err();
            assert!(
                e.0.contains(bad[1]),
                "message {e:?} should name `{}`",
                bad[1]
            );
        }
        assert!(parse(["--port"]).unwrap_err().0.contains("needs a number"));
    }

    #[test]
    fn subcommands_parse() {
        assert_eq!(parse(["build"]).unwrap(), Command::Build);
        assert_eq!(parse(["list"]).unwrap(), Command::List);
        assert_eq!(
            parse(["hint", "ex04"]).unwrap(),
            Command::Hint {
                exercise: "ex04".into()
            }
        );
        assert_eq!(
            parse(["progress"]).unwrap(),
            Command::Progress {
                json: false,
                fresh: false
            }
        );
        assert_eq!(
            parse(["progress", "--fresh", "--json"]).unwrap(),
            Command::Progress {
                json: true,
                fresh: true
            }
        );
        assert_eq!(parse(["next"]).unwrap(), Command::Next);
        assert_eq!(parse(["watch"]).unwrap(), Command::Watch { exercise: None });
        assert_eq!(
            parse(["watch", "ex04"]).unwrap(),
            Command::Watch {
                exercise: Some("ex04".into())
            }
        );
        assert_eq!(parse(["list", "--help"]).unwrap(), Command::Help);
        assert_eq!(parse(["help"]).unwrap(), Command::Help);
    }

    #[test]
    fn unknown_commands_and_flags_are_errors() {
        assert_eq!(parse(["frob"]).unwrap_err().0, "unknown command `frob`");
        assert!(parse(["--verbose"]).unwrap_err().0.contains("--verbose"));
        assert!(parse(["build", "now"]).unwrap_err().0.contains("now"));
        assert!(
            parse(["progress", "--yaml"])
                .unwrap_err()
                .0
                .contains("--yaml")
        );
        assert!(parse(["hint"]).unwrap_err().0.contains("needs an exercise"));
        assert!(parse(["next", "ex01"]).unwrap_err().0.contains("ex01"));
        assert!(parse(["watch", "--fast"]).unwrap_err().0.contains("--fast"));
        assert!(
            parse(["watch", "ex01", "ex02"])
                .unwrap_err()
                .0
                .contains("ex02")
        );
        assert!(
            parse(["hint", "ex01", "ex02"])
                .unwrap_err()
                .0
                .contains("ex02")
        );
    }
}
