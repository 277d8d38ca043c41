//! RaptorQ block FEC for WZP's lossy audio tiers. Sans-IO.
//!
//! A sender groups consecutive frames (opaque byte strings, typically a whole
//! media packet so that a recovered frame carries its own sequence number) into
//! *blocks* of `frames_per_block` frames and adds `ceil(k * ratio)` RaptorQ
//! repair symbols per block. A receiver that gets any `k` (rarely `k + 1`) of the
//! `k + r` symbols of a block rebuilds every frame of it.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use wzp_fec::{FecConfig, FecDecoder, FecEncoder};
//! use wzp_proto::FecRatio;
//!
//! let cfg = FecConfig { frames_per_block: 4, ratio: FecRatio::from_ratio(0.5), ..FecConfig::default() };
//! let mut enc = FecEncoder::new(cfg)?;
//! let mut dec = FecDecoder::new(cfg.symbol_size, Duration::from_secs(2))?;
//! let mut wire = Vec::new();
//! for i in 0u8..4 {
//!     enc.push_frame(&[i; 40], &mut wire)?;
//! }
//! enc.flush(&mut wire);
//! // Lose frame 1; the repair symbols bring it back.
//! let now = Instant::now();
//! let mut got = Vec::new();
//! for p in wire.into_iter().filter(|p| p.index != 1) {
//!     dec.push(p, now, &mut got)?;
//! }
//! assert!(got.iter().any(|f| f.index == 1 && f.recovered && f.data == [1u8; 40]));
//! # Ok::<(), wzp_fec::FecError>(())
//! ```
//!
//! Why these choices:
//! - **u16 block ids** (the reference uses u8 ids, which wrap every ~25 s at
//!   the lowest tier, so a late repair symbol can be applied to the wrong block).
//!   The id travels in the 4-byte [`FecPacket`] header inside the payload,
//!   because the v2 media header only has a byte for it.
//! - **Source frames go out at once, unpadded**: FEC adds no delay on a clean
//!   path. Only repair symbols wait for their block to complete.
//! - **Interleaving** spreads a block's repair symbols over the following
//!   `interleave_depth` blocks' worth of frames, so one loss burst rarely takes
//!   both a block's source frames and its repair symbols. Unlike round-robin
//!   interleaving of whole blocks, it never delays source frames.
//! - **Time is an input**: the decoder takes `now` and drops blocks older than
//!   its stale limit, so tests run faster than real time and reproduce any loss.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use raptorq::{
    EncodingPacket, ObjectTransmissionInformation, PayloadId, SourceBlockDecoder,
    SourceBlockEncoder,
};
use wzp_proto::{CodecId, FecRatio};

/// Length of the [`FecPacket`] header: block id (u16 BE), symbol index, source count.
pub const FEC_HEADER_LEN: usize = 4;
/// Default RaptorQ symbol size in bytes (as the reference): a 2-byte length prefix
/// plus up to 254 bytes of frame.
pub const DEFAULT_SYMBOL_SIZE: u16 = 256;
/// Default age after which an incomplete block is dropped (as the reference).
pub const DEFAULT_STALE: Duration = Duration::from_secs(2);
/// Blocks further than this behind the newest block seen are dropped even if
/// they are not yet stale by age (protects memory against a flood of ids).
pub const MAX_OPEN_BLOCKS: u16 = 64;

