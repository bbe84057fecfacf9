//! Cache misses: the CPU's own counters when the machine has them, and
//! cachegrind's simulation when it does not.
//!
//! **Hardware counters.** Linux exposes the PMU through `perf_event_open`:
//! ask for `PERF_COUNT_HW_CACHE_MISSES` on this thread, run, read a
//! counter. Virtual machines often hide the PMU; then the call fails
//! (`ENOENT`, `EOPNOTSUPP`) and `perf stat` prints `<not supported>
//! cache-misses`. [`probe_hw_cache_misses`] says which, plainly.
//!
//! **Cachegrind.** Valgrind's cachegrind runs the program on a simulated
//! I1/D1/LL hierarchy and counts, per source line, reads (`Dr`), writes
//! (`Dw`) and their misses at each level (`D1mr`, `DLmr`, `D1mw`,
//! `DLmw`). The geometry is pinned (`--D1=49152,12,64 --LL=2097152,16,64`,
//! a 48 KiB 12-way L1d and 2 MiB of last level, 64-byte lines) so the
//! numbers do not depend on the host CPU. [`parse_cachegrind`] reads its
//! output file; [`HeatMap`] sums it per function and per line and draws
//! it. Cachegrind simulates one cache and runs threads one at a time, so
//! it cannot show false sharing (two cores fighting over one line): that
//! needs real cores, see the alignment lesson.

use std::collections::BTreeMap;
use std::fmt::Write;

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HwCounters {
    /// The counter works: cache misses counted over a small loop.
    Available(u64),
    /// `perf_event_open` refused: why, in words.
    Absent(String),
}

/// Tries `perf_event_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES)`
/// on this thread, user space only, over a loop that misses.
pub fn probe_hw_cache_misses() -> HwCounters {
    // perf_event_attr, 128 bytes (PERF_ATTR_SIZE_VER7); only the fields
    // we set are non-zero: type (0 = HARDWARE), size, config (3 =
    // CACHE_MISSES), and the flags word at byte 40: disabled (bit 0),
    // exclude_kernel (bit 5), exclude_hv (bit 6).
    let mut attr = [0u64; 16];
    attr[0] = 128u64 << 32; // type 0 in the low half, size in the high half
    attr[1] = 3;
    attr[5] = 1 | (1 << 5) | (1 << 6);
    // SAFETY: attr is a valid, zero-padded perf_event_attr of the size
    // it declares; pid 0 / cpu -1 / group -1 / flags 0 is "this thread".
    let fd =
        unsafe { libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), 0, -1, -1, 0) as i32 };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return HwCounters::Absent(format!(
            "perf_event_open(PERF_COUNT_HW_CACHE_MISSES) failed: {e}; this machine exposes no \
             hardware cache counters (perf stat would print <not supported>)"
        ));
    }
    const ENABLE: libc::c_ulong = 0x2400;
    const DISABLE: libc::c_ulong = 0x2401;
    let v: Vec<u64> = (0..(4 << 20) / 8).collect();
    // SAFETY: fd is the perf event we opened; ioctl/read/close on it.
    unsafe {
        libc::ioctl(fd, ENABLE, 0);
        let mut s = 0u64;
        for i in (0..v.len()).step_by(8) {
            s = s.wrapping_add(std::hint::black_box(v[(i * 4099) % v.len()]));
        }
        std::hint::black_box(s);
        libc::ioctl(fd, DISABLE, 0);
        let mut count = 0u64;
        let n = libc::read(fd, (&mut count as *mut u64).cast(), 8);
        libc::close(fd);
        if n != 8 {
            return HwCounters::Absent("perf event opened but could not be read".into());
        }
        HwCounters::Available(count)
    }
}

/// Cachegrind's counts of one source line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCounts {
    /// Data reads.
    pub dr: u64,
    /// D1 read misses.
    pub d1mr: u64,
    /// Last-level read misses.
    pub dlmr: u64,
    /// Data writes.
    pub dw: u64,
    /// D1 write misses.
    pub d1mw: u64,
    /// Last-level write misses.
    pub dlmw: u64,
}

impl LineCounts {
    fn add(&mut self, o: &LineCounts) {
        self.dr += o.dr;
        self.d1mr += o.d1mr;
        self.dlmr += o.dlmr;
        self.dw += o.dw;
        self.d1mw += o.d1mw;
        self.dlmw += o.dlmw;
    }
    /// D1 misses, reads and writes.
    pub fn d1(&self) -> u64 {
        self.d1mr + self.d1mw
    }
    /// Last-level misses, reads and writes.
    pub fn ll(&self) -> u64 {
        self.dlmr + self.dlmw
    }
}

/// Cachegrind's output, by (file, function, line).
#[derive(Debug, Clone, Default)]
pub struct HeatMap {
    /// Counts per (function, file, line).
    pub lines: BTreeMap<(String, String, u32), LineCounts>,
}

