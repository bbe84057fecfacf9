//! The CPU profiler: SIGPROF at 100 Hz per thread of CPU time, a stack per
//! signal (Go's `runtime/pprof.StartCPUProfile`, `runtime.sigprof`).
//!
//! **The clock.** One POSIX timer per thread, on that thread's CPU-time
//! clock, delivering SIGPROF to that very thread (`SIGEV_THREAD_ID`): a
//! thread that burns 10 ms of CPU gets one signal, a sleeping thread none.
//! This is what Go does since 1.18; before, one process-wide `setitimer`
//! delivered its signals to whichever thread the kernel picked and lost
//! most of them past about 2.5 busy cores (go#35057). Go's Ms arm their own
//! timer with `CLOCK_THREAD_CPUTIME_ID`; this profiler lives outside the
//! scheduler, so its collector thread arms one for every thread listed in
//! `/proc/self/task`, naming each thread's CPU clock by its tid (the same
//! clock id glibc's `pthread_getcpuclockid` returns), and rescans every
//! tick so threads started later are profiled too.
//!
//! **The handler** may interrupt anything, `malloc` and our own allocator's
//! locks included, so it allocates nothing and locks nothing. It reads the
//! interrupted pc, frame pointer and stack pointer from the signal's
//! `ucontext`, walks the frame pointers ([`crate::walk`]), asks the runtime
//! which G was running ([`runtime::current_g_id`]) and copies that G's
//! labels ([`runtime::with_current_labels`], both lock-free), all into one
//! slot of a ring allocated before the first timer is armed (`ring.rs`:
//! slots claimed with a compare-and-swap, a handler that finds its slot
//! still full counts a lost sample instead of waiting; loom-checked). Go's
//! `profBuf` is the same idea: a lock-free log written by signal handlers,
//! read by one goroutine.
//!
//! **The collector** thread empties full slots every tick into ordinary
//! memory. At stop it disarms and deletes the timers, waits until no handler
//! is running, and takes the last slots. The handler stays installed for the
//! life of the process (a late SIGPROF with the default action would kill
//! it) and does nothing when no profile is running.
//!
//! Symbols are resolved afterwards, in [`crate::CpuProfile`].

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::ring::Ring;
use crate::walk;

/// Frames kept per sample (Go's `maxCPUProfStack` is 64).
pub const MAX_FRAMES: usize = 64;
/// Bytes of label text kept per sample (`key\x1evalue\x1f...`).
const LABEL_BYTES: usize = 192;
/// Slots in the ring: at 100 Hz on 2 cores the collector has seconds of slack.
const SLOTS: usize = 2048;
/// Go's default rate (`runtime.SetCPUProfileRate(100)`).
pub const DEFAULT_HZ: u32 = 100;

struct SlotData {
    g: u64,
    depth: usize,
    label_len: usize,
    frames: [u64; MAX_FRAMES],
    labels: [u8; LABEL_BYTES],
}

/// Allocated once, before the first timer, and never freed.
static RING: OnceLock<Ring<SlotData>> = OnceLock::new();
/// A profile is being taken (the handler records only then).
static SAMPLING: AtomicBool = AtomicBool::new(false);
/// Handlers running right now (stop waits for zero).
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);
/// One CPU profile at a time, as in Go.
static IN_USE: AtomicBool = AtomicBool::new(false);
static HANDLER: OnceLock<Result<(), i32>> = OnceLock::new();

