//! Audio protection against bursty loss: RaptorQ block FEC (wzp-fec) around the
//! Opus packets, switched on and sized from the loss the other participants report.
//! Sans-IO: everything takes `now` and bytes and returns bytes.
//!
//! Why this shape (the quality bench, docs/BENCHMARKS.md "Speech quality under loss"):
//! loss on real paths comes in bursts of 100-300 ms, and Opus' own in-band FEC
//! or DRED rebuild at most one frame or 80 ms after a burst. RaptorQ blocks of
//! 300 ms whose repair symbols are spread over the following 300 ms rebuild whole
//! bursts, at the price of holding playout 500 ms behind (only while protection
//! is on, that is while the path loses packets) and of one or two repair packets
//! per frame.
//!
//! - **Sender** ([`AudioProtection`]): keeps the loss each participant reported
//!   in its [`QualityReport`](wzp_proto::QualityReport) trailer (loss *before*
//!   FEC repair, so protection does not switch itself off by working), and picks
//!   a repair ratio with hysteresis: off, 1.0 (from 3 % loss) or 2.0 (from 8 %).
//!   While on, each frame travels as a source symbol carrying its own sequence
//!   number and timestamp, and repair symbols go on [`AUDIO_REPAIR_STREAM`].
//! - **Receiver** ([`FecReceiver`], one per sender): rebuilds frames from any
//!   k of a block's symbols and hands them on with their sequence number and
//!   timestamp; [`LossMeter`] measures the pre-FEC loss for the reports.

use std::time::{Duration, Instant};

use wzp_fec::{FecConfig, FecDecoder, FecEncoder, FecPacket};
use wzp_proto::{CodecId, FecRatio, Seq, StreamId, TimestampMs};

/// Stream of the audio repair symbols (source symbols stay on stream 0).
pub const AUDIO_REPAIR_STREAM: StreamId = StreamId(3);
/// Source frames per RaptorQ block (300 ms of 20 ms frames). Receivers read k
/// from each packet's FEC header, so it is the sender's choice alone.
///
/// Large blocks because, at a fixed playout delay, a block's chance of getting
/// k of its 3k symbols through a bursty path grows with the number of symbols
/// it averages over, up to the point where the block's first frames are due
/// before enough of them can arrive. In the quality bench (160 ms mean bursts,
/// 30 % loss, ratio 2.0, playout 400 ms) k = 15 with its repair spread over the
/// next block leaves 6.9 % of frames missing where k = 5 spread over 3 blocks
/// left 9.5 % and k = 25 leaves 7.6 % (the same repair bandwidth;
/// docs/BENCHMARKS.md).
pub const FRAMES_PER_BLOCK: u8 = 15;
/// Blocks a block's repair symbols are spread over, after the block (not on
/// the wire: only the playout delay below depends on it).
pub const INTERLEAVE_DEPTH: u8 = 1;
/// Playout delay a receiver holds while a sender's audio is protected. A block
/// and its repair span cover 600 ms, but the block's later frames have that much
/// more time, and a block rarely needs its last repair symbols. 500 ms is the
/// shortest hold measured that meets the bench's goals over seeds 1-3, 1-10 and
/// 11-20 alike (at 400 ms, k = 12 meets them over 1-3 and 1-10 but not 11-20,
/// k = 15 scores 2.48 MOS at 30 % loss instead of 2.73 over 1-3; 600 ms with
/// k = 20 reaches 2.96).
pub const PROTECTED_PLAYOUT_MS: u32 = 500;
/// How long a receiver keeps the protected playout delay after the last
/// protected packet (the sender may be between talk spurts).
pub const PROTECTED_HOLD: Duration = Duration::from_secs(5);
/// How often a participant reports the loss it sees.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Reports older than this are forgotten (a participant that stopped sending).
const REPORT_MAX_AGE: Duration = Duration::from_secs(5);
/// Loss (percent) from which protection turns on at ratio 1.0, and under which
/// (for `CALM`) it turns off again.
const ON_PCT: f32 = 3.0;
const OFF_PCT: f32 = 1.0;
/// Loss from which the ratio goes to 2.0, and under which it comes back to 1.0.
const HEAVY_PCT: f32 = 8.0;
const LIGHT_PCT: f32 = 4.0;
/// How long the loss must stay low before protection steps down.
const CALM: Duration = Duration::from_secs(10);

