//! A CPU profile with names: [`RawProfile`] symbolized, written three ways
//! (Go's `pprof.StopCPUProfile` output, `go tool pprof -raw`, and the
//! folded stacks Brendan Gregg's `flamegraph.pl` and `inferno` read).

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use crate::builder::ProfileBuilder;
use crate::cpu::RawProfile;
use crate::symbols::Symbolizer;

/// Labels as pairs, in key order.
type LabelPairs = Vec<(String, String)>;

/// One distinct stack and how often it was sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackCount {
    /// Function names, root first (inlined functions expanded in place).
    pub stack: Vec<String>,
    /// The G that was running (`None`: not polling a G).
    pub g: Option<u64>,
    /// Its labels.
    pub labels: Vec<(String, String)>,
    /// Samples with exactly this stack, G and labels.
    pub count: u64,
}

/// A symbolized CPU profile.
#[derive(Debug, Clone, Default)]
pub struct CpuProfile {
    /// The samples, aggregated.
    pub stacks: Vec<StackCount>,
    /// Nanoseconds of CPU each sample stands for (1e9 / hz).
    pub period_ns: u64,
    /// The raw samples, for `profile.proto` (which keeps addresses).
    pub raw: RawProfile,
}

impl RawProfile {
    /// Resolves every address to names (see [`crate::symbols`]).
    pub fn symbolize(self) -> CpuProfile {
        let mut sym = Symbolizer::new();
        let mut agg: BTreeMap<(Vec<String>, Option<u64>, LabelPairs), u64> = BTreeMap::new();
        for s in &self.samples {
            let mut stack = Vec::new();
            for (i, &pc) in s.frames.iter().enumerate().rev() {
                // frames() is innermost first; root-first order reverses it.
                for f in sym.frames(pc, i != 0).iter().rev() {
                    stack.push(f.function.clone());
                }
            }
            *agg.entry((stack, s.g, s.labels.clone())).or_default() += 1;
        }
        CpuProfile {
            stacks: agg
                .into_iter()
                .map(|((stack, g, labels), count)| StackCount {
                    stack,
                    g,
                    labels,
                    count,
                })
                .collect(),
            period_ns: 1_000_000_000 / self.hz.max(1) as u64,
            raw: self,
        }
    }

    /// The gzipped `profile.proto` Go's CPU profile is: sample types
    /// `samples/count` and `cpu/nanoseconds`, period 1/hz of CPU, each
    /// sample labelled with its G's labels and its G id (`goroutine`).
    /// No samples gives an empty but valid profile.
    pub fn to_pprof(&self) -> Vec<u8> {
        let period = 1_000_000_000 / self.hz.max(1) as i64;
        let mut b = ProfileBuilder::new(
            &[("samples", "count"), ("cpu", "nanoseconds")],
            ("cpu", "nanoseconds"),
            period,
        );
        let t0 = self
            .start
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        b.time(t0, self.duration.as_nanos() as i64);
        b.default_sample_type(1);
        let mut agg: BTreeMap<(&[u64], Option<u64>, &LabelPairs), i64> = BTreeMap::new();
        for s in &self.samples {
            *agg.entry((&s.frames, s.g, &s.labels)).or_default() += 1;
        }
        for ((frames, g, labels), n) in agg {
            let nums: Vec<(&str, i64, &str)> =
                g.map(|g| ("goroutine", g as i64, "")).into_iter().collect();
            b.add_pcs(frames, true, vec![n, n * period], labels, &nums);
        }
        b.finish()
    }
}

impl CpuProfile {
    /// Total samples.
    pub fn samples(&self) -> u64 {
        self.stacks.iter().map(|s| s.count).sum()
    }

    /// Samples whose stack contains a function whose name contains `name`.
    pub fn samples_in(&self, name: &str) -> u64 {
        self.stacks
            .iter()
            .filter(|s| s.stack.iter().any(|f| f.contains(name)))
            .map(|s| s.count)
            .sum()
    }

    /// Folded stacks, one line per distinct stack: `root;...;leaf N`,
    /// sorted (the format `inferno-flamegraph` and `flamegraph.pl` read).
    pub fn folded(&self) -> String {
        self.folded_with(|_| None)
    }

    /// Folded stacks with the value of label `key` as an extra root frame
    /// (`key=value`, or `key=` for samples without it): one flame graph,
    /// split into a tower per route.
    pub fn folded_by(&self, key: &str) -> String {
        self.folded_with(|s| {
            let v = s
                .labels
                .iter()
                .find(|(k, _)| k == key)
                .map_or("", |(_, v)| v.as_str());
            Some(format!("{key}={v}"))
        })
    }

    fn folded_with(&self, root: impl Fn(&StackCount) -> Option<String>) -> String {
        let mut agg: BTreeMap<String, u64> = BTreeMap::new();
        for s in &self.stacks {
            let mut frames: Vec<String> = root(s).into_iter().collect();
            frames.extend(s.stack.iter().map(|f| f.replace(';', ":")));
            if frames.is_empty() {
                continue;
            }
            *agg.entry(frames.join(";")).or_default() += s.count;
        }
        agg.into_iter().map(|(k, n)| format!("{k} {n}\n")).collect()
    }

    /// The gzipped `profile.proto` (see [`RawProfile::to_pprof`]).
    pub fn to_pprof(&self) -> Vec<u8> {
        self.raw.to_pprof()
    }
}