/// Why a profile could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// Another CPU profile is running (Go's "cpu profiling already in use").
    InUse,
    /// `hz` was 0 or above 10 000.
    BadRate(u32),
    /// A system call failed (`sigaction`, `timer_create`).
    Os(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::InUse => f.write_str("cpu profiling already in use"),
            StartError::BadRate(hz) => write!(f, "profiling rate {hz} Hz is not in 1..=10000"),
            StartError::Os(e) => write!(f, "cannot start the cpu profiler: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// One signal's worth of evidence: where the thread was, which G ran.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawSample {
    /// Program counters, leaf first: the interrupted pc, then return addresses.
    pub frames: Vec<u64>,
    /// The G that was being polled (`None`: the thread was not polling a G).
    pub g: Option<u64>,
    /// That G's labels, in key order.
    pub labels: Vec<(String, String)>,
}

/// Samples as taken, before symbols (what [`CpuProfiler::stop`] returns).
#[derive(Debug, Clone, Default)]
pub struct RawProfile {
    /// Signals per second of CPU the profile was taken at.
    pub hz: u32,
    /// Every sample.
    pub samples: Vec<RawSample>,
    /// Samples lost because the ring was full.
    pub lost: u64,
    /// Wall time the profile covered.
    pub duration: Duration,
    /// When it started.
    pub start: Option<SystemTime>,
    /// Threads that had a timer.
    pub threads: usize,
}

/// A running CPU profile (Go's `StartCPUProfile` ... `StopCPUProfile`).
///
/// ```no_run
/// let p = profiler::CpuProfiler::start(100).unwrap();
/// // ... work ...
/// let profile = p.stop().symbolize();
/// print!("{}", profile.folded());
/// ```
pub struct CpuProfiler {
    stop: mpsc::Sender<()>,
    collector: Option<thread::JoinHandle<RawProfile>>,
}

impl CpuProfiler {
    /// Starts sampling every thread of the process at `hz` signals per
    /// second of CPU time. Fails with [`StartError::InUse`] while another
    /// profile runs.
    pub fn start(hz: u32) -> Result<CpuProfiler, StartError> {
        if hz == 0 || hz > 10_000 {
            return Err(StartError::BadRate(hz));
        }
        if IN_USE.swap(true, Ordering::AcqRel) {
            return Err(StartError::InUse);
        }
        match Self::start_in_use(hz) {
            Ok(p) => Ok(p),
            Err(e) => {
                IN_USE.store(false, Ordering::Release);
                Err(e)
            }
        }
    }

    fn start_in_use(hz: u32) -> Result<CpuProfiler, StartError> {
        walk::init();
        install_handler()?;
        let ring = RING.get_or_init(new_ring);
        ring.clear();
        let (stop, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let collector = thread::Builder::new()
            .name("cpu-profiler".into())
            .spawn(move || collect(hz, rx, ready_tx))
            .map_err(|e| StartError::Os(e.to_string()))?;
        // The first timers are armed before start returns, so work right
        // after `start` is profiled.
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = collector.join();
                return Err(StartError::Os(e));
            }
            Err(_) => return Err(StartError::Os("the collector thread died".into())),
        }
        Ok(CpuProfiler {
            stop,
            collector: Some(collector),
        })
    }

    /// Stops sampling and returns what was recorded.
    pub fn stop(mut self) -> RawProfile {
        self.finish()
    }

    fn finish(&mut self) -> RawProfile {
        let _ = self.stop.send(());
        let raw = self
            .collector
            .take()
            .and_then(|c| c.join().ok())
            .unwrap_or_default();
        IN_USE.store(false, Ordering::Release);
        raw
    }
}

impl Drop for CpuProfiler {
    fn drop(&mut self) {
        if self.collector.is_some() {
            self.finish();
        }
    }
}

/// The ring's slots, allocated once before the first timer is armed.
fn new_ring() -> Ring<SlotData> {
    Ring::new(SLOTS, || SlotData {
        g: 0,
        depth: 0,
        label_len: 0,
        frames: [0; MAX_FRAMES],
        labels: [0; LABEL_BYTES],
    })
}

/// Moves every full slot of `ring` into `out`.
fn drain(ring: &Ring<SlotData>, out: &mut Vec<RawSample>) {
    ring.drain(|d| {
        out.push(RawSample {
            frames: d.frames[..d.depth].to_vec(),
            g: (d.g != u64::MAX).then_some(d.g),
            labels: parse_labels(&d.labels[..d.label_len]),
        })
    });
}

fn parse_labels(b: &[u8]) -> Vec<(String, String)> {
    b.split(|&c| c == 0x1f)
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let mut kv = p.splitn(2, |&c| c == 0x1e);
            let k = kv.next()?;
            let v = kv.next()?;
            Some((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ))
        })
        .collect()
}

fn install_handler() -> Result<(), StartError> {
    let r = HANDLER.get_or_init(|| {
        // SAFETY: a zeroed sigaction is valid; we fill in the handler, flags
        // and an empty mask before passing it to the kernel.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigprof as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(libc::SIGPROF, &sa, std::ptr::null_mut()) != 0 {
                return Err(*libc::__errno_location());
            }
        }
        Ok(())
    });
    r.map_err(|e| {
        StartError::Os(format!(
            "sigaction(SIGPROF): {}",
            std::io::Error::from_raw_os_error(e)
        ))
    })
}

/// The SIGPROF handler. Async-signal-safe: atomics, the frame-pointer walk,
/// two lock-free runtime reads and byte copies; errno is preserved.
extern "C" fn on_sigprof(_sig: libc::c_int, _info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    if SAMPLING.load(Ordering::SeqCst)
        && let Some(ring) = RING.get()
    {
        // SAFETY: errno is a thread-local int; reading and restoring it
        // keeps the interrupted code's errno intact.
        let errno = unsafe { *libc::__errno_location() };
        record(ring, uc);
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno };
    }
    IN_HANDLER.fetch_sub(1, Ordering::SeqCst);
}

fn record(ring: &Ring<SlotData>, uc: *mut libc::c_void) {
    // A slot still full (the collector is behind) is a lost sample.
    ring.push(|d| fill(d, uc));
}

/// Writes one sample of the interrupted context `uc` into `d`.
fn fill(d: &mut SlotData, uc: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO handler.
    let (pc, fp, sp) = unsafe {
        let g = &(*(uc as *const libc::ucontext_t)).uc_mcontext.gregs;
        (
            g[libc::REG_RIP as usize] as u64,
            g[libc::REG_RBP as usize] as u64,
            g[libc::REG_RSP as usize] as u64,
        )
    };
    d.depth = walk::walk(pc, fp, sp, &mut d.frames);
    d.g = runtime::current_g_id().unwrap_or(u64::MAX);
    d.label_len = runtime::with_current_labels(|pairs| {
        let mut n = 0;
        for (k, v) in pairs {
            let need = k.len() + v.len() + 2;
            if n + need > LABEL_BYTES {
                break;
            }
            d.labels[n..n + k.len()].copy_from_slice(k.as_bytes());
            n += k.len();
            d.labels[n] = 0x1e;
            n += 1;
            d.labels[n..n + v.len()].copy_from_slice(v.as_bytes());
            n += v.len();
            d.labels[n] = 0x1f;
            n += 1;
        }
        n
    });
}