/// Errors from this crate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FecError {
    /// A frame does not fit one symbol (symbol size minus the 2-byte length prefix).
    #[error("frame of {len} bytes does not fit a {max}-byte FEC symbol payload")]
    FrameTooLarge {
        /// Frame length.
        len: usize,
        /// Largest frame that fits.
        max: usize,
    },
    /// A packet shorter than its header.
    #[error("FEC packet truncated: {0} bytes")]
    Truncated(usize),
    /// Header fields that cannot be right (index beyond 255 symbols, zero source count,
    /// a repair payload whose size is not the symbol size...).
    #[error("malformed FEC packet: {0}")]
    Malformed(&'static str),
    /// A configuration value that cannot work.
    #[error("invalid FEC configuration: {0}")]
    InvalidConfig(&'static str),
}

/// A 16-bit FEC block id, wrapping; compare with [`BlockId::diff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockId(pub u16);

impl BlockId {
    /// Signed distance `self - other`, wrap-aware (`-32768..32768`).
    #[must_use]
    pub fn diff(self, other: BlockId) -> i32 {
        i32::from(self.0.wrapping_sub(other.0) as i16)
    }
}

/// FEC parameters for one stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FecConfig {
    /// Source frames per block (k), 1..=64.
    pub frames_per_block: u8,
    /// RaptorQ symbol size in bytes (frames must be at most this minus 2).
    pub symbol_size: u16,
    /// Repair symbols per source symbol (0 disables repair).
    pub ratio: FecRatio,
    /// How many following blocks a block's repair symbols are spread over
    /// (0: sent right after the block's last frame).
    pub interleave_depth: u8,
}

impl Default for FecConfig {
    fn default() -> Self {
        Self {
            frames_per_block: 5,
            symbol_size: DEFAULT_SYMBOL_SIZE,
            ratio: FecRatio::from_ratio(0.2),
            interleave_depth: 1,
        }
    }
}

impl FecConfig {
    /// The block size and repair ratio for a codec tier.
    ///
    /// Opus tiers get light RaptorQ protection on top of in-band FEC/DRED; the
    /// two lowest tiers (6 kbps Opus and Codec2) get heavy protection because
    /// their frames are tiny, so repair costs few bytes.
    #[must_use]
    pub fn for_codec(codec: CodecId) -> Self {
        let (k, ratio) = match codec {
            CodecId::Opus64k | CodecId::Opus48k | CodecId::Opus32k => (5, 0.1),
            CodecId::Opus24k => (5, 0.2),
            CodecId::Opus16k => (5, 0.3),
            CodecId::Opus6k => (10, 0.5),
            CodecId::Codec2_3200 => (10, 0.5),
            CodecId::Codec2_1200 => (8, 1.0),
            _ => (5, 0.0),
        };
        Self {
            frames_per_block: k,
            ratio: FecRatio::from_ratio(ratio),
            ..Self::default()
        }
    }

    /// Largest frame this configuration carries.
    #[must_use]
    pub fn max_frame_len(&self) -> usize {
        usize::from(self.symbol_size).saturating_sub(2)
    }

    /// Repair symbols for a block of `k` source frames: `ceil(k * ratio)`, capped
    /// so that indices fit a byte.
    #[must_use]
    pub fn repair_count(&self, k: u8) -> u8 {
        let r = (f32::from(k) * self.ratio.ratio()).ceil();
        let max = 255 - u16::from(k);
        (r as u16).min(max) as u8
    }

    fn validate(&self) -> Result<(), FecError> {
        if self.frames_per_block == 0 || self.frames_per_block > 64 {
            return Err(FecError::InvalidConfig("frames_per_block must be 1..=64"));
        }
        if self.symbol_size < 8 || self.symbol_size % 8 != 0 {
            return Err(FecError::InvalidConfig(
                "symbol_size must be a multiple of 8, at least 8",
            ));
        }
        Ok(())
    }
}

/// One FEC packet: a source frame (index < `source_count`, payload is the frame
/// itself) or a repair symbol (index >= `source_count`, payload is one symbol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FecPacket {
    /// Block this packet belongs to.
    pub block: BlockId,
    /// Symbol index in the block (RaptorQ encoding symbol id).
    pub index: u8,
    /// Number of source frames in the block (k).
    pub source_count: u8,
    /// Frame bytes (source) or symbol bytes (repair).
    pub data: Vec<u8>,
}