/// Length of the sequence number and timestamp a protected frame carries.
const FRAME_PREFIX: usize = 8;

/// RaptorQ symbol size for a codec's protected frames, known to both sides from
/// the header's codec id: room for the frame prefix, wzp-fec's 2-byte length and
/// 1.5 times the codec's nominal frame, rounded up to a multiple of 8.
/// Repair symbols are always this long, so a size fitted to the codec keeps
/// their cost near the audio's own (a fixed 256 bytes would triple it at 24
/// kbit/s). A larger frame (a VBR peak) goes out unprotected.
#[must_use]
pub fn symbol_size(codec: CodecId) -> u16 {
    let info = codec.info();
    let nominal =
        info.nominal_bps.unwrap_or(64_000) / 8 * u32::from(info.frame_ms.unwrap_or(20)) / 1000;
    let size = 2 + FRAME_PREFIX as u32 + nominal * 3 / 2;
    u16::try_from(size.div_ceil(8) * 8).unwrap_or(wzp_fec::DEFAULT_SYMBOL_SIZE)
}

/// The sender's protection state and RaptorQ encoder.
#[derive(Debug)]
pub struct AudioProtection {
    /// Latest report per participant: when, and its loss in percent.
    reports: Vec<(wzp_proto::ParticipantId, Instant, f32)>,
    ratio: FecRatio,
    /// Since when the loss has been low enough to step down.
    calm_since: Option<Instant>,
    /// Our own uplink queued packets at this time (see [`Self::congested`]).
    congested_at: Option<Instant>,
    /// The encoder and the codec its symbol size was chosen for.
    encoder: Option<(FecEncoder, CodecId)>,
    repair_seq: Seq,
    /// Repair symbols sent.
    pub repair_sent: u64,
}

/// One packet to send for a frame: source (stream 0, normal seq) or repair.
#[derive(Debug, PartialEq, Eq)]
pub struct OutPacket {
    /// Stream 0 for a source symbol, [`AUDIO_REPAIR_STREAM`] for a repair symbol.
    pub stream: StreamId,
    /// The header's sequence number (the repair stream has its own).
    pub seq: Seq,
    /// Whether it is a repair symbol (the header's repair flag).
    pub repair: bool,
    /// The payload: a wzp-fec packet.
    pub payload: Vec<u8>,
}

impl AudioProtection {
    /// Protection off; the repair stream starts at `repair_seq` (random, like
    /// every stream's first sequence number).
    #[must_use]
    pub fn new(repair_seq: Seq) -> Self {
        Self {
            reports: Vec::new(),
            ratio: FecRatio::NONE,
            calm_since: None,
            congested_at: None,
            encoder: None,
            repair_seq,
            repair_sent: 0,
        }
    }

    /// The repair ratio in force (`NONE`: off).
    #[must_use]
    pub fn ratio(&self) -> FecRatio {
        self.ratio
    }

    /// A participant reported `loss_pct` of our packets lost (before repair).
    pub fn on_report(&mut self, from: wzp_proto::ParticipantId, loss_pct: f32, now: Instant) {
        let loss = if loss_pct.is_finite() {
            loss_pct.clamp(0.0, 100.0)
        } else {
            0.0
        };
        match self.reports.iter_mut().find(|r| r.0 == from) {
            Some(r) => *r = (from, now, loss),
            None => self.reports.push((from, now, loss)),
        }
    }

    /// Our own path is queueing (RTT well above its minimum): the loss the others
    /// report is then most likely our queue overflowing at a bandwidth limit, which
    /// FEC cannot fix and repair symbols make worse (they compete with the audio
    /// they protect). Protection turns off at once and stays off until the path
    /// has been clear for [`CALM`]; the rate controller handles congestion.
    pub fn congested(&mut self, now: Instant) {
        self.congested_at = Some(now);
        self.calm_since = None;
        self.set_ratio(FecRatio::NONE);
    }

    /// Forgets a participant that left.
    pub fn forget(&mut self, who: wzp_proto::ParticipantId) {
        self.reports.retain(|r| r.0 != who);
    }

    /// The worst loss reported recently, in percent.
    #[must_use]
    pub fn worst_loss(&self, now: Instant) -> f32 {
        self.reports
            .iter()
            .filter(|r| now.saturating_duration_since(r.1) <= REPORT_MAX_AGE)
            .map(|r| r.2)
            .fold(0.0, f32::max)
    }

