//! Header compression for audio: a [`Compressor`] on the sending side and an
//! [`Expander`] on the receiving side, one pair per sender.
//!
//! Audio packets are small (an Opus 24k frame is about 60 bytes), so the 16-byte
//! header is a quarter of the packet. Between two packets of one audio stream
//! only the sequence number and timestamp usually change, and a 5-byte mini
//! header carries just those (as low bits, see [`MiniHeader`]).
//!
//! Rules the compressor follows, which the expander relies on:
//! - Only audio is compressed; every other media type always sends a full header.
//! - The first packet, every 50th packet after a full one, any packet with a
//!   QualityReport trailer, and any packet whose static fields (flags, codec,
//!   stream, FEC ratio, FEC block) differ from the last full header get a full
//!   header.
//! - After a change of static fields, the next [`FULL_REPEATS_AFTER_CHANGE`]
//!   packets are sent full as well, so one lost packet cannot hide the change.
//! - A sequence jump of more than [`MAX_MINI_SEQ_STEP`] or a timestamp jump of
//!   more than [`MAX_MINI_TS_STEP_MS`] forces a full header.
//!
//! Both sides are sans-IO: they see bytes and headers, never sockets or clocks.

use crate::datagram::{Datagram, MiniHeader, TAG_FULL, TAG_MINI};
use crate::error::{ProtoError, Result};
use crate::header::MediaHeader;
use crate::types::{MediaType, Seq, TimestampMs};

/// A full header is sent at least once every this many audio packets.
pub const MINI_FRAME_FULL_INTERVAL: u32 = 50;
/// Packets sent with a full header after the static fields change.
pub const FULL_REPEATS_AFTER_CHANGE: u8 = 3;
/// Largest forward sequence step a mini frame may take from the previous packet.
pub const MAX_MINI_SEQ_STEP: i64 = 64;
/// Largest timestamp step (either way) in ms a mini frame may take.
pub const MAX_MINI_TS_STEP_MS: i64 = 16_384;

/// Which kind of frame the compressor wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Tag 0x00 and the 16-byte header.
    Full,
    /// Tag 0x01 and the 5-byte mini header.
    Mini,
}

/// True when `a` and `b` agree on every field a mini header does not carry.
fn same_static_fields(a: &MediaHeader, b: &MediaHeader) -> bool {
    a.flags == b.flags
        && a.media_type == b.media_type
        && a.codec == b.codec
        && a.stream == b.stream
        && a.fec_ratio == b.fec_ratio
        && a.fec_block == b.fec_block
}

/// Sending side of header compression for one sender.
#[derive(Debug, Default, Clone)]
pub struct Compressor {
    /// The last full audio header sent: what a mini frame's static fields come from.
    baseline: Option<MediaHeader>,
    /// The last audio header sent in any form: what the step limits are measured from.
    last: Option<MediaHeader>,
    /// Audio packets sent since the last full header.
    since_full: u32,
    /// Full headers still owed after a change of static fields.
    repeats_owed: u8,
}

impl Compressor {
    /// A compressor that has sent nothing yet (its first audio packet goes full).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the compact frame header for a packet with `header` and a body of
    /// `body_len` bytes to `out`; the caller appends the body after it.
    pub fn write_header(
        &mut self,
        header: &MediaHeader,
        body_len: usize,
        out: &mut Vec<u8>,
    ) -> FrameKind {
        if header.media_type != MediaType::Audio {
            out.push(TAG_FULL);
            out.extend_from_slice(&header.encode());
            return FrameKind::Full;
        }
        let mini = self.mini_for(header, body_len);
        self.last = Some(*header);
        match mini {
            Some(m) => {
                self.since_full += 1;
                out.push(TAG_MINI);
                out.extend_from_slice(&m.encode());
                FrameKind::Mini
            }
            None => {
                if self
                    .baseline
                    .is_some_and(|b| !same_static_fields(&b, header))
                {
                    self.repeats_owed = FULL_REPEATS_AFTER_CHANGE;
                } else {
                    self.repeats_owed = self.repeats_owed.saturating_sub(1);
                }
                self.baseline = Some(*header);
                self.since_full = 0;
                out.push(TAG_FULL);
                out.extend_from_slice(&header.encode());
                FrameKind::Full
            }
        }
    }