impl FecPacket {
    /// Whether this is a repair symbol.
    #[must_use]
    pub fn is_repair(&self) -> bool {
        self.index >= self.source_count
    }

    /// Appends header and payload to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.block.0.to_be_bytes());
        out.push(self.index);
        out.push(self.source_count);
        out.extend_from_slice(&self.data);
    }

    /// Parses a packet written by [`FecPacket::write`].
    pub fn parse(buf: &[u8]) -> Result<Self, FecError> {
        let (hdr, data) = buf
            .split_first_chunk::<FEC_HEADER_LEN>()
            .ok_or(FecError::Truncated(buf.len()))?;
        if hdr[3] == 0 {
            return Err(FecError::Malformed("source count is zero"));
        }
        Ok(Self {
            block: BlockId(u16::from_be_bytes([hdr[0], hdr[1]])),
            index: hdr[2],
            source_count: hdr[3],
            data: data.to_vec(),
        })
    }
}

fn oti(k: u8, symbol_size: u16) -> ObjectTransmissionInformation {
    ObjectTransmissionInformation::new(u64::from(k) * u64::from(symbol_size), symbol_size, 1, 1, 8)
}

/// Pads a frame into one source symbol: 2-byte little-endian length, frame, zeros.
fn frame_to_symbol(frame: &[u8], symbol_size: u16, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&(frame.len() as u16).to_le_bytes());
    out.extend_from_slice(frame);
    out.resize(start + usize::from(symbol_size), 0);
}

fn symbol_to_frame(symbol: &[u8]) -> Option<&[u8]> {
    let (len, rest) = symbol.split_first_chunk::<2>()?;
    rest.get(..usize::from(u16::from_le_bytes(*len)))
}

/// Sender side: frames in, FEC packets out.
#[derive(Debug)]
pub struct FecEncoder {
    cfg: FecConfig,
    block: BlockId,
    frames: Vec<Vec<u8>>,
    /// Frames pushed so far; the clock repair scheduling counts in.
    frame_clock: u64,
    /// Repair packets waiting for their slot: (due frame count, packet).
    scheduled: VecDeque<(u64, FecPacket)>,
}