    /// Re-evaluates the ratio from the reports; returns the new ratio if it changed.
    /// Steps up at once, steps down only after [`CALM`] of low loss.
    pub fn update(&mut self, now: Instant) -> Option<FecRatio> {
        if self
            .congested_at
            .is_some_and(|t| now.saturating_duration_since(t) < CALM)
        {
            return None;
        }
        let loss = self.worst_loss(now);
        let on = self.ratio != FecRatio::NONE;
        let heavy = self.ratio.ratio() > 1.5;
        let up = if loss >= HEAVY_PCT {
            Some(2.0)
        } else if loss >= ON_PCT && !on {
            Some(1.0)
        } else {
            None
        };
        let target = if let Some(r) = up.filter(|&r| r > self.ratio.ratio()) {
            self.calm_since = None;
            Some(r)
        } else {
            let low = (heavy && loss < LIGHT_PCT) || (on && !heavy && loss < OFF_PCT);
            if low {
                let since = *self.calm_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= CALM {
                    self.calm_since = None;
                    Some(if heavy { 1.0 } else { 0.0 })
                } else {
                    None
                }
            } else {
                self.calm_since = None;
                None
            }
        }?;
        self.set_ratio(FecRatio::from_ratio(target));
        Some(self.ratio)
    }

    fn set_ratio(&mut self, ratio: FecRatio) {
        if ratio == self.ratio {
            return;
        }
        tracing::info!(ratio = ratio.ratio(), "audio protection");
        self.ratio = ratio;
        if ratio == FecRatio::NONE {
            self.encoder = None;
            return;
        }
        if let Some((e, _)) = &mut self.encoder {
            e.set_ratio(ratio);
        }
    }

    fn encoder_for(&mut self, codec: CodecId) -> Option<&mut FecEncoder> {
        if self.encoder.as_ref().is_none_or(|(_, c)| *c != codec) {
            let cfg = FecConfig {
                frames_per_block: FRAMES_PER_BLOCK,
                symbol_size: symbol_size(codec),
                ratio: self.ratio,
                interleave_depth: INTERLEAVE_DEPTH,
            };
            match FecEncoder::new(cfg) {
                Ok(e) => self.encoder = Some((e, codec)),
                Err(e) => {
                    tracing::warn!(error = %e, "audio FEC encoder");
                    self.encoder = None;
                    return None;
                }
            }
        }
        self.encoder.as_mut().map(|(e, _)| e)
    }

    /// The largest encoded frame that fits one of `codec`'s symbols while protection
    /// is on (`None` while it is off). The engine caps the encoder's output at it, so
    /// a VBR peak is encoded a little smaller instead of going out unprotected, which
    /// at the low tiers (the ones used on lossy links) happened to a few per cent of
    /// frames.
    #[must_use]
    pub fn frame_capacity(&self, codec: CodecId) -> Option<usize> {
        (self.ratio != FecRatio::NONE)
            .then(|| usize::from(symbol_size(codec)).saturating_sub(2 + FRAME_PREFIX))
    }

    /// The packets that carry one encoded frame: `None` when protection is off
    /// (send the frame as it is), otherwise its source symbol and any repair
    /// symbols due now. A frame too large for a symbol goes out unprotected.
    pub fn protect(
        &mut self,
        codec: CodecId,
        seq: Seq,
        ts: TimestampMs,
        frame: &[u8],
    ) -> Option<Vec<OutPacket>> {
        if self.ratio == FecRatio::NONE {
            return None;
        }
        let enc = self.encoder_for(codec)?;
        let mut data = Vec::with_capacity(FRAME_PREFIX + frame.len());
        data.extend_from_slice(&seq.0.to_be_bytes());
        data.extend_from_slice(&ts.0.to_be_bytes());
        data.extend_from_slice(frame);
        let mut fec = Vec::new();
        if let Err(e) = enc.push_frame(&data, &mut fec) {
            tracing::debug!(error = %e, "frame sent without FEC");
            return None;
        }
        Some(fec.into_iter().map(|p| self.out_packet(&p, seq)).collect())
    }

