//! Lesson 23: Fan-out under a deadline — three stages at once, the first error wins, nothing left running
//!
//! A media job runs three stages over the same frames: *validate* (each
//! frame's checksum), *watermark* (a pattern mixed into a copy of each
//! frame) and *encode* (delta then run-length coding). They do not depend on
//! each other, so they run at once, as members of a `runtime::sync::ErrGroup`
//! (Go's `errgroup`). The lesson runs the job four ways and measures each:
//!
//! 1. clean input: all three finish; the group's wall time against the sum
//!    of the stages';
//! 2. a corrupt frame: validation fails, the error wins, and the other two
//!    stages stop at their next `.await` — the lesson prints how far each
//!    got, and that no member is alive after `wait`;
//! 3. a deadline shorter than the job: the watchdog cancels every stage with
//!    `DeadlineExceeded`;
//! 4. a batch of segments under `limit(n)`: how many run at once (the peak
//!    the members record) and what the limit costs in wall time.
//!
//! Every stage yields after each frame (`runtime::yield_now`): that `.await`
//! is where a cancelled stage stops. A stage that never awaited could not be
//! stopped, in Rust as in Go, where a goroutine stops only when it checks
//! `ctx.Done()` itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use runtime::Runtime;
use runtime::sync::{ErrGroup, GroupError, GroupStats};
use serde::Serialize;

/// Bytes that open every frame, so validation has something to check.
const MAGIC: [u8; 4] = *b"FRM0";

fn main() {
    let args = Cli::new("lesson-23", "fan-out under a deadline")
        .number("--frames", "N", "frames in the job", 600, 30..=20_000)
        .number("--frame-kb", "KB", "size of each frame", 32, 1..=1024)
        .number("--procs", "N", "Ps of the runtime", 3, 1..=16)
        .parse();
    let (frames, frame_kb, procs) = if args.quick() {
        (150, 16, 3)
    } else {
        (
            args.number("--frames") as usize,
            args.number("--frame-kb") as usize,
            args.number("--procs") as usize,
        )
    };

    title("Lesson 23", "Fan-out under a deadline");
    explain(&format!(
        "A job of {frames} frames of {frame_kb} KiB, three stages (validate, watermark, \
         encode) as members of one ErrGroup on a runtime with {procs} Ps. Each stage \
         awaits after every frame: that is where cancellation can stop it."
    ));
    let rt = Runtime::builder()
        .procs(procs)
        .build()
        .expect("build the runtime");
    let dir = artefacts::lesson_dir(23).expect("create target/lessons/lesson-23");
    let clean = Arc::new(make_frames(frames, frame_kb * 1024, None));
    let bad_at = frames * 3 / 10;
    let corrupt = Arc::new(make_frames(frames, frame_kb * 1024, Some(bad_at)));

    // 1. Clean input, and each stage alone for the sum.
    let alone: Vec<Duration> = Stage::ALL
        .iter()
        .map(|&s| {
            let f = clean.clone();
            rt.block_on(async move {
                let t = Instant::now();
                s.run(&f, &Progress::default()).await.expect("clean frames");
                t.elapsed()
            })
        })
        .collect();
    let together = rt.block_on(job(clean.clone(), None));
    section("1. Clean input: the three stages at once");
    let sum: Duration = alone.iter().sum();
    let mut t = Table::new(["stage", "alone", "frames done in the group"]);
    for (i, s) in Stage::ALL.iter().enumerate() {
        t.row([
            s.name().to_string(),
            ms(alone[i]),
            format!("{}/{frames}", together.done[i]),
        ]);
    }
    t.print();
    println!(
        "sum of the stages alone: {}; the group: {} ({:.2}x); result: {}",
        ms(sum),
        ms(together.elapsed),
        sum.as_secs_f64() / together.elapsed.as_secs_f64(),
        together.result
    );
    notice(
        "with a core free for each stage the group takes about as long as its slowest stage; \
         with fewer free cores (another build running, fewer Ps) it takes longer: compare the \
         two lines above on your machine.",
    );

    // 2. A corrupt frame.
    let failed = rt.block_on(job(corrupt.clone(), None));
    section(&format!(
        "2. Frame {bad_at} is corrupt: the first error wins"
    ));
    print_progress(&failed, frames);
    println!("first error: {}", failed.result);
    println!(
        "members cancelled: {}, running after wait: {}",
        failed.stats.cancelled, failed.stats.running
    );
    notice(
        "validation stopped the job at its bad frame; the other two stages were dropped at \
         their next await, part-way through, instead of finishing work nobody would read.",
    );

    // 3. A deadline shorter than the job.
    let deadline = together.elapsed * 2 / 5;
    let late = rt.block_on(job(clean.clone(), Some(deadline)));
    section(&format!(
        "3. A deadline of {} (40% of the clean run)",
        ms(deadline)
    ));
    print_progress(&late, frames);
    println!("result: {}", late.result);
    println!(
        "members cancelled: {}, running after wait: {}",
        late.stats.cancelled, late.stats.running
    );

    // 4. A batch of segments under a limit.
    section("4. Twelve segments, each encoded by one member, under limit(n)");
    let segment = Arc::new(make_frames(frames / 6, frame_kb * 1024, None));
    let mut t = Table::new(["limit", "wall time", "peak members at once"]);
    let mut batches = Vec::new();
    for limit in [1, 2, 4, 12] {
        let b = rt.block_on(batch(segment.clone(), 12, limit));
        t.row([limit.to_string(), ms(b.elapsed), b.peak.to_string()]);
        println!("limit {limit}: peak {} at once", b.peak);
        batches.push(b);
    }
    t.print();
    notice(&format!(
        "the peak never passes the limit; past {procs} (the Ps) a higher limit buys no speed, \
         only more Gs waiting their turn."
    ));

    let out = serde_json::json!({
        "frames": frames,
        "frame_kb": frame_kb,
        "procs": procs,
        "stages_alone_ms": alone.iter().map(|d| d.as_secs_f64() * 1e3).collect::<Vec<_>>(),
        "clean": together,
        "corrupt": failed,
        "deadline_ms": deadline.as_secs_f64() * 1e3,
        "deadline": late,
        "batches": batches,
    });
    let path = artefacts::write(
        &dir,
        "fanout.json",
        &serde_json::to_string_pretty(&out).expect("serialise"),
    )
    .expect("write fanout.json");
    wrote("the four runs' figures", &path);
}