impl FecEncoder {
    /// A new encoder starting at block 0.
    pub fn new(cfg: FecConfig) -> Result<Self, FecError> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            block: BlockId(0),
            frames: Vec::with_capacity(usize::from(cfg.frames_per_block)),
            frame_clock: 0,
            scheduled: VecDeque::new(),
        })
    }

    /// A new encoder whose first block has id `first` (a sender may start at a
    /// random id; tests start near the wrap).
    pub fn starting_at(cfg: FecConfig, first: BlockId) -> Result<Self, FecError> {
        let mut e = Self::new(cfg)?;
        e.block = first;
        Ok(e)
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> FecConfig {
        self.cfg
    }

    /// Changes the repair ratio live (the quality tier changed); it applies from
    /// the block being filled.
    pub fn set_ratio(&mut self, ratio: FecRatio) {
        self.cfg.ratio = ratio;
    }

    /// The id of the block being filled.
    #[must_use]
    pub fn current_block(&self) -> BlockId {
        self.block
    }

    /// Adds one frame; appends to `out` its source packet and any repair packets
    /// whose slot has come.
    pub fn push_frame(&mut self, frame: &[u8], out: &mut Vec<FecPacket>) -> Result<(), FecError> {
        let max = self.cfg.max_frame_len();
        if frame.len() > max {
            return Err(FecError::FrameTooLarge {
                len: frame.len(),
                max,
            });
        }
        out.push(FecPacket {
            block: self.block,
            index: self.frames.len() as u8,
            source_count: self.cfg.frames_per_block,
            data: frame.to_vec(),
        });
        self.frames.push(frame.to_vec());
        self.frame_clock += 1;
        if self.frames.len() >= usize::from(self.cfg.frames_per_block) {
            self.close_block();
        }
        self.release_due(out);
        Ok(())
    }

    /// Closes a partly filled block (end of talk spurt, tier change, hang-up) and
    /// sends every repair packet still waiting.
    ///
    /// The source packets of a partial block announced the configured block
    /// size, so the repair packets describe a block of that size whose missing
    /// tail frames are empty; receivers recover them as empty frames, which the
    /// caller ignores.
    pub fn flush(&mut self, out: &mut Vec<FecPacket>) {
        if !self.frames.is_empty() {
            while self.frames.len() < usize::from(self.cfg.frames_per_block) {
                self.frames.push(Vec::new());
            }
            self.close_block();
        }
        out.extend(self.scheduled.drain(..).map(|(_, p)| p));
    }

    fn close_block(&mut self) {
        let k = self.cfg.frames_per_block;
        let r = self.cfg.repair_count(k);
        if r > 0 {
            let mut data = Vec::with_capacity(usize::from(k) * usize::from(self.cfg.symbol_size));
            for f in &self.frames {
                frame_to_symbol(f, self.cfg.symbol_size, &mut data);
            }
            let enc = SourceBlockEncoder::new(0, &oti(k, self.cfg.symbol_size), &data);
            let span = u64::from(self.cfg.interleave_depth) * u64::from(k);
            for (j, p) in enc
                .repair_packets(u32::from(k), u32::from(r))
                .into_iter()
                .enumerate()
            {
                let (id, bytes) = p.split();
                // Spread the r symbols evenly over the next `span` frames.
                let offset = if span == 0 {
                    0
                } else {
                    (j as u64 * span) / u64::from(r)
                };
                self.scheduled.push_back((
                    self.frame_clock + offset,
                    FecPacket {
                        block: self.block,
                        index: id.encoding_symbol_id() as u8,
                        source_count: k,
                        data: bytes,
                    },
                ));
            }
        }
        self.frames.clear();
        self.block = BlockId(self.block.0.wrapping_add(1));
    }

    fn release_due(&mut self, out: &mut Vec<FecPacket>) {
        while let Some((due, _)) = self.scheduled.front() {
            if *due > self.frame_clock {
                break;
            }
            if let Some((_, p)) = self.scheduled.pop_front() {
                out.push(p);
            }
        }
    }
}

/// A frame delivered by the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredFrame {
    /// Block it came from.
    pub block: BlockId,
    /// Its index in the block.
    pub index: u8,
    /// The frame.
    pub data: Vec<u8>,
    /// `true` if rebuilt from repair symbols, `false` if it arrived as itself.
    pub recovered: bool,
}

/// Decoder counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FecStats {
    /// Source packets received.
    pub source_received: u64,
    /// Repair packets received.
    pub repair_received: u64,
    /// Frames rebuilt from repair symbols.
    pub recovered: u64,
    /// Blocks dropped before all their frames were seen or rebuilt.
    pub expired_incomplete: u64,
    /// Packets for blocks already finished or expired.
    pub late: u64,
    /// Duplicate packets.
    pub duplicates: u64,
}

#[derive(Debug)]
struct BlockState {
    first_seen: Instant,
    source_count: u8,
    have: Vec<bool>,
    symbols: Vec<EncodingPacket>,
    complete: bool,
}

/// Receiver side: FEC packets in (with the time they arrived), frames out.
#[derive(Debug)]
pub struct FecDecoder {
    symbol_size: u16,
    stale: Duration,
    blocks: HashMap<u16, BlockState>,
    newest: Option<BlockId>,
    stats: FecStats,
}