    /// The sender stops sending frames (muted): closes the block being filled and
    /// returns every repair symbol still waiting for its slot, which would
    /// otherwise wait for the next frame. With 15-frame blocks whose repair is
    /// spread over the next block, that is up to the last 580 ms of speech.
    /// They go with the codec id their symbol size was chosen for (the
    /// receiver derives the size from it). Empty when protection is off or
    /// nothing waits.
    pub fn flush(&mut self) -> (CodecId, Vec<OutPacket>) {
        let Some((enc, codec)) = self.encoder.as_mut() else {
            return (CodecId::ComfortNoise, Vec::new());
        };
        let codec = *codec;
        let mut fec = Vec::new();
        enc.flush(&mut fec);
        // Only repair symbols come out of a flush; the sequence number is unused.
        (
            codec,
            fec.iter().map(|p| self.out_packet(p, Seq(0))).collect(),
        )
    }

    /// The packet for one wzp-fec packet: a source symbol goes on stream 0 with
    /// the frame's `seq`, a repair symbol on the repair stream with its own.
    fn out_packet(&mut self, p: &FecPacket, seq: Seq) -> OutPacket {
        let mut payload = Vec::with_capacity(wzp_fec::FEC_HEADER_LEN + p.data.len());
        p.write(&mut payload);
        if p.is_repair() {
            let s = self.repair_seq;
            self.repair_seq = s.wrapping_add(1);
            self.repair_sent += 1;
            OutPacket {
                stream: AUDIO_REPAIR_STREAM,
                seq: s,
                repair: true,
                payload,
            }
        } else {
            OutPacket {
                stream: StreamId(0),
                seq,
                repair: false,
                payload,
            }
        }
    }
}

/// A frame delivered by [`FecReceiver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Its sequence number.
    pub seq: Seq,
    /// Its timestamp.
    pub ts: TimestampMs,
    /// The Opus packet.
    pub data: Vec<u8>,
    /// Rebuilt from repair symbols.
    pub recovered: bool,
}

/// The receive side of one sender's protected audio.
#[derive(Debug)]
pub struct FecReceiver {
    decoder: FecDecoder,
    /// The symbol size `decoder` was made for.
    symbol_size: u16,
    /// Frames rebuilt by decoders replaced after a codec change.
    recovered_before: u64,
    last_protected: Option<Instant>,
    /// Malformed FEC payloads dropped.
    pub malformed: u64,
}

impl FecReceiver {
    /// A receiver for wzp-fec's default symbol size.
    pub fn new() -> Result<Self, wzp_fec::FecError> {
        Ok(Self {
            decoder: FecDecoder::new(wzp_fec::DEFAULT_SYMBOL_SIZE, wzp_fec::DEFAULT_STALE)?,
            symbol_size: wzp_fec::DEFAULT_SYMBOL_SIZE,
            recovered_before: 0,
            last_protected: None,
            malformed: 0,
        })
    }

    /// Takes a protected payload (source or repair symbol) of a packet whose
    /// header names `codec`, and appends the frames it delivers. A payload that
    /// does not parse is counted and dropped.
    pub fn push(
        &mut self,
        codec: CodecId,
        payload: &[u8],
        now: Instant,
        out: &mut Vec<AudioFrame>,
    ) {
        self.last_protected = Some(now);
        let size = symbol_size(codec);
        if size != self.symbol_size {
            match FecDecoder::new(size, wzp_fec::DEFAULT_STALE) {
                Ok(d) => {
                    self.recovered_before += self.decoder.stats().recovered;
                    self.decoder = d;
                    self.symbol_size = size;
                }
                Err(e) => {
                    self.malformed += 1;
                    tracing::debug!(error = %e, ?codec, "no FEC decoder for this codec");
                    return;
                }
            }
        }
        let mut got = Vec::new();
        let pushed = FecPacket::parse(payload).and_then(|p| self.decoder.push(p, now, &mut got));
        if let Err(e) = pushed {
            self.malformed += 1;
            tracing::debug!(error = %e, "audio FEC packet dropped");
            return;
        }
        self.decoder.expire(now);
        for f in got {
            // Empty frames pad a block closed early; they carry nothing.
            let Some((prefix, data)) = f.data.split_first_chunk::<FRAME_PREFIX>() else {
                continue;
            };
            let (seq, ts) = prefix.split_at(4);
            let (Ok(seq), Ok(ts)) = (<[u8; 4]>::try_from(seq), <[u8; 4]>::try_from(ts)) else {
                continue;
            };
            out.push(AudioFrame {
                seq: Seq(u32::from_be_bytes(seq)),
                ts: TimestampMs(u32::from_be_bytes(ts)),
                data: data.to_vec(),
                recovered: f.recovered,
            });
        }
    }

