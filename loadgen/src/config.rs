//! The load generator's command line: `loadgen URL [flags]`, flags in any
//! order, `--flag value` or `--flag=value`. Every mistake is an error that
//! says what was wrong (the binary prints it with the usage and exits 2).

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The usage text.
pub const USAGE: &str = "usage: loadgen URL [--rate R] [--connections C] [--duration D] [--closed]
               [--path P] [--json] [--requests N] [--timeout D] [--procs N] [--quiet]
               [--arrivals constant|poisson]
  URL            http://host:port/path (http only)
  --rate         requests per second, all connections together (open loop); default 1000
  --connections  connections kept open; default 10
  --duration     how long to run, like 5s or 500ms; default 5s
  --closed       closed loop: each connection sends its next request when the last answer arrives (like wrk)
  --path         replaces the URL's path and query, e.g. /work?us=300
  --json         print one JSON object instead of the report
  --requests     stop after this many requests; default rate x duration (open), 10000000 (closed)
  --timeout      per-request timeout; default 2s
  --procs        Ps of the runtime the load generator runs on; default 1
  --quiet        no progress line
  --arrivals     open loop: constant gaps (default) or poisson (exponential gaps, same mean)";

/// Open loop (a schedule) or closed loop (back to back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Requests go out on a fixed schedule; latency counts from the
    /// scheduled time (wrk2's correction of coordinated omission).
    Open,
    /// Each connection sends as soon as its previous answer arrives (wrk).
    Closed,
}

/// How due times are spaced in the open loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Evenly, one every `connections / rate` seconds per connection.
    Constant,
    /// Exponential gaps with that mean (a Poisson process).
    Poisson,
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// Path and query of every request.
    pub path: String,
    /// Open or closed loop.
    pub mode: Mode,
    /// Requests per second in total (open loop).
    pub rate: f64,
    /// How the open loop spaces its due times.
    pub arrivals: Arrivals,
    /// Connections.
    pub connections: usize,
    /// How long to send.
    pub duration: Duration,
    /// The most requests to send.
    pub max_requests: u64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Ps of the load generator's runtime.
    pub procs: usize,
    /// Print a progress line each second (stderr).
    pub progress: bool,
    /// Print JSON instead of the report.
    pub json: bool,
}

impl Config {
    /// A config for `addr` with the defaults (open loop, 1000/s, 10
    /// connections, 5 s, path `/`).
    pub fn new(addr: SocketAddr) -> Config {
        Config {
            addr,
            host: addr.to_string(),
            path: "/".into(),
            mode: Mode::Open,
            rate: 1000.0,
            arrivals: Arrivals::Constant,
            connections: 10,
            duration: Duration::from_secs(5),
            max_requests: 5000,
            timeout: Duration::from_secs(2),
            procs: 1,
            progress: false,
            json: false,
        }
    }