impl FecDecoder {
    /// A decoder for packets of `symbol_size`-byte symbols (a multiple of 8, as
    /// the encoder's); incomplete blocks older than `stale` are dropped.
    pub fn new(symbol_size: u16, stale: Duration) -> Result<Self, FecError> {
        FecConfig {
            symbol_size,
            ..FecConfig::default()
        }
        .validate()?;
        Ok(Self {
            symbol_size,
            stale,
            blocks: HashMap::new(),
            newest: None,
            stats: FecStats::default(),
        })
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> FecStats {
        self.stats
    }

    /// Blocks currently held.
    #[must_use]
    pub fn open_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Takes one packet that arrived at `now`. Appends to `out` the source frame
    /// it carries (if any) and every frame its block recovers thanks to it.
    pub fn push(
        &mut self,
        pkt: FecPacket,
        now: Instant,
        out: &mut Vec<RecoveredFrame>,
    ) -> Result<(), FecError> {
        if pkt.source_count == 0 {
            return Err(FecError::Malformed("source count is zero"));
        }
        if pkt.is_repair() && pkt.data.len() != usize::from(self.symbol_size) {
            return Err(FecError::Malformed("repair payload is not one symbol"));
        }
        if !pkt.is_repair() && pkt.data.len() > usize::from(self.symbol_size) - 2 {
            return Err(FecError::Malformed("source frame larger than a symbol"));
        }
        self.expire(now);
        match self.newest {
            Some(n) if pkt.block.diff(n) <= -i32::from(MAX_OPEN_BLOCKS) => {
                self.stats.late += 1;
                return Ok(());
            }
            Some(n) if pkt.block.diff(n) <= 0 => {}
            _ => {
                self.newest = Some(pkt.block);
                self.drop_far_behind(pkt.block);
            }
        }
        let symbol_size = self.symbol_size;
        let st = self
            .blocks
            .entry(pkt.block.0)
            .or_insert_with(|| BlockState {
                first_seen: now,
                source_count: pkt.source_count,
                have: vec![false; usize::from(pkt.source_count)],
                symbols: Vec::new(),
                complete: false,
            });
        if st.source_count != pkt.source_count {
            return Err(FecError::Malformed("source count differs within a block"));
        }
        if st.complete {
            self.stats.late += 1;
            return Ok(());
        }
        let id = PayloadId::new(0, u32::from(pkt.index));
        if st.symbols.iter().any(|s| s.payload_id() == &id) {
            self.stats.duplicates += 1;
            return Ok(());
        }
        if pkt.is_repair() {
            self.stats.repair_received += 1;
            st.symbols.push(EncodingPacket::new(id, pkt.data));
        } else {
            self.stats.source_received += 1;
            let mut sym = Vec::with_capacity(usize::from(symbol_size));
            frame_to_symbol(&pkt.data, symbol_size, &mut sym);
            st.symbols.push(EncodingPacket::new(id, sym));
            if let Some(h) = st.have.get_mut(usize::from(pkt.index)) {
                *h = true;
            }
            out.push(RecoveredFrame {
                block: pkt.block,
                index: pkt.index,
                data: pkt.data,
                recovered: false,
            });
        }
        if st.have.iter().all(|h| *h) {
            st.complete = true;
            st.symbols = Vec::new();
            return Ok(());
        }
        if st.symbols.len() >= usize::from(st.source_count) {
            let k = st.source_count;
            let mut dec = SourceBlockDecoder::new(
                0,
                &oti(k, symbol_size),
                u64::from(k) * u64::from(symbol_size),
            );
            if let Some(data) = dec.decode(st.symbols.iter().cloned()) {
                for (i, sym) in data.chunks(usize::from(symbol_size)).enumerate() {
                    if st.have.get(i).copied().unwrap_or(true) {
                        continue;
                    }
                    let Some(frame) = symbol_to_frame(sym) else {
                        tracing::debug!(
                            block = pkt.block.0,
                            index = i,
                            "recovered symbol has a bad length prefix"
                        );
                        continue;
                    };
                    self.stats.recovered += 1;
                    out.push(RecoveredFrame {
                        block: pkt.block,
                        index: i as u8,
                        data: frame.to_vec(),
                        recovered: true,
                    });
                }
                st.complete = true;
                st.symbols = Vec::new();
            }
        }
        Ok(())
    }

    /// Drops blocks first seen more than the stale limit before `now`.
    pub fn expire(&mut self, now: Instant) {
        let stale = self.stale;
        let mut expired = 0;
        self.blocks.retain(|_, st| {
            let keep = now.saturating_duration_since(st.first_seen) <= stale;
            if !keep && !st.complete {
                expired += 1;
            }
            keep
        });
        self.stats.expired_incomplete += expired;
    }

    fn drop_far_behind(&mut self, newest: BlockId) {
        let mut expired = 0;
        self.blocks.retain(|id, st| {
            let keep = BlockId(*id).diff(newest) > -i32::from(MAX_OPEN_BLOCKS);
            if !keep && !st.complete {
                expired += 1;
            }
            keep
        });
        self.stats.expired_incomplete += expired;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    fn frame(i: u32) -> Vec<u8> {
        let len = 20 + (i as usize * 7) % 100;
        (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
    }

    fn run(cfg: FecConfig, n: u32, loss_pct: u32, seed: u64) -> (Vec<bool>, FecStats) {
        let mut enc = FecEncoder::new(cfg).unwrap();
        let mut dec = FecDecoder::new(cfg.symbol_size, DEFAULT_STALE).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut got = vec![false; n as usize];
        let t0 = Instant::now();
        let k = u32::from(cfg.frames_per_block);
        let mut wire = Vec::new();
        for i in 0..n {
            enc.push_frame(&frame(i), &mut wire).unwrap();
            if i == n - 1 {
                enc.flush(&mut wire);
            }
            let now = t0 + Duration::from_millis(u64::from(i) * 20);
            for p in wire.drain(..) {
                if rng.next_u32() % 100 < loss_pct {
                    continue;
                }
                let mut out = Vec::new();
                dec.push(p, now, &mut out).unwrap();
                for f in out {
                    let idx = u32::from(f.block.0) * k + u32::from(f.index);
                    if idx < n {
                        assert_eq!(f.data, frame(idx), "frame {idx} content");
                        got[idx as usize] = true;
                    }
                }
            }
        }
        (got, dec.stats())
    }

    #[test]
    fn no_loss_delivers_everything_without_recovery() {
        let (got, st) = run(FecConfig::default(), 100, 0, 1);
        assert!(got.iter().all(|g| *g));
        assert_eq!(st.recovered, 0);
    }

    #[test]
    fn seeded_loss_is_mostly_recovered() {
        let cfg = FecConfig {
            frames_per_block: 10,
            ratio: FecRatio::from_ratio(0.5),
            ..FecConfig::default()
        };
        let (got, st) = run(cfg, 1000, 10, 42);
        let delivered = got.iter().filter(|g| **g).count();
        // 10% loss with 50% repair: nearly every block decodes.
        assert!(delivered >= 995, "delivered {delivered}");
        assert!(st.recovered > 50, "{st:?}");
    }

    #[test]
    fn ratio_one_survives_heavy_loss() {
        let cfg = FecConfig::for_codec(CodecId::Codec2_1200);
        let (got, _) = run(cfg, 800, 30, 7);
        let delivered = got.iter().filter(|g| **g).count();
        assert!(delivered >= 760, "delivered {delivered}");
        // Without FEC about 70% would arrive.
    }

    #[test]
    fn block_ids_wrap_past_u16() {
        let cfg = FecConfig {
            frames_per_block: 1,
            ratio: FecRatio::from_ratio(1.0),
            interleave_depth: 0,
            ..FecConfig::default()
        };
        let mut enc = FecEncoder::starting_at(cfg, BlockId(u16::MAX - 99)).unwrap();
        let mut dec = FecDecoder::new(cfg.symbol_size, DEFAULT_STALE).unwrap();
        let now = Instant::now();
        let mut wire = Vec::new();
        let mut recovered = 0;
        for i in 0..300u32 {
            enc.push_frame(&i.to_be_bytes(), &mut wire).unwrap();
            for p in wire.drain(..) {
                // Drop every source frame: all must come back from repair.
                if p.is_repair() {
                    let mut out = Vec::new();
                    dec.push(p, now, &mut out).unwrap();
                    assert_eq!(out.len(), 1);
                    assert_eq!(out[0].data, i.to_be_bytes());
                    recovered += 1;
                }
            }
        }
        assert_eq!(recovered, 300);
        assert_eq!(enc.current_block(), BlockId(200));
        assert!(dec.open_blocks() <= usize::from(MAX_OPEN_BLOCKS));
    }

    #[test]
    fn stale_blocks_expire_by_time_input() {
        let cfg = FecConfig::default();
        let mut enc = FecEncoder::new(cfg).unwrap();
        let mut dec = FecDecoder::new(cfg.symbol_size, Duration::from_secs(2)).unwrap();
        let t0 = Instant::now();
        let mut wire = Vec::new();
        enc.push_frame(&[1, 2, 3], &mut wire).unwrap();
        let mut out = Vec::new();
        for p in wire.drain(..) {
            dec.push(p, t0, &mut out).unwrap();
        }
        assert_eq!(dec.open_blocks(), 1);
        dec.expire(t0 + Duration::from_secs(3));
        assert_eq!(dec.open_blocks(), 0);
        assert_eq!(dec.stats().expired_incomplete, 1);
    }

    #[test]
    fn interleaving_delays_repair_but_not_source() {
        let cfg = FecConfig {
            frames_per_block: 4,
            ratio: FecRatio::from_ratio(0.5),
            interleave_depth: 2,
            ..FecConfig::default()
        };
        let mut enc = FecEncoder::new(cfg).unwrap();
        let mut per_frame = Vec::new();
        for i in 0..12u32 {
            let mut out = Vec::new();
            enc.push_frame(&frame(i), &mut out).unwrap();
            assert!(!out[0].is_repair(), "source frame goes first, at once");
            per_frame.push(out.len() - 1);
        }
        // Block 0 closes at frame 4; its 2 repairs go at frames 4 and 8 (span 8).
        assert_eq!(per_frame[3], 1);
        assert_eq!(per_frame[..3].iter().sum::<usize>(), 0);
        assert_eq!(per_frame.iter().sum::<usize>(), 2 + 2 + 1);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert_eq!(FecPacket::parse(&[1, 2]), Err(FecError::Truncated(2)));
        assert!(FecPacket::parse(&[0, 0, 0, 0]).is_err());
        let mut dec = FecDecoder::new(256, DEFAULT_STALE).unwrap();
        let bad = FecPacket {
            block: BlockId(0),
            index: 9,
            source_count: 5,
            data: vec![0; 10],
        };
        assert!(dec.push(bad, Instant::now(), &mut Vec::new()).is_err());
        let big = FecPacket {
            block: BlockId(0),
            index: 0,
            source_count: 5,
            data: vec![0; 255],
        };
        assert!(dec.push(big, Instant::now(), &mut Vec::new()).is_err());
        let mut enc = FecEncoder::new(FecConfig::default()).unwrap();
        assert!(enc.push_frame(&[0; 300], &mut Vec::new()).is_err());
    }

    #[test]
    fn packet_bytes_round_trip() {
        let p = FecPacket {
            block: BlockId(0xBEEF),
            index: 7,
            source_count: 5,
            data: vec![9; 12],
        };
        let mut b = Vec::new();
        p.write(&mut b);
        assert_eq!(FecPacket::parse(&b).unwrap(), p);
    }

    proptest::proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut dec = FecDecoder::new(256, DEFAULT_STALE).unwrap();
            if let Ok(p) = FecPacket::parse(&bytes) {
                let _ = dec.push(p, Instant::now(), &mut Vec::new());
            }
        }
    }
}