/// One frame: MAGIC, a 4-byte FNV-1a checksum of the payload, the payload.
fn make_frames(n: usize, size: usize, corrupt: Option<usize>) -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    (0..n)
        .map(|i| {
            let mut payload = vec![0u8; size - 8];
            for (j, b) in payload.iter_mut().enumerate() {
                // Runs of equal bytes, so run-length coding has work to do.
                if j % 16 == 0 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                }
                *b = (seed >> 56) as u8 & 0xf0;
            }
            let mut sum = fnv1a(&payload);
            if corrupt == Some(i) {
                sum ^= 1;
            }
            let mut f = Vec::with_capacity(size);
            f.extend_from_slice(&MAGIC);
            f.extend_from_slice(&sum.to_le_bytes());
            f.extend_from_slice(&payload);
            f
        })
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The three stages of the job.
#[derive(Clone, Copy)]
enum Stage {
    Validate,
    Watermark,
    Encode,
}

/// Frames each stage has finished, counted while it runs.
#[derive(Default)]
struct Progress([AtomicUsize; 3]);

impl Stage {
    const ALL: [Stage; 3] = [Stage::Validate, Stage::Watermark, Stage::Encode];

    fn name(self) -> &'static str {
        match self {
            Stage::Validate => "validate",
            Stage::Watermark => "watermark",
            Stage::Encode => "encode",
        }
    }

    /// Runs the stage over every frame, awaiting after each one.
    async fn run(self, frames: &[Vec<u8>], progress: &Progress) -> Result<(), String> {
        let mut out = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            match self {
                Stage::Validate => {
                    let sum = u32::from_le_bytes(f[4..8].try_into().expect("4 bytes"));
                    if f[..4] != MAGIC || fnv1a(&f[8..]) != sum {
                        return Err(format!("frame {i} failed its checksum"));
                    }
                }
                Stage::Watermark => {
                    out.clear();
                    out.extend(
                        f[8..]
                            .iter()
                            .enumerate()
                            .map(|(j, &b)| b ^ (j as u8 & 0x0f)),
                    );
                }
                Stage::Encode => {
                    out.clear();
                    let mut prev = 0u8;
                    let mut run = 0u8;
                    for &b in &f[8..] {
                        let d = b.wrapping_sub(prev);
                        prev = b;
                        if d == 0 && run < u8::MAX {
                            run += 1;
                        } else {
                            out.extend_from_slice(&[run, d]);
                            run = 0;
                        }
                    }
                }
            }
            std::hint::black_box(&out);
            progress.0[self as usize].fetch_add(1, Ordering::Relaxed);
            runtime::yield_now().await;
        }
        Ok(())
    }
}