/// The thread's CPU-time clock, named by tid (glibc's
/// `MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)`, what
/// `pthread_getcpuclockid` returns for that thread).
fn thread_cpu_clock(tid: i32) -> libc::clockid_t {
    ((!tid) << 3) | 6
}

struct Timer(libc::timer_t);

impl Timer {
    /// A timer on `tid`'s CPU clock that sends SIGPROF to `tid` every
    /// `interval` of its CPU time.
    fn arm(tid: i32, interval: Duration) -> Result<Timer, i32> {
        // SAFETY: sigevent is plain data; timer_create writes `id`.
        unsafe {
            let mut ev: libc::sigevent = std::mem::zeroed();
            ev.sigev_notify = libc::SIGEV_THREAD_ID;
            ev.sigev_signo = libc::SIGPROF;
            ev.sigev_notify_thread_id = tid;
            let mut id: libc::timer_t = std::ptr::null_mut();
            if libc::timer_create(thread_cpu_clock(tid), &mut ev, &mut id) != 0 {
                return Err(*libc::__errno_location());
            }
            let ts = libc::timespec {
                tv_sec: interval.as_secs() as libc::time_t,
                tv_nsec: interval.subsec_nanos() as libc::c_long,
            };
            let spec = libc::itimerspec {
                it_interval: ts,
                it_value: ts,
            };
            if libc::timer_settime(id, 0, &spec, std::ptr::null_mut()) != 0 {
                let e = *libc::__errno_location();
                libc::timer_delete(id);
                return Err(e);
            }
            Ok(Timer(id))
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: the id came from timer_create and is deleted once.
        unsafe { libc::timer_delete(self.0) };
    }
}

fn thread_ids() -> Vec<i32> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Arms a timer for every thread not armed yet.
fn arm_new(timers: &mut HashMap<i32, Timer>, interval: Duration) -> Result<(), String> {
    for tid in thread_ids() {
        if timers.contains_key(&tid) {
            continue;
        }
        match Timer::arm(tid, interval) {
            Ok(t) => {
                timers.insert(tid, t);
            }
            // The thread exited between the listing and the call.
            Err(libc::EINVAL) | Err(libc::ESRCH) => {}
            Err(e) => {
                return Err(format!(
                    "timer_create for thread {tid}: {}",
                    std::io::Error::from_raw_os_error(e)
                ));
            }
        }
    }
    Ok(())
}

/// The collector thread's body.
fn collect(
    hz: u32,
    stop: mpsc::Receiver<()>,
    ready: mpsc::Sender<Result<(), String>>,
) -> RawProfile {
    let ring = RING.get().expect("allocated before the collector starts");
    let interval = Duration::from_nanos(1_000_000_000 / hz as u64);
    let started = Instant::now();
    let start = SystemTime::now();
    let mut timers = HashMap::new();
    let mut samples = Vec::new();
    SAMPLING.store(true, Ordering::SeqCst);
    let first = arm_new(&mut timers, interval);
    let failed = first.is_err();
    let _ = ready.send(first);
    if !failed {
        // Tick: take what the handlers wrote and arm new threads; a
        // message (or a dropped profiler) ends the profile.
        while let Err(mpsc::RecvTimeoutError::Timeout) =
            stop.recv_timeout(Duration::from_millis(20))
        {
            drain(ring, &mut samples);
            let _ = arm_new(&mut timers, interval);
        }
    }
    let threads = timers.len();
    drop(timers); // disarms every timer
    SAMPLING.store(false, Ordering::SeqCst);
    // A handler that saw SAMPLING true may still be writing its slot.
    while IN_HANDLER.load(Ordering::SeqCst) != 0 {
        std::hint::spin_loop();
    }
    drain(ring, &mut samples);
    RawProfile {
        hz,
        samples,
        lost: ring.lost(),
        duration: started.elapsed(),
        start: Some(start),
        threads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_the_slot_encoding() {
        let b = b"route\x1e/work\x1ftenant\x1ea\x1f";
        assert_eq!(
            parse_labels(b),
            vec![
                ("route".to_string(), "/work".to_string()),
                ("tenant".to_string(), "a".to_string())
            ]
        );
        assert!(parse_labels(b"").is_empty());
    }

    #[test]
    fn thread_clock_matches_glibc() {
        // SAFETY: pthread_self and pthread_getcpuclockid have no preconditions.
        let glibc = unsafe {
            let mut c: libc::clockid_t = 0;
            assert_eq!(libc::pthread_getcpuclockid(libc::pthread_self(), &mut c), 0);
            c
        };
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        assert_eq!(thread_cpu_clock(tid), glibc);
    }
}
