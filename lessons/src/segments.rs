//! An MPEG transport stream, made up and cut at its keyframes without
//! copying: the input of lesson 24 and of the `segments` bench.
//!
//! HLS serves video as short segments, each starting at a keyframe, so a
//! player can join anywhere. The segmenter reads a transport stream (TS):
//! fixed 188-byte packets, each opening with the sync byte `0x47`, a
//! 13-bit packet id (PID), and flags; a packet that starts a keyframe has
//! *payload_unit_start* set and an adaptation field whose
//! *random_access_indicator* bit is set. Cutting is then a scan of one byte
//! in every 188 plus a look at the flags, and a segment is a byte range of
//! the input: with the input memory-mapped (or read into one buffer) it can
//! be handed on as a borrowed `&[u8]`, never copied.
//!
//! [`generate`] writes such a stream: one video PID, keyframes every 150 to
//! 350 packets (a group of pictures), payloads of pseudo-random bytes, all
//! from a fixed seed so every run cuts the same segments. [`Segments`]
//! iterates over the keyframe-to-keyframe slices of a buffer, and reports a
//! lost sync byte with its offset instead of guessing.

use std::fmt;

/// Bytes in a TS packet.
pub const PACKET: usize = 188;
/// The byte every TS packet starts with.
pub const SYNC: u8 = 0x47;
/// The video PID the generator uses.
pub const VIDEO_PID: u16 = 0x100;

/// A stream of about `bytes` bytes (rounded down to whole packets), with a
/// keyframe opening each group of 150 to 350 packets.
///
/// ```
/// let ts = lessons::segments::generate(1 << 20);
/// assert_eq!(ts.len() % lessons::segments::PACKET, 0);
/// assert!(lessons::segments::Segments::new(&ts).count() > 10);
/// ```
pub fn generate(bytes: usize) -> Vec<u8> {
    let packets = bytes / PACKET;
    let mut out = Vec::with_capacity(packets * PACKET);
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut until_key = 0;
    let mut counter = 0u8;
    for _ in 0..packets {
        let key = until_key == 0;
        if key {
            until_key = 150 + (next() % 201) as usize;
        }
        until_key -= 1;
        let mut p = [0u8; PACKET];
        p[0] = SYNC;
        p[1] = (if key { 0x40 } else { 0 }) | (VIDEO_PID >> 8) as u8;
        p[2] = VIDEO_PID as u8;
        let payload_from = if key {
            // adaptation field + payload; field length 7, flags: RAI.
            p[3] = 0x30 | counter;
            p[4] = 7;
            p[5] = 0x40;
            12
        } else {
            p[3] = 0x10 | counter;
            4
        };
        counter = (counter + 1) & 0x0f;
        for chunk in p[payload_from..].chunks_mut(8) {
            let r = next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        out.extend_from_slice(&p);
    }
    out
}

/// True if `packet` (188 bytes from a sync byte) starts a keyframe:
/// payload_unit_start set, an adaptation field, random_access_indicator.
pub fn is_keyframe(packet: &[u8]) -> bool {
    let pusi = packet[1] & 0x40 != 0;
    let has_adaptation = packet[3] & 0x20 != 0;
    pusi && has_adaptation && packet[4] > 0 && packet[5] & 0x40 != 0
}

/// The input stopped being a transport stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CutError {
    /// No sync byte where a packet should start.
    LostSync {
        /// Byte offset of the bad packet.
        offset: usize,
    },
    /// The input ends inside a packet.
    Truncated {
        /// Bytes left over after the last whole packet.
        extra: usize,
    },
}

impl fmt::Display for CutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CutError::LostSync { offset } => {
                write!(f, "no TS sync byte (0x47) at offset {offset}")
            }
            CutError::Truncated { extra } => {
                write!(f, "the stream ends {extra} bytes into a packet")
            }
        }
    }
}

impl std::error::Error for CutError {}

/// The keyframe-to-keyframe segments of a TS buffer, as slices of it.
/// Bytes before the first keyframe form a segment of their own.
pub struct Segments<'a> {
    data: &'a [u8],
    at: usize,
    failed: bool,
}

impl<'a> Segments<'a> {
    /// Segments of `data`, which must start at a packet boundary.
    pub fn new(data: &'a [u8]) -> Self {
        Segments {
            data,
            at: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for Segments<'a> {
    type Item = Result<&'a [u8], CutError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at == self.data.len() {
            return None;
        }
        let start = self.at;
        let mut p = start;
        loop {
            let rest = self.data.len() - p;
            if rest == 0 {
                break;
            }
            if rest < PACKET {
                self.failed = true;
                return Some(Err(CutError::Truncated { extra: rest }));
            }
            let packet = &self.data[p..p + PACKET];
            if packet[0] != SYNC {
                self.failed = true;
                return Some(Err(CutError::LostSync { offset: p }));
            }
            if p > start && is_keyframe(packet) {
                break;
            }
            p += PACKET;
        }
        self.at = p;
        Some(Ok(&self.data[start..p]))
    }
}

