//! `service`: one of the course's HTTP engines on 127.0.0.1 until Ctrl-C or
//! SIGTERM.
//!
//! ```text
//! service --engine full|fast|threads --runtime ours|tokio --port N --procs N
//!         [--max-connections N] [--stall-every-ms N --stall-ms N] [--host IP]
//!         [--backend ADDR] [--store DIR] [--limit ROUTE=KIND:ARGS]...
//! ```
//!
//! It prints `listening on http://ADDR` once bound (scripts wait for that
//! line), and `stopped after N requests` when a signal stops it. The signals
//! are blocked in every thread before any starts, and the main thread waits
//! for them with `sigwait`, so no handler runs in the middle of the runtime.

use std::io::Write;
use std::net::IpAddr;
use std::process::exit;
use std::time::Duration;

use service::{Engine, Options, Server, Stall};

/// The course allocator, so `/debug/pprof/heap` has samples with stacks.
#[cfg(feature = "pprof")]
#[global_allocator]
static ALLOC: allocator::SpanAlloc = allocator::SpanAlloc::new();

const USAGE: &str = "usage: service [--engine full|fast|threads] [--runtime ours|tokio] [--port N] [--procs N]
               [--max-connections N] [--stall-every-ms N --stall-ms N] [--host IP]
               [--backend ADDR] [--store DIR] [--limit ROUTE=KIND:ARGS]...
  --engine           full (hyper), fast (ours on httparse) or threads (std::net, a thread per connection); default fast
  --runtime          ours or tokio (the peer; full engine only); default ours
  --port             TCP port on the host, 0 for any free one; default 8080
  --procs            Ps of our runtime or tokio worker threads; default 2
  --max-connections  connections served at once, more get 503; default 10000
  --stall-every-ms   stall the whole server once every N ms (with --stall-ms)
  --stall-ms         how long each stall lasts
  --host             the address to listen on; default 127.0.0.1
  --backend          two-tier mode: /front?path=P calls P on this backend (IP:PORT; needs --engine full)
  --store            directory of /store's real.log and shadow.log (tagged traffic goes to the shadow)
  --limit            a limiter on a route, repeatable: /work=gcra:RATE:BURST, =tb:RATE:BURST,
                     =warmup:QPS:SECONDS (Sentinel, from a third) or =shed:MIN_IN_FLIGHT (Little's law)";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        port: 8080,
        ..Options::default()
    };
    let (mut every, mut pause) = (None, None);
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = match args[i].split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (args[i].as_str(), None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            exit(0);
        }
        const FLAGS: [&str; 11] = [
            "--limit",
            "--backend",
            "--store",
            "--engine",
            "--runtime",
            "--port",
            "--procs",
            "--max-connections",
            "--stall-every-ms",
            "--stall-ms",
            "--host",
        ];
        if !FLAGS.contains(&flag) {
            return Err(format!("unknown flag `{flag}`"));
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or(format!("`{flag}` needs a value"))?
            }
        };
        let num = |max: u64| -> Result<u64, String> {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or(format!(
                    "bad value `{value}` for `{flag}`: expected a number up to {max}"
                ))
        };
        match flag {
            "--engine" => o.engine = value.parse()?,
            "--runtime" => o.runtime = value.parse()?,
            "--port" => o.port = num(65535)? as u16,
            "--procs" => o.procs = num(runtime::MAX_PROCS as u64)? as usize,
            "--max-connections" => o.max_connections = num(1_000_000)? as usize,
            "--stall-every-ms" => every = Some(num(3_600_000)?),
            "--stall-ms" => pause = Some(num(3_600_000)?),
            "--host" => {
                o.host = value.parse::<IpAddr>().map_err(|_| {
                    format!("bad value `{value}` for `--host`: expected an IP address")
                })?
            }
            "--backend" => {
                o.backend = Some(value.parse().map_err(|_| {
                    format!("bad value `{value}` for `--backend`: expected IP:PORT")
                })?)
            }
            "--store" => o.store_dir = Some(value.into()),
            "--limit" => {
                let (route, spec) = value.split_once('=').ok_or(format!(
                    "bad value `{value}` for `--limit`: expected ROUTE=KIND:ARGS"
                ))?;
                if !service::routes::ROUTES.contains(&route) {
                    return Err(format!(
                        "bad value `{value}` for `--limit`: no route `{route}`"
                    ));
                }
                o.limits_per_route.push((route.to_string(), spec.parse()?));
            }
            _ => return Err(format!("unknown flag `{flag}`")),
        }
        i += 1;
    }
    match (every, pause) {
        (None, None) => {}
        (Some(e), Some(p)) if p > 0 && p < e => {
            o.stall = Some(Stall {
                every: Duration::from_millis(e),
                pause: Duration::from_millis(p),
            })
        }
        (Some(_), Some(_)) => {
            return Err("--stall-ms must be more than 0 and less than --stall-every-ms".into());
        }
        _ => return Err("--stall-every-ms and --stall-ms go together".into()),
    }
    o.validate()?;
    if !cfg!(feature = "full") && o.engine == Engine::Full {
        return Err(
            "the full engine (hyper) is not in this build: add `--features service/full` \
             (cargo run --release -p service --features full -- --engine full)"
                .into(),
        );
    }
    Ok(o)
}

/// Blocks SIGINT and SIGTERM in this thread and every thread it starts
/// later, and returns the set to `sigwait` on.
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data that sigemptyset initialises; the
    // calls only read and write the set we pass and this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("service: {e}\n{USAGE}");
            exit(2);
        }
    };
    let set = block_stop_signals();
    let server = match Server::start(opts.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("service: cannot listen on {}:{}: {e}", opts.host, opts.port);
            exit(1);
        }
    };
    println!(
        "listening on http://{} (engine {:?}, runtime {:?}, procs {})",
        server.addr(),
        opts.engine,
        opts.runtime,
        opts.procs
    );
    let _ = std::io::stdout().flush();
    let mut sig = 0;
    // SAFETY: `set` was initialised above; sigwait writes the signal number.
    unsafe { libc::sigwait(&set, &mut sig) };
    eprintln!("service: signal {sig}, stopping");
    match server.stop() {
        Ok(n) => println!("stopped after {n} requests"),
        Err(e) => {
            eprintln!("service: stopping failed: {e}");
            exit(1);
        }
    }
}