/// What one run of the job did.
#[derive(Serialize)]
struct JobRun {
    result: String,
    #[serde(serialize_with = "as_ms")]
    elapsed: Duration,
    done: [usize; 3],
    stats: Stats,
}

/// [`GroupStats`] as the lesson's JSON shows it.
#[derive(Serialize)]
struct Stats {
    spawned: usize,
    running: usize,
    succeeded: usize,
    failed: usize,
    cancelled: usize,
}

impl From<GroupStats> for Stats {
    fn from(s: GroupStats) -> Self {
        Stats {
            spawned: s.spawned,
            running: s.running,
            succeeded: s.succeeded,
            failed: s.failed,
            cancelled: s.cancelled,
        }
    }
}

/// The three stages as one group, with an optional deadline.
async fn job(frames: Arc<Vec<Vec<u8>>>, deadline: Option<Duration>) -> JobRun {
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let mut g = ErrGroup::new();
    if let Some(d) = deadline {
        g = g.deadline(d);
    }
    for stage in Stage::ALL {
        let (frames, progress) = (frames.clone(), progress.clone());
        g.spawn(async move { stage.run(&frames, &progress).await })
            .await;
    }
    let (result, stats) = g.wait_with_stats().await;
    let elapsed = start.elapsed();
    JobRun {
        result: match result {
            Ok(()) => "ok".to_string(),
            Err(GroupError::Failed(e)) => e,
            Err(e) => e.to_string(),
        },
        elapsed,
        done: std::array::from_fn(|i| progress.0[i].load(Ordering::Relaxed)),
        stats: stats.into(),
    }
}

/// One batch of `segments` encode members under `limit(limit)`.
#[derive(Serialize)]
struct Batch {
    limit: usize,
    #[serde(serialize_with = "as_ms")]
    elapsed: Duration,
    peak: usize,
}

async fn batch(segment: Arc<Vec<Vec<u8>>>, segments: usize, limit: usize) -> Batch {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut g = ErrGroup::<String>::new()
        .limit(limit)
        .expect("the lesson's limits are at least 1");
    for _ in 0..segments {
        let (segment, now, peak) = (segment.clone(), now.clone(), peak.clone());
        g.spawn(async move {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(n, Ordering::SeqCst);
            let r = Stage::Encode.run(&segment, &Progress::default()).await;
            now.fetch_sub(1, Ordering::SeqCst);
            r
        })
        .await;
    }
    g.wait().await.expect("encoding clean segments succeeds");
    Batch {
        limit,
        elapsed: start.elapsed(),
        peak: peak.load(Ordering::SeqCst),
    }
}

fn print_progress(run: &JobRun, frames: usize) {
    let mut t = Table::new(["stage", "frames done when the group ended"]);
    for (i, s) in Stage::ALL.iter().enumerate() {
        t.row([s.name().to_string(), format!("{}/{frames}", run.done[i])]);
    }
    t.print();
    println!("group wall time: {}", ms(run.elapsed));
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}