    /// The mini header for `header`, or `None` when the rules demand a full one.
    fn mini_for(&self, header: &MediaHeader, body_len: usize) -> Option<MiniHeader> {
        let (baseline, last) = (self.baseline?, self.last?);
        let payload_len = u16::try_from(body_len).ok()?;
        let seq_step = header.seq.diff(last.seq);
        let ts_step = header.timestamp.diff(last.timestamp);
        let compressible = !header.flags.quality_report
            && self.repeats_owed == 0
            && self.since_full + 1 < MINI_FRAME_FULL_INTERVAL
            && same_static_fields(&baseline, header)
            && (1..=MAX_MINI_SEQ_STEP).contains(&seq_step)
            && ts_step.abs() <= MAX_MINI_TS_STEP_MS;
        // Truncation to the low bits is the point of a mini header.
        compressible.then_some(MiniHeader {
            seq_lsb: header.seq.0 as u8,
            ts_lsb: header.timestamp.0 as u16,
            payload_len,
        })
    }
}

/// Counters kept by an [`Expander`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpanderStats {
    /// Frames with a full header (plain or tagged).
    pub full: u64,
    /// Mini frames expanded.
    pub mini: u64,
    /// Mini frames dropped because no full audio header had been seen yet.
    pub mini_without_baseline: u64,
    /// Datagrams dropped because they did not parse.
    pub malformed: u64,
}

/// Receiving side of header compression for one sender.
#[derive(Debug, Default, Clone)]
pub struct Expander {
    /// The last full audio header received.
    baseline: Option<MediaHeader>,
    /// The newest audio (seq, timestamp) seen: the reference mini frames' low bits are read against.
    newest: Option<(Seq, TimestampMs)>,
    stats: ExpanderStats,
}

/// Recovers a value from its low `bits` bits, choosing the candidate closest to
/// `reference` (within half the range either way).
fn from_lsb(reference: u32, lsb: u32, bits: u32) -> u32 {
    let range = 1u32 << bits;
    let mask = range - 1;
    let delta = lsb.wrapping_sub(reference) & mask;
    if delta > range / 2 {
        reference.wrapping_add(delta).wrapping_sub(range)
    } else {
        reference.wrapping_add(delta)
    }
}