    /// Parses `loadgen`'s arguments (without the program name).
    ///
    /// ```
    /// let c = loadgen::Config::parse(["--closed", "http://127.0.0.1:8080/x", "--duration", "500ms"]).unwrap();
    /// assert_eq!((c.path.as_str(), c.duration.as_millis()), ("/x", 500));
    /// assert!(loadgen::Config::parse(["http://127.0.0.1:1/", "--rate", "fast"]).is_err());
    /// ```
    pub fn parse<I, S>(args: I) -> Result<Config, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<String> = args.into_iter().map(|s| s.as_ref().to_string()).collect();
        let mut url = None;
        let (mut rate, mut conns, mut dur, mut closed, mut path, mut json) =
            (None, None, None, false, None, false);
        let (mut requests, mut timeout, mut procs, mut quiet) = (None, None, None, false);
        let mut arrivals = None;
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            if !arg.starts_with('-') {
                if url.replace(arg.clone()).is_some() {
                    return Err(format!("a second URL `{arg}`: give one"));
                }
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f, Some(v.to_string())),
                None => (arg.as_str(), None),
            };
            match flag {
                "--closed" => closed = true,
                "--json" => json = true,
                "--quiet" => quiet = true,
                "--help" => return Err("help".into()),
                "--rate" | "--connections" | "--duration" | "--path" | "--requests"
                | "--timeout" | "--procs" | "--arrivals" => {
                    let v = match inline {
                        Some(v) => v,
                        None => {
                            let v = args
                                .get(i)
                                .cloned()
                                .ok_or(format!("`{flag}` needs a value"))?;
                            i += 1;
                            v
                        }
                    };
                    let bad = |what: &str| format!("bad value `{v}` for `{flag}`: expected {what}");
                    match flag {
                        "--rate" => {
                            rate = Some(
                                v.parse::<f64>()
                                    .ok()
                                    .filter(|r| *r > 0.0 && *r <= 10_000_000.0)
                                    .ok_or(bad("requests per second, more than 0"))?,
                            )
                        }
                        "--connections" => {
                            conns = Some(
                                v.parse::<usize>()
                                    .ok()
                                    .filter(|c| (1..=10_000).contains(c))
                                    .ok_or(bad("1 to 10000"))?,
                            )
                        }
                        "--duration" => {
                            dur =
                                Some(parse_duration(&v).ok_or(bad("a duration like 5s or 500ms"))?)
                        }
                        "--timeout" => {
                            timeout =
                                Some(parse_duration(&v).ok_or(bad("a duration like 2s or 500ms"))?)
                        }
                        "--requests" => {
                            requests = Some(
                                v.parse::<u64>()
                                    .ok()
                                    .filter(|n| *n > 0)
                                    .ok_or(bad("a count above 0"))?,
                            )
                        }
                        "--arrivals" => {
                            arrivals = Some(match v.as_str() {
                                "constant" => Arrivals::Constant,
                                "poisson" => Arrivals::Poisson,
                                _ => return Err(bad("constant or poisson")),
                            })
                        }
                        "--procs" => {
                            procs = Some(
                                v.parse::<usize>()
                                    .ok()
                                    .filter(|n| (1..=64).contains(n))
                                    .ok_or(bad("1 to 64"))?,
                            )
                        }
                        _ => {
                            if !v.starts_with('/') {
                                return Err(bad("a path starting with /"));
                            }
                            path = Some(v)
                        }
                    }
                }
                _ => return Err(format!("unknown flag `{flag}`")),
            }
        }
        let url = url.ok_or("no URL: give one like http://127.0.0.1:8080/")?;
        let (addr, host, url_path) = parse_url(&url)?;
        let mut c = Config::new(addr);
        c.host = host;
        c.path = path.unwrap_or(url_path);
        c.mode = if closed { Mode::Closed } else { Mode::Open };
        c.rate = rate.unwrap_or(1000.0);
        c.arrivals = arrivals.unwrap_or(Arrivals::Constant);
        c.connections = conns.unwrap_or(10);
        c.duration = dur.unwrap_or(Duration::from_secs(5));
        c.max_requests = requests.unwrap_or(match c.mode {
            Mode::Open => (c.rate * c.duration.as_secs_f64()).ceil() as u64 + c.connections as u64,
            Mode::Closed => 10_000_000,
        });
        c.timeout = timeout.unwrap_or(Duration::from_secs(2));
        c.procs = procs.unwrap_or(1);
        c.progress = !quiet;
        c.json = json;
        Ok(c)
    }
}

/// `5s`, `500ms`, `2m`, `1.5s`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(loadgen::config::parse_duration("500ms"), Some(Duration::from_millis(500)));
/// assert_eq!(loadgen::config::parse_duration("1.5s"), Some(Duration::from_millis(1500)));
/// assert_eq!(loadgen::config::parse_duration("5"), None);
/// ```
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        return None;
    };
    let v: f64 = num.parse().ok()?;
    let secs = v * unit;
    (secs > 0.0 && secs <= 24.0 * 3600.0).then(|| Duration::from_secs_f64(secs))
}

/// `http://host[:port]/path?query` into an address, a Host header and the
/// path (parsed by the `http` crate's `Uri`).
fn parse_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("bad URL `{url}`: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("bad URL `{url}`: only http:// is supported"));
    }
    let auth = uri.authority().ok_or(format!("bad URL `{url}`: no host"))?;
    let port = auth.port_u16().unwrap_or(80);
    let addr = (auth.host(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{}`: {e}", auth.host()))?
        .next()
        .ok_or(format!("`{}` resolves to no address", auth.host()))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    Ok((addr, auth.as_str().to_string(), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_in_any_order_and_bad_input_is_named() {
        let c = Config::parse([
            "--rate=200",
            "--json",
            "http://127.0.0.1:9/a?b=1",
            "--connections",
            "4",
        ])
        .unwrap();
        assert_eq!(
            (c.rate, c.connections, c.json, c.mode),
            (200.0, 4, true, Mode::Open)
        );
        assert_eq!(
            (c.path.as_str(), c.addr.port(), c.max_requests),
            ("/a?b=1", 9, 1004)
        );
        assert_eq!(c.arrivals, Arrivals::Constant);
        let c = Config::parse(["http://127.0.0.1:9/", "--arrivals=poisson"]).unwrap();
        assert_eq!(c.arrivals, Arrivals::Poisson);
        for (args, needle) in [
            (
                vec!["http://127.0.0.1:9/", "--arrivals", "bursty"],
                "constant or poisson",
            ),
            (
                vec!["http://127.0.0.1:9/", "--bogus"],
                "unknown flag `--bogus`",
            ),
            (vec!["http://127.0.0.1:9/", "--duration", "5"], "--duration"),
            (vec!["ftp://127.0.0.1:9/"], "only http://"),
            (vec!["--closed"], "no URL"),
            (vec!["http://127.0.0.1:9/", "--rate"], "needs a value"),
            (
                vec!["http://127.0.0.1:9/", "--path", "x"],
                "starting with /",
            ),
        ] {
            let e = Config::parse(&args).unwrap_err();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }
}