    /// Whether the sender's audio was protected recently (so playout should
    /// hold [`PROTECTED_PLAYOUT_MS`]).
    #[must_use]
    pub fn active(&self, now: Instant) -> bool {
        self.last_protected
            .is_some_and(|t| now.saturating_duration_since(t) <= PROTECTED_HOLD)
    }

    /// Frames rebuilt from repair symbols so far.
    #[must_use]
    pub fn recovered(&self) -> u64 {
        self.recovered_before + self.decoder.stats().recovered
    }
}

/// Longest run of missing packets counted as loss (500 ms of 20 ms frames); a
/// longer gap is an outage, which no FEC repairs and reconnection handles.
const OUTAGE_GAP: i64 = 25;

/// Loss of one sender's audio source packets as they arrive (before any
/// repair), from the sequence numbers of stream 0. Outages are left out.
#[derive(Debug, Default)]
pub struct LossMeter {
    highest: Option<Seq>,
    /// `highest` at the last reading.
    mark: Option<Seq>,
    received: u64,
}

impl LossMeter {
    /// A source packet with `seq` arrived.
    pub fn note(&mut self, seq: Seq) {
        self.received += 1;
        match self.highest {
            Some(h) if seq.diff(h) <= 0 => {}
            Some(h) => {
                let gap = seq.diff(h) - 1;
                if gap > OUTAGE_GAP
                    && let Some(m) = self.mark
                {
                    // An outage, not loss FEC could repair: left out of the count.
                    self.mark = Some(m.wrapping_add(gap as u32));
                }
                self.highest = Some(seq);
            }
            None => self.highest = Some(seq),
        }
        if self.mark.is_none() {
            // The first packet opens the window; it is counted in it.
            self.mark = Some(seq.wrapping_add(u32::MAX));
        }
    }

