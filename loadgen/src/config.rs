//! The load generator's command line: `loadgen URL [flags]`, flags in any
//! order, `--flag value` or `--flag=value`. Every mistake is an error that
//! says what was wrong (the binary prints it with the usage and exits 2).
//! The arrival patterns themselves are in [`crate::schedule`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::schedule::Burst;

/// The usage text.
pub const USAGE: &str = "usage: loadgen URL [--rate R] [--connections C] [--duration D] [--closed]
               [--path P] [--json] [--requests N] [--timeout D] [--procs N] [--quiet]
               [--pattern constant|poisson|burst] [--burst NxW] [--burst-every D]
               [--header 'Name: value']...
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
  --pattern      open loop arrivals: constant gaps (default), poisson (exponential gaps, same mean),
                 or burst (see --burst); --arrivals is another name for it
  --burst        N requests due within W at the start of every period, like 500x100ms (500x0ms: all
                 at once); the mean rate is N per period, so it replaces --rate; implies --pattern burst
  --burst-every  the burst period; default 1s
  --header       an extra request header, like 'X-Tag: canary'; repeat for more";

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

/// How due times are spaced in the open loop (see [`crate::schedule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Evenly, one every `connections / rate` seconds per connection.
    Constant,
    /// Exponential gaps with that mean (a Poisson process).
    Poisson,
    /// Bursts of requests once a period, nothing in between.
    Burst(Burst),
}

impl Arrivals {
    /// A short description for reports.
    ///
    /// ```
    /// let b = loadgen::Burst::parse("500x100ms", std::time::Duration::from_secs(1)).unwrap();
    /// assert_eq!(loadgen::Arrivals::Burst(b).describe(), "burst 500x100ms every 1s");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            Arrivals::Constant => "constant".into(),
            Arrivals::Poisson => "poisson".into(),
            Arrivals::Burst(b) => format!(
                "burst {}x{} every {}",
                b.size,
                short(b.window),
                short(b.every)
            ),
        }
    }
}

/// `1s`, `100ms`, `0ms`, as the flags spell them.
fn short(d: Duration) -> String {
    if d.subsec_nanos() == 0 && !d.is_zero() {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{d:?}")
    }
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
    /// Extra request headers, in order (`--header`).
    pub headers: Vec<(String, String)>,
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
            headers: Vec::new(),
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
        let (mut burst, mut burst_every, mut headers) = (None, None, Vec::new());
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
                | "--timeout" | "--procs" | "--arrivals" | "--pattern" | "--burst"
                | "--burst-every" | "--header" => {
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
                        "--arrivals" | "--pattern" => {
                            arrivals = Some(match v.as_str() {
                                "constant" | "poisson" | "burst" => v.clone(),
                                _ => return Err(bad("constant, poisson or burst")),
                            })
                        }
                        "--burst" => burst = Some(v),
                        "--burst-every" => {
                            burst_every =
                                Some(parse_duration(&v).ok_or(bad("a duration like 1s or 500ms"))?)
                        }
                        "--header" => headers.push(parse_header(&v)?),
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
        c.headers = headers;
        c.rate = rate.unwrap_or(1000.0);
        c.arrivals = match (arrivals.as_deref(), burst) {
            (None | Some("constant"), None) => Arrivals::Constant,
            (Some("poisson"), None) => Arrivals::Poisson,
            (None | Some("burst"), Some(spec)) => {
                if rate.is_some() {
                    return Err("--rate and --burst both set the rate: give one (a burst's rate is N per period)".into());
                }
                if closed {
                    return Err(
                        "--burst is an open-loop pattern: it does not go with --closed".into(),
                    );
                }
                let b = Burst::parse(&spec, burst_every.unwrap_or(Duration::from_secs(1)))?;
                c.rate = b.rate();
                Arrivals::Burst(b)
            }
            (Some("burst"), None) => {
                return Err("--pattern burst needs --burst NxW, like --burst 500x100ms".into());
            }
            (Some(p), Some(_)) => {
                return Err(format!(
                    "--burst goes with --pattern burst, not --pattern {p}"
                ));
            }
            (Some(p), None) => unreachable!("--pattern {p} was checked above"),
        };
        if burst_every.is_some() && !matches!(c.arrivals, Arrivals::Burst(_)) {
            return Err("--burst-every needs --burst NxW".into());
        }
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

/// `Name: value` into a header, checked by the `http` crate; headers that
/// would change how a request is framed are refused (loadgen sends no body).
///
/// ```
/// assert_eq!(
///     loadgen::config::parse_header("X-Tag:  canary").unwrap(),
///     ("x-tag".to_string(), "canary".to_string())
/// );
/// assert!(loadgen::config::parse_header("no colon").is_err());
/// ```
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let bad = |why: &str| format!("bad header `{s}` for `--header`: {why}");
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| bad("expected 'Name: value'"))?;
    let name = http::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| bad("the name is not a valid header name"))?;
    let value = http::HeaderValue::from_str(value.trim())
        .map_err(|_| bad("the value has characters a header cannot carry"))?;
    if [
        http::header::CONTENT_LENGTH,
        http::header::TRANSFER_ENCODING,
    ]
    .contains(&name)
    {
        return Err(bad("loadgen sends no body, so it sets no body framing"));
    }
    let value = value
        .to_str()
        .map_err(|_| bad("the value must be visible ASCII"))?;
    Ok((name.as_str().to_string(), value.to_string()))
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
        let c = Config::parse([
            "http://127.0.0.1:9/",
            "--burst=200x50ms",
            "--burst-every",
            "500ms",
            "--duration=2s",
            "--header",
            "X-Tag: canary",
            "--header=X-Run: 7",
        ])
        .unwrap();
        let b = Burst::parse("200x50ms", Duration::from_millis(500)).unwrap();
        assert_eq!(c.arrivals, Arrivals::Burst(b));
        assert_eq!(
            (c.rate, c.max_requests),
            (400.0, 810),
            "N per period, and its budget"
        );
        assert_eq!(
            c.headers,
            [
                ("x-tag".into(), "canary".into()),
                ("x-run".into(), "7".into())
            ]
        );
        for (args, needle) in [
            (
                vec!["http://127.0.0.1:9/", "--arrivals", "bursty"],
                "constant, poisson or burst",
            ),
            (
                vec!["http://127.0.0.1:9/", "--pattern", "burst"],
                "needs --burst NxW",
            ),
            (
                vec!["http://127.0.0.1:9/", "--burst", "500"],
                "expected NxW",
            ),
            (
                vec![
                    "http://127.0.0.1:9/",
                    "--burst",
                    "5x1s",
                    "--burst-every",
                    "500ms",
                ],
                "shorter than the period",
            ),
            (
                vec!["http://127.0.0.1:9/", "--burst", "5x1ms", "--rate", "10"],
                "give one",
            ),
            (
                vec![
                    "http://127.0.0.1:9/",
                    "--burst",
                    "5x1ms",
                    "--pattern",
                    "poisson",
                ],
                "goes with --pattern burst",
            ),
            (
                vec!["http://127.0.0.1:9/", "--burst-every", "1s"],
                "needs --burst",
            ),
            (
                vec!["http://127.0.0.1:9/", "--burst", "5x1ms", "--closed"],
                "open-loop pattern",
            ),
            (
                vec!["http://127.0.0.1:9/", "--header", "X Tag: 1"],
                "not a valid header name",
            ),
            (
                vec!["http://127.0.0.1:9/", "--header", "Content-Length: 5"],
                "sends no body",
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