impl Expander {
    /// An expander with no baseline yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> ExpanderStats {
        self.stats
    }

    /// Parses one datagram (plain, full or mini) and returns its full header and
    /// body. Every error is counted in [`ExpanderStats`].
    pub fn expand<'a>(&mut self, datagram: &'a [u8]) -> Result<(MediaHeader, &'a [u8])> {
        let parsed = match Datagram::parse(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e);
            }
        };
        match parsed {
            Datagram::Plain { header, body } | Datagram::Full { header, body } => {
                self.stats.full += 1;
                if header.media_type == MediaType::Audio {
                    self.baseline = Some(header);
                    self.note_newest(header.seq, header.timestamp);
                }
                Ok((header, body))
            }
            Datagram::Mini { mini, payload } => {
                let (Some(baseline), Some((ref_seq, ref_ts))) = (self.baseline, self.newest) else {
                    self.stats.mini_without_baseline += 1;
                    tracing::debug!("mini frame before any full header dropped");
                    return Err(ProtoError::MiniBeforeBaseline);
                };
                let seq = Seq(from_lsb(ref_seq.0, u32::from(mini.seq_lsb), 8));
                let ts = TimestampMs(from_lsb(ref_ts.0, u32::from(mini.ts_lsb), 16));
                self.note_newest(seq, ts);
                self.stats.mini += 1;
                Ok((
                    MediaHeader {
                        seq,
                        timestamp: ts,
                        ..baseline
                    },
                    payload,
                ))
            }
        }
    }

    fn note_newest(&mut self, seq: Seq, ts: TimestampMs) {
        match self.newest {
            Some((s, _)) if seq.diff(s) <= 0 => {}
            _ => self.newest = Some((seq, ts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CodecId, StreamId};

    fn audio(seq: u32) -> MediaHeader {
        MediaHeader::new(
            CodecId::Opus24k,
            StreamId(0),
            Seq(seq),
            TimestampMs(seq.wrapping_mul(20)),
        )
    }

    fn send(c: &mut Compressor, h: &MediaHeader, body: &[u8]) -> (FrameKind, Vec<u8>) {
        let mut out = Vec::new();
        let kind = c.write_header(h, body.len(), &mut out);
        out.extend_from_slice(body);
        (kind, out)
    }

    #[test]
    fn lsb_recovery() {
        assert_eq!(from_lsb(0x1ff, 0x01, 8), 0x201);
        assert_eq!(from_lsb(0x201, 0xff, 8), 0x1ff);
        assert_eq!(from_lsb(u32::MAX, 0x02, 8), 2);
        assert_eq!(from_lsb(5, 0xfe, 8), u32::MAX - 1);
        assert_eq!(from_lsb(100, 100 + 128, 8), 228);
    }

    #[test]
    fn full_first_then_every_50th() {
        let mut c = Compressor::new();
        let kinds: Vec<FrameKind> = (0..120).map(|i| send(&mut c, &audio(i), b"x").0).collect();
        let fulls: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == FrameKind::Full)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(fulls, vec![0, 50, 100]);
        // Mini frame on the wire: tag, 5 bytes, payload.
        let (_, bytes) = send(&mut c, &audio(120), b"abc");
        assert_eq!(
            bytes,
            vec![0x01, 120, 0x09, 0x60, 0x00, 0x03, b'a', b'b', b'c']
        );
    }

    #[test]
    fn round_trip_with_loss_of_full_headers() {
        let mut c = Compressor::new();
        let mut e = Expander::new();
        for i in 0..400u32 {
            let h = audio(i);
            let (kind, bytes) = send(&mut c, &h, &i.to_be_bytes());
            // Lose every full header after the first, and a burst of 60 packets.
            if (kind == FrameKind::Full && i > 0) || (200..260).contains(&i) {
                continue;
            }
            let (got, body) = e.expand(&bytes).unwrap_or_else(|err| panic!("{i}: {err}"));
            assert_eq!(got, h, "packet {i}");
            assert_eq!(body, i.to_be_bytes());
        }
    }

    #[test]
    fn change_forces_repeated_full_headers() {
        let mut c = Compressor::new();
        for i in 0..10 {
            send(&mut c, &audio(i), b"x");
        }
        let mut h = audio(10);
        h.codec = CodecId::Opus16k;
        let kinds: Vec<FrameKind> = (10..16)
            .map(|i| {
                h.seq = Seq(i);
                send(&mut c, &h, b"x").0
            })
            .collect();
        assert_eq!(kinds[..4], [FrameKind::Full; 4]);
        assert_eq!(kinds[4], FrameKind::Mini);
    }

    #[test]
    fn non_audio_and_trailers_are_full_and_leave_the_audio_baseline_alone() {
        let mut c = Compressor::new();
        let mut e = Expander::new();
        let v = MediaHeader::new(
            CodecId::H264Baseline,
            StreamId(0),
            Seq(9000),
            TimestampMs(77),
        );
        for i in 0..5 {
            let (_, a) = send(&mut c, &audio(i), b"a");
            e.expand(&a).unwrap_or_else(|err| panic!("{err}"));
            let (k, vb) = send(&mut c, &v, b"v");
            assert_eq!(k, FrameKind::Full);
            assert_eq!(e.expand(&vb).map(|x| x.0), Ok(v));
        }
        let mut q = audio(5);
        q.flags.quality_report = true;
        assert_eq!(send(&mut c, &q, b"abcdq").0, FrameKind::Full);
    }

    #[test]
    fn mini_before_baseline_is_counted() {
        let mut c = Compressor::new();
        let mut frames = Vec::new();
        for i in 0..3 {
            frames.push(send(&mut c, &audio(i), b"x").1);
        }
        let mut e = Expander::new();
        assert_eq!(e.expand(&frames[1]), Err(ProtoError::MiniBeforeBaseline));
        assert_eq!(
            e.expand(&[0x7f]),
            Err(ProtoError::WrongVersion { found: 0x7f })
        );
        let s = e.stats();
        assert_eq!((s.mini_without_baseline, s.malformed, s.mini), (1, 1, 0));
        assert!(e.expand(&frames[0]).is_ok());
        assert!(e.expand(&frames[2]).is_ok());
        assert_eq!(e.stats().mini, 1);
    }

    #[test]
    fn big_jumps_go_full() {
        let mut c = Compressor::new();
        send(&mut c, &audio(0), b"x");
        assert_eq!(send(&mut c, &audio(1), b"x").0, FrameKind::Mini);
        assert_eq!(send(&mut c, &audio(200), b"x").0, FrameKind::Full);
        assert_eq!(send(&mut c, &audio(199), b"x").0, FrameKind::Full);
    }
}
