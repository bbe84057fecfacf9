//! Assembling a `profile.proto` (Go's `runtime/pprof/proto.go`,
//! `profileBuilder`): strings, functions and locations are interned as
//! samples are added, so each appears once in the tables and samples refer
//! to them by id. Every profile this crate writes (CPU, heap, block, mutex)
//! goes through here; [`ProfileBuilder::finish`] gzips the encoded message,
//! which is the form `go tool pprof` and Go's `/debug/pprof/` exchange.

use std::collections::HashMap;
use std::io::Write;

use prost::Message;

use crate::proto;
use crate::symbols::{Frame, Symbolizer};

/// Builds one profile.
pub struct ProfileBuilder {
    p: proto::Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(String, String), u64>,
    by_pc: HashMap<(u64, bool), u64>,
    by_site: HashMap<Frame, u64>,
    symbols: Symbolizer,
    exe: Option<(u64, u64)>,
}

impl ProfileBuilder {
    /// A profile whose samples carry one value per entry of `sample_types`
    /// (`(type, unit)`, e.g. `("cpu", "nanoseconds")`), each sampling event
    /// standing for `period` of `period_type`.
    pub fn new(sample_types: &[(&str, &str)], period_type: (&str, &str), period: i64) -> Self {
        let mut b = ProfileBuilder {
            p: proto::Profile::default(),
            strings: HashMap::new(),
            functions: HashMap::new(),
            by_pc: HashMap::new(),
            by_site: HashMap::new(),
            symbols: Symbolizer::new(),
            exe: None,
        };
        b.string("");
        for (t, u) in sample_types {
            let vt = b.value_type(t, u);
            b.p.sample_type.push(vt);
        }
        b.p.period_type = Some(b.value_type(period_type.0, period_type.1));
        b.p.period = period;
        b.exe = b.main_mapping();
        b
    }

    /// Sets the start time and duration (nanoseconds).
    pub fn time(&mut self, time_nanos: i64, duration_nanos: i64) {
        self.p.time_nanos = time_nanos;
        self.p.duration_nanos = duration_nanos;
    }

    /// Makes the `index`-th sample type the one `pprof` shows by default.
    pub fn default_sample_type(&mut self, index: usize) {
        self.p.default_sample_type = self.p.sample_type[index].r#type;
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.p.string_table.len() as i64;
        self.p.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn value_type(&mut self, t: &str, u: &str) -> proto::ValueType {
        proto::ValueType {
            r#type: self.string(t),
            unit: self.string(u),
        }
    }

    /// The executable's mapping (mapping 1), already symbolized, so that
    /// `pprof` does not try to look the addresses up again.
    fn main_mapping(&mut self) -> Option<(u64, u64)> {
        let exe = std::fs::read_link("/proc/self/exe").ok()?;
        let exe_s = exe.display().to_string();
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let (mut lo, mut hi) = (u64::MAX, 0u64);
        for l in maps.lines() {
            if !l.ends_with(exe_s.as_str()) {
                continue;
            }
            let range = l.split_whitespace().next()?;
            let (a, b) = range.split_once('-')?;
            lo = lo.min(u64::from_str_radix(a, 16).ok()?);
            hi = hi.max(u64::from_str_radix(b, 16).ok()?);
        }
        if lo >= hi {
            return None;
        }
        let filename = self.string(&exe_s);
        self.p.mapping.push(proto::Mapping {
            id: 1,
            memory_start: lo,
            memory_limit: hi,
            filename,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
            ..Default::default()
        });
        Some((lo, hi))
    }

    fn function(&mut self, name: &str, file: &str) -> u64 {
        if let Some(&id) = self.functions.get(&(name.to_string(), file.to_string())) {
            return id;
        }
        let id = self.p.function.len() as u64 + 1;
        let f = proto::Function {
            id,
            name: self.string(name),
            system_name: self.string(name),
            filename: self.string(file),
            start_line: 0,
        };
        self.p.function.push(f);
        self.functions
            .insert((name.to_string(), file.to_string()), id);
        id
    }

    fn line(&mut self, f: &Frame) -> proto::Line {
        proto::Line {
            function_id: self.function(&f.function, &f.file),
            line: f.line as i64,
            column: 0,
        }
    }

    /// The location of a program counter (symbolized here, once).
    pub fn location_of_pc(&mut self, pc: u64, is_return: bool) -> u64 {
        if let Some(&id) = self.by_pc.get(&(pc, is_return)) {
            return id;
        }
        let frames = self.symbols.frames(pc, is_return).to_vec();
        let line = frames.iter().map(|f| self.line(f)).collect();
        let id = self.p.location.len() as u64 + 1;
        let mapping_id = match self.exe {
            Some((lo, hi)) if (lo..hi).contains(&pc) => 1,
            _ => 0,
        };
        self.p.location.push(proto::Location {
            id,
            mapping_id,
            address: pc,
            line,
            is_folded: false,
        });
        self.by_pc.insert((pc, is_return), id);
        id
    }

    /// The location of a source site known without an address (a
    /// `#[track_caller]` location of a lock or a channel operation).
    pub fn location_of_site(&mut self, f: &Frame) -> u64 {
        if let Some(&id) = self.by_site.get(f) {
            return id;
        }
        let id = self.p.location.len() as u64 + 1;
        let line = vec![self.line(f)];
        self.p.location.push(proto::Location {
            id,
            line,
            ..Default::default()
        });
        self.by_site.insert(f.clone(), id);
        id
    }

    /// Adds a sample whose stack is program counters, leaf first (the
    /// first is taken as an interrupted pc if `leaf_is_pc`, otherwise every
    /// one is a return address).
    pub fn add_pcs(
        &mut self,
        pcs: &[u64],
        leaf_is_pc: bool,
        values: Vec<i64>,
        labels: &[(String, String)],
        num_labels: &[(&str, i64, &str)],
    ) {
        let location_id = pcs
            .iter()
            .enumerate()
            .map(|(i, &pc)| self.location_of_pc(pc, !(leaf_is_pc && i == 0)))
            .collect();
        self.add(location_id, values, labels, num_labels);
    }

    /// Adds a sample with a stack of location ids, leaf first.
    pub fn add(
        &mut self,
        location_id: Vec<u64>,
        values: Vec<i64>,
        labels: &[(String, String)],
        num_labels: &[(&str, i64, &str)],
    ) {
        let mut label: Vec<proto::Label> = labels
            .iter()
            .map(|(k, v)| proto::Label {
                key: self.string(k),
                str: self.string(v),
                ..Default::default()
            })
            .collect();
        for &(k, n, unit) in num_labels {
            let key = self.string(k);
            let num_unit = if unit.is_empty() {
                0
            } else {
                self.string(unit)
            };
            label.push(proto::Label {
                key,
                num: n,
                num_unit,
                ..Default::default()
            });
        }
        self.p.sample.push(proto::Sample {
            location_id,
            value: values,
            label,
        });
    }

    /// The profile message itself.
    pub fn into_proto(self) -> proto::Profile {
        self.p
    }

    /// The profile, encoded and gzipped: the bytes of a `.pb.gz` file.
    pub fn finish(self) -> Vec<u8> {
        gzip(&self.p.encode_to_vec())
    }
}

/// Gzips `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("writing to a Vec");
    e.finish().expect("writing to a Vec")
}

/// Reads a `.pb.gz` back (for tests and for diffing profiles).
pub fn decode(gz: &[u8]) -> Result<proto::Profile, String> {
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut raw)
        .map_err(|e| format!("not gzip: {e}"))?;
    proto::Profile::decode(raw.as_slice()).map_err(|e| format!("not a profile.proto: {e}"))
}