/// Parses a `cachegrind.out.PID` file (`--cache-sim=yes`).
pub fn parse_cachegrind(text: &str) -> Result<HeatMap, String> {
    let mut events: Vec<String> = Vec::new();
    let mut file = String::new();
    let mut func = String::new();
    let mut m = HeatMap::default();
    for (i, line) in text.lines().enumerate() {
        if let Some(e) = line.strip_prefix("events: ") {
            events = e.split_whitespace().map(str::to_string).collect();
        } else if let Some(f) = line
            .strip_prefix("fl=")
            .or_else(|| line.strip_prefix("fi="))
            .or_else(|| line.strip_prefix("fe="))
        {
            file = f.to_string();
        } else if let Some(f) = line.strip_prefix("fn=") {
            func = f.to_string();
        } else if line.starts_with(|c: char| c.is_ascii_digit()) {
            if events.is_empty() {
                return Err(format!("line {}: counts before the events: line", i + 1));
            }
            let mut it = line.split_whitespace();
            let n: u32 = it
                .next()
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("line {}: bad line number", i + 1))?;
            let mut c = LineCounts::default();
            for (name, v) in events.iter().zip(it) {
                let v: u64 = v
                    .parse()
                    .map_err(|_| format!("line {}: bad count {v:?}", i + 1))?;
                match name.as_str() {
                    "Dr" => c.dr = v,
                    "D1mr" => c.d1mr = v,
                    "DLmr" => c.dlmr = v,
                    "Dw" => c.dw = v,
                    "D1mw" => c.d1mw = v,
                    "DLmw" => c.dlmw = v,
                    _ => {}
                }
            }
            m.lines
                .entry((func.clone(), file.clone(), n))
                .or_default()
                .add(&c);
        }
    }
    if events.iter().all(|e| e != "D1mr") {
        return Err("no D1mr counts: run cachegrind with --cache-sim=yes".into());
    }
    Ok(m)
}

impl HeatMap {
    /// Totals per function, most D1 misses first.
    pub fn by_function(&self) -> Vec<(String, LineCounts)> {
        let mut f: BTreeMap<&str, LineCounts> = BTreeMap::new();
        for ((func, _, _), c) in &self.lines {
            f.entry(func).or_default().add(c);
        }
        let mut v: Vec<_> = f.into_iter().map(|(k, c)| (k.to_string(), c)).collect();
        v.sort_by_key(|(_, c)| std::cmp::Reverse(c.d1()));
        v
    }

    /// The lines of functions whose name contains `name`, most D1 misses
    /// first.
    pub fn lines_of(&self, name: &str) -> Vec<(String, u32, LineCounts)> {
        let mut v: Vec<_> = self
            .lines
            .iter()
            .filter(|((f, _, _), _)| f.contains(name))
            .map(|((_, file, line), c)| (file.clone(), *line, *c))
            .collect();
        v.sort_by_key(|(_, _, c)| std::cmp::Reverse(c.d1()));
        v
    }

    /// A heat map as SVG: one row per (function or line) label, a bar for
    /// D1 misses and one for LL misses, red as the share grows.
    pub fn svg(rows: &[(String, LineCounts)], title: &str) -> String {
        let max = rows.iter().map(|(_, c)| c.d1()).max().unwrap_or(0).max(1) as f64;
        let h = 40 + rows.len() * 22;
        let mut s = format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{h}" font-family="monospace" font-size="11">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="10" y="18" font-size="13">{title}: D1 misses (upper bar), LL misses (lower bar)</text>
"##
        );
        for (i, (label, c)) in rows.iter().enumerate() {
            let y = 30 + i * 22;
            let share = c.d1() as f64 / max;
            let red = (80.0 + 175.0 * share) as u32;
            let label: String = label.chars().take(48).collect();
            let _ = writeln!(
                s,
                r#"<text x="10" y="{}">{}</text><rect x="360" y="{}" width="{:.1}" height="9" fill="rgb({red},60,50)"/><rect x="360" y="{}" width="{:.1}" height="7" fill="rgb(120,60,{red})"/><text x="{:.1}" y="{}">{} / {}</text>"#,
                y + 12,
                label
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;"),
                y,
                (400.0 * share).max(0.5),
                y + 10,
                (400.0 * c.ll() as f64 / max).max(0.5),
                365.0 + 400.0 * share,
                y + 9,
                c.d1(),
                c.ll()
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "desc: D1 cache: 49152 B, 64 B, 12-way associative
cmd: ./x
events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw
fl=src/a.rs
fn=cols
10 5 0 0 100 90 10 0 0 0
11 1 0 0 0 0 0 50 40 5
fn=rows
20 5 0 0 100 6 1 0 0 0
fl=src/b.rs
fn=cols
30 1 0 0 10 2 0 0 0 0
";

    #[test]
    fn counts_sum_per_function_and_per_line() {
        let m = parse_cachegrind(OUT).unwrap();
        let f = m.by_function();
        assert_eq!(f[0].0, "cols", "most D1 misses first");
        assert_eq!(f[0].1.d1(), 90 + 40 + 2);
        assert_eq!(f[0].1.ll(), 10 + 5);
        assert_eq!(f[1].1.d1(), 6);
        let l = m.lines_of("cols");
        assert_eq!((l[0].0.as_str(), l[0].1, l[0].2.d1mr), ("src/a.rs", 10, 90));
        assert!(
            parse_cachegrind("events: Ir\n1 2\n")
                .unwrap_err()
                .contains("cache-sim")
        );
        let svg = HeatMap::svg(&f, "t");
        assert!(
            svg.contains(">cols</text>") && svg.contains("132 / 15"),
            "{svg}"
        );
    }

    #[test]
    fn the_probe_answers_either_way() {
        match probe_hw_cache_misses() {
            HwCounters::Available(_) => {}
            HwCounters::Absent(why) => assert!(why.contains("perf_event_open"), "{why}"),
        }
    }
}