    /// Loss in percent since the last reading, and starts a new window; `None`
    /// when nothing was expected (the sender was silent or muted).
    pub fn take(&mut self) -> Option<f32> {
        let (Some(h), Some(m)) = (self.highest, self.mark) else {
            return None;
        };
        let expected = h.diff(m).max(0) as u64;
        let received = std::mem::take(&mut self.received);
        self.mark = Some(h);
        if expected == 0 {
            return None;
        }
        let lost = expected.saturating_sub(received.min(expected));
        Some(lost as f32 * 100.0 / expected as f32)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use wzp_proto::ParticipantId;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn ratio_steps_up_at_once_and_down_after_calm() {
        let t0 = Instant::now();
        let mut p = AudioProtection::new(Seq(7));
        assert_eq!(p.update(t0), None);
        p.on_report(ParticipantId(2), 5.0, t0);
        assert_eq!(p.update(t0), Some(FecRatio::from_ratio(1.0)));
        p.on_report(ParticipantId(3), 20.0, at(t0, 1000));
        assert_eq!(p.update(at(t0, 1000)), Some(FecRatio::from_ratio(2.0)));
        // Loss falls: 2.0 holds for CALM, then 1.0; then off after another CALM.
        for s in 2..=12u64 {
            p.on_report(ParticipantId(2), 0.0, at(t0, s * 1000));
            p.on_report(ParticipantId(3), 0.0, at(t0, s * 1000));
            let r = p.update(at(t0, s * 1000));
            if s < 12 {
                assert_eq!(r, None, "at {s} s");
            } else {
                assert_eq!(r, Some(FecRatio::from_ratio(1.0)));
            }
        }
        for s in 13..=23u64 {
            p.on_report(ParticipantId(2), 0.0, at(t0, s * 1000));
            p.update(at(t0, s * 1000));
        }
        assert_eq!(p.ratio(), FecRatio::NONE);
        assert!(
            p.protect(CodecId::Opus24k, Seq(1), TimestampMs(0), &[1, 2, 3])
                .is_none()
        );
    }

    #[test]
    fn congestion_turns_protection_off_and_holds_it_off() {
        let t0 = Instant::now();
        let mut p = AudioProtection::new(Seq(0));
        p.on_report(ParticipantId(2), 20.0, t0);
        assert_eq!(p.update(t0), Some(FecRatio::from_ratio(2.0)));
        p.congested(at(t0, 500));
        assert_eq!(p.ratio(), FecRatio::NONE);
        p.on_report(ParticipantId(2), 20.0, at(t0, 5000));
        assert_eq!(p.update(at(t0, 5000)), None, "held off after congestion");
        p.on_report(ParticipantId(2), 20.0, at(t0, 11_000));
        assert_eq!(p.update(at(t0, 11_000)), Some(FecRatio::from_ratio(2.0)));
    }

    #[test]
    fn stale_reports_and_departed_participants_do_not_count() {
        let t0 = Instant::now();
        let mut p = AudioProtection::new(Seq(0));
        p.on_report(ParticipantId(2), 40.0, t0);
        assert_eq!(p.worst_loss(at(t0, 6000)), 0.0);
        p.on_report(ParticipantId(2), f32::NAN, t0);
        assert_eq!(p.worst_loss(t0), 0.0);
        p.on_report(ParticipantId(2), 30.0, t0);
        p.forget(ParticipantId(2));
        assert_eq!(p.worst_loss(t0), 0.0);
    }

    /// Frames through protect -> a 160 ms burst of loss on both streams ->
    /// FecReceiver come back whole, with their sequence numbers and timestamps.
    #[test]
    fn a_burst_is_rebuilt_with_seq_and_timestamp() {
        let t0 = Instant::now();
        let mut p = AudioProtection::new(Seq(1000));
        p.on_report(ParticipantId(2), 5.0, t0);
        p.update(t0);
        let mut rx = FecReceiver::new().expect("receiver");
        let mut out = Vec::new();
        let mut repairs = 0;
        for i in 0..60u32 {
            let now = at(t0, u64::from(i) * 20);
            let pkts = p
                .protect(
                    CodecId::Opus24k,
                    Seq(50 + i),
                    TimestampMs(i * 20),
                    &[i as u8; 70],
                )
                .expect("protected");
            for pk in pkts {
                repairs += usize::from(pk.repair);
                if pk.repair {
                    assert_eq!(pk.stream, AUDIO_REPAIR_STREAM);
                } else {
                    assert_eq!(pk.seq, Seq(50 + i));
                }
                // Frames 20..28 (160 ms) and everything sent with them are lost.
                if !(20..28).contains(&i) {
                    rx.push(CodecId::Opus24k, &pk.payload, now, &mut out);
                }
                if pk.repair {
                    assert_eq!(pk.payload.len(), wzp_fec::FEC_HEADER_LEN + 104);
                }
            }
        }
        assert!(
            repairs >= 40,
            "{repairs} repair symbols for 60 frames at 1.0"
        );
        for i in 20..28u32 {
            let f = out
                .iter()
                .find(|f| f.seq == Seq(50 + i))
                .unwrap_or_else(|| panic!("frame {i} not rebuilt"));
            assert!(f.recovered);
            assert_eq!(f.ts, TimestampMs(i * 20));
            assert_eq!(f.data, vec![i as u8; 70]);
        }
        assert!(rx.active(at(t0, 1200)));
        assert!(!rx.active(at(t0, 1200 + 6000)));
        assert!(rx.recovered() >= 8);
        // Garbage is counted, not a panic.
        rx.push(CodecId::Opus24k, &[1, 2], t0, &mut out);
        assert_eq!(rx.malformed, 1);
    }

    /// A sender that mutes mid-block sends the block's repair at once, so the
    /// last frames before the mute can be rebuilt without waiting for unmute.
    #[test]
    fn flush_on_mute_protects_the_last_frames() {
        let t0 = Instant::now();
        let mut p = AudioProtection::new(Seq(0));
        assert!(p.flush().1.is_empty(), "nothing to flush while off");
        p.on_report(ParticipantId(2), 20.0, t0);
        p.update(t0);
        let mut rx = FecReceiver::new().expect("receiver");
        let mut out = Vec::new();
        // 20 frames: one whole block and 5 frames of the next; the last 3 are lost.
        for i in 0..20u32 {
            let pkts = p
                .protect(
                    CodecId::Opus32k,
                    Seq(i),
                    TimestampMs(i * 20),
                    &[i as u8; 60],
                )
                .expect("protected");
            for pk in pkts.iter().filter(|_| i < 17) {
                rx.push(CodecId::Opus32k, &pk.payload, t0, &mut out);
            }
        }
        assert!(out.iter().all(|f| f.seq.0 < 17));
        let (codec, flushed) = p.flush();
        assert_eq!(codec, CodecId::Opus32k);
        assert!(!flushed.is_empty());
        assert!(flushed.iter().all(|pk| pk.repair));
        for pk in &flushed {
            rx.push(CodecId::Opus32k, &pk.payload, t0, &mut out);
        }
        for i in 17..20u32 {
            let f = out
                .iter()
                .find(|f| f.seq == Seq(i))
                .unwrap_or_else(|| panic!("frame {i} not rebuilt"));
            assert!(f.recovered);
            assert_eq!(f.data, vec![i as u8; 60]);
        }
        assert!(p.flush().1.is_empty(), "nothing left after a flush");
    }

    /// With the budget the engine gives Opus (`frame_capacity`), every frame of the
    /// speech asset at the 16 kbit/s tier fits a symbol and is protected; without it,
    /// some VBR peaks overflow the symbol and would go out unprotected.
    #[test]
    fn the_encoder_budget_keeps_every_frame_protected() {
        let t0 = Instant::now();
        let mut p = AudioProtection::new(Seq(0));
        assert_eq!(p.frame_capacity(CodecId::Opus16k), None, "off: no cap");
        p.on_report(ParticipantId(2), 20.0, t0);
        p.update(t0);
        let cap = p.frame_capacity(CodecId::Opus16k).expect("on");
        assert_eq!(
            cap,
            usize::from(symbol_size(CodecId::Opus16k)) - 2 - FRAME_PREFIX
        );
        let speech = wzp_audio::io::read_wav_i16(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/speech_48k.wav"),
        )
        .expect("the speech asset");
        let cfg = wzp_audio::EncoderConfig::for_codec(CodecId::Opus16k);
        let mut enc = wzp_audio::OpusEncoder::new(cfg).expect("encoder");
        let mut free = wzp_audio::OpusEncoder::new(cfg).expect("encoder");
        let (mut frames, mut over_free, mut protected) = (0u32, 0, 0);
        for chunk in speech.chunks_exact(960) {
            let pcm: Vec<f32> = chunk.iter().map(|&v| f32::from(v) / 32768.0).collect();
            let mut buf = [0u8; 1275];
            let n = enc
                .encode(&pcm, &mut buf[..cap])
                .expect("encode within budget");
            assert!(n <= cap);
            let ts = TimestampMs(frames * 20);
            if p.protect(CodecId::Opus16k, Seq(frames), ts, &buf[..n])
                .is_some()
            {
                protected += 1;
            }
            let m = free.encode(&pcm, &mut buf).expect("encode");
            over_free += usize::from(m > cap);
            frames += 1;
        }
        assert!(frames > 200, "{frames} frames");
        assert_eq!(protected, frames, "every capped frame is protected");
        assert!(
            over_free > 0,
            "uncapped, some frames must overflow a symbol, or this test shows nothing"
        );
    }

    #[test]
    fn symbol_sizes_fit_the_codec() {
        assert_eq!(symbol_size(CodecId::Opus24k), 104);
        assert_eq!(symbol_size(CodecId::Opus64k), 256);
        assert!(symbol_size(CodecId::Opus6k) >= 40);
        for c in [
            CodecId::Opus6k,
            CodecId::Opus16k,
            CodecId::Opus32k,
            CodecId::Opus48k,
        ] {
            assert_eq!(symbol_size(c) % 8, 0);
        }
    }

    #[test]
    fn loss_meter_counts_gaps_before_repair() {
        let mut m = LossMeter::default();
        assert_eq!(m.take(), None);
        for s in (100..200u32).filter(|s| s % 10 != 0) {
            m.note(Seq(s));
        }
        let loss = m.take().expect("loss");
        assert!((loss - 10.0).abs() < 1.5, "{loss}");
        // Silence (muted): no reading rather than 100 % loss.
        assert_eq!(m.take(), None);
        // Gaps of 2 s (outages) are not loss.
        for s in (300..350u32).chain(450..497) {
            m.note(Seq(s));
        }
        let outage = m.take().expect("loss");
        assert!(outage < 5.0, "{outage}");
        // Across the u32 wrap.
        let mut m = LossMeter::default();
        for s in 0..50u32 {
            m.note(Seq(u32::MAX - 20).wrapping_add(s));
        }
        let wrapped = m.take().expect("loss");
        assert!(wrapped < 1.0, "{wrapped}");
    }
}