/// What a consumer does with a segment: a hash over every 8-byte word of
/// it (so every byte is really read, at memory speed rather than a byte at
/// a time) and its packet count.
pub fn package(segment: &[u8]) -> (u64, usize) {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    let words = segment.chunks_exact(8);
    let tail = words.remainder();
    for w in words {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = (h ^ w).rotate_left(23).wrapping_mul(0x0100_0000_01b3);
    }
    for &b in tail {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h, segment.len() / PACKET)
}

/// The checksum and counts a pipeline run ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Packaged {
    /// Segments the consumer packaged.
    pub segments: usize,
    /// TS packets in them.
    pub packets: usize,
    /// The XOR of every segment's FNV-1a hash (order-independent, so runs
    /// through different rings compare equal).
    pub checksum: u64,
}

impl Packaged {
    /// Adds one segment's `package` result.
    pub fn add(&mut self, (hash, packets): (u64, usize)) {
        self.segments += 1;
        self.packets += packets;
        self.checksum ^= hash;
    }
}

/// Cuts `data` on this thread and hands every segment, as a borrowed
/// slice, through a `runtime::spsc` ring of `capacity` to a consumer
/// thread that packages it. Both threads spin (with `yield_now`) on a
/// full or an empty ring; nothing is copied and nothing allocated per
/// segment.
pub fn through_ring(data: &[u8], capacity: usize) -> Result<Packaged, CutError> {
    let (mut tx, mut rx) =
        runtime::spsc::ring::<&[u8]>(capacity).expect("a capacity of at least 1");
    std::thread::scope(|s| {
        let consumer = s.spawn(move || {
            let mut done = Packaged::default();
            loop {
                match rx.pop() {
                    Some(seg) => done.add(package(seg)),
                    None if rx.is_abandoned() && rx.is_empty() => return done,
                    None => std::thread::yield_now(),
                }
            }
        });
        let mut cut = Ok(());
        for seg in Segments::new(data) {
            let mut seg = match seg {
                Ok(seg) => seg,
                Err(e) => {
                    cut = Err(e);
                    break;
                }
            };
            while let Err(back) = tx.push(seg) {
                seg = back;
                std::thread::yield_now();
            }
        }
        drop(tx); // tells the consumer nothing more is coming
        let done = consumer.join().expect("the consumer thread");
        cut.map(|()| done)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_segment_starts_at_a_keyframe_and_they_tile_the_input() {
        let ts = generate(4 << 20);
        let segs: Vec<&[u8]> = Segments::new(&ts).map(|s| s.unwrap()).collect();
        assert!(segs.len() > 50, "expected many groups, got {}", segs.len());
        assert_eq!(segs.iter().map(|s| s.len()).sum::<usize>(), ts.len());
        for s in &segs {
            assert!(is_keyframe(&s[..PACKET]), "a segment starts at a keyframe");
            assert_eq!(s.len() % PACKET, 0);
            let packets = s.len() / PACKET;
            assert!((150..=350).contains(&packets), "group of {packets} packets");
            // Borrowed, not copied: the slice points into the input.
            let inside = ts.as_ptr_range();
            assert!(inside.contains(&s.as_ptr()));
        }
    }

    #[test]
    fn a_lost_sync_byte_is_reported_with_its_offset() {
        let mut ts = generate(200 * PACKET);
        ts[37 * PACKET] = 0x00;
        let r: Vec<_> = Segments::new(&ts).collect();
        assert_eq!(
            r.last(),
            Some(&Err(CutError::LostSync {
                offset: 37 * PACKET
            }))
        );
        let mut short = generate(10 * PACKET);
        short.truncate(9 * PACKET + 5);
        let last = Segments::new(&short).last();
        assert_eq!(last, Some(Err(CutError::Truncated { extra: 5 })));
    }

    #[test]
    fn the_ring_pipeline_packages_what_a_plain_loop_does() {
        let ts = generate(2 << 20);
        let mut plain = Packaged::default();
        for seg in Segments::new(&ts) {
            plain.add(package(seg.unwrap()));
        }
        for cap in [1, 4, 64] {
            assert_eq!(through_ring(&ts, cap).unwrap(), plain, "ring of {cap}");
        }
        let mut bad = ts.clone();
        bad[PACKET * 1000] = 0;
        assert_eq!(
            through_ring(&bad, 8),
            Err(CutError::LostSync {
                offset: PACKET * 1000
            })
        );
    }

    #[test]
    fn the_stream_is_the_same_every_time() {
        assert_eq!(package(&generate(1 << 16)), package(&generate(1 << 16)));
    }
}
