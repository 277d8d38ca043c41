//! The receive path of one sender: jitter buffer -> Opus decode with FEC/DRED
//! recovery and PLC -> fixed-size output frames. And [`Receivers`], one per
//! sender, keyed by whatever identifies a sender (participant id).
//!
//! Sans-IO like the jitter buffer: `insert` takes the arrival time, `pull`
//! takes the playout tick's time.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Instant;

use wzp_proto::{Seq, TimestampMs};

use crate::codec::{OpusDecoder, Recovery, has_dred_extension};
use crate::error::Result;
use crate::frame::{FrameDuration, SAMPLES_PER_MS, rms};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};

/// How the last pulled frame was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOrigin {
    /// Decoded from its own packet.
    Decoded,
    /// Rebuilt from the next packet's redundancy.
    Recovered,
    /// Concealed (PLC or DTX comfort noise).
    Concealed,
    /// Silence while buffering or idle.
    Silence,
}

/// Receiver settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceiverConfig {
    /// Output frame length.
    pub frame: FrameDuration,
    /// Jitter buffer settings.
    pub jitter: JitterConfig,
    /// How to rebuild a lost packet from the next one: in-band FEC, DRED, or
    /// `None` for plain PLC (the baseline the quality bench compares with).
    pub recovery: Option<Recovery>,
    /// Drop quiet frames (RMS below this) when the buffer is overfull.
    pub drain_quiet_rms: f32,
    /// Opus PLC for frames that cannot be recovered; `false` plays silence
    /// instead (only for the quality bench's "plain" baseline).
    pub plc: bool,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            frame: FrameDuration::MS20,
            jitter: JitterConfig::default(),
            recovery: Some(Recovery::InbandFec),
            drain_quiet_rms: 0.02,
            plc: true,
        }
    }
}

/// Receive pipeline for one sender.
#[derive(Debug)]
pub struct AudioReceiver {
    cfg: ReceiverConfig,
    jb: JitterBuffer,
    dec: OpusDecoder,
    fifo: VecDeque<f32>,
    scratch: Vec<f32>,
    scratch2: Vec<f32>,
    last_origin: FrameOrigin,
}

/// Longest gap rebuilt from one packet's DRED. DRED carries history in 40 ms
/// chunks and, in VBR, only as many as the bitrate pays for; 80 ms rebuilt
/// cleanly at 32k in the tests, 100 ms did not (libopus returned garbage,
/// which `OpusDecoder::recover` now rejects). Longer gaps are concealed up to
/// this point, then rebuilt.
pub const MAX_DRED_GAP_MS: u32 = 80;

/// Splice length when a frame is dropped to drain the buffer (2.5 ms).
const SPLICE: usize = 120;

impl AudioReceiver {
    /// A receiver with its own decoder.
    pub fn new(cfg: ReceiverConfig) -> Result<Self> {
        Ok(Self {
            jb: JitterBuffer::new(cfg.jitter),
            dec: OpusDecoder::new()?,
            fifo: VecDeque::with_capacity(6 * cfg.frame.samples()),
            scratch: vec![0.0; 120 * SAMPLES_PER_MS],
            scratch2: vec![0.0; 120 * SAMPLES_PER_MS],
            last_origin: FrameOrigin::Silence,
            cfg,
        })
    }

    /// Takes one Opus packet that arrived at `now`.
    pub fn insert(&mut self, seq: Seq, ts: TimestampMs, packet: &[u8], now: Instant) {
        let samples = self
            .dec
            .packet_samples(packet)
            .unwrap_or(self.cfg.frame.samples());
        let dur = (samples / SAMPLES_PER_MS).max(1) as u32;
        self.jb.insert(seq, ts, dur, packet, now);
    }

    /// Jitter buffer counters.
    #[must_use]
    pub fn stats(&self) -> JitterStats {
        self.jb.stats()
    }

    /// Sets the lowest playout delay (see [`JitterBuffer::set_min_delay_ms`]).
    pub fn set_min_delay_ms(&mut self, ms: u32) {
        self.jb.set_min_delay_ms(ms);
    }

    /// The jitter buffer (target delay, depth).
    #[must_use]
    pub fn jitter(&self) -> &JitterBuffer {
        &self.jb
    }

    /// How the last output frame was made (the mostly-used origin if it
    /// combined several packets).
    #[must_use]
    pub fn last_origin(&self) -> FrameOrigin {
        self.last_origin
    }

    /// Fills `out` (one output frame) for the playout tick at `now`.
    pub fn pull(&mut self, now: Instant, out: &mut [f32]) -> Result<FrameOrigin> {
        let mut origin = None;
        while self.fifo.len() < out.len() {
            let o = self.produce(now)?;
            origin.get_or_insert(o);
            if o == FrameOrigin::Silence {
                break;
            }
        }
        let n = self.fifo.len().min(out.len());
        for (d, s) in out.iter_mut().zip(self.fifo.drain(..n)) {
            *d = s;
        }
        out[n..].fill(0.0);
        let o = origin.unwrap_or(FrameOrigin::Decoded);
        self.last_origin = o;
        Ok(o)
    }

    fn produce(&mut self, now: Instant) -> Result<FrameOrigin> {
        match self.jb.pop(now) {
            Playout::Wait => {
                self.fifo
                    .extend(std::iter::repeat_n(0.0, self.cfg.frame.samples()));
                Ok(FrameOrigin::Silence)
            }
            Playout::Packet { payload, .. } => {
                let n = self.decode_into_scratch(&payload);
                if self.jb.overfull() {
                    let quiet = rms(&self.scratch[..n]) < self.cfg.drain_quiet_rms;
                    let far = self.jb.depth_ms() > self.jb.target_delay_ms() * 2 + 100;
                    if (quiet || far)
                        && let Some(next) = self.jb.drain_one()
                    {
                        // Skip this frame; splice its start into the next one.
                        let m = self.dec.decode(&next, &mut self.scratch2).unwrap_or(0);
                        let s = SPLICE.min(n).min(m);
                        for i in 0..s {
                            let w = i as f32 / s as f32;
                            self.scratch2[i] = self.scratch[i] * (1.0 - w) + self.scratch2[i] * w;
                        }
                        self.fifo.extend(&self.scratch2[..m]);
                        return Ok(FrameOrigin::Decoded);
                    }
                }
                self.fifo.extend(&self.scratch[..n]);
                Ok(FrameOrigin::Decoded)
            }
            Playout::Recover {
                next,
                duration_ms,
                gap_ms,
            } => {
                let len = (duration_ms as usize * SAMPLES_PER_MS).min(self.scratch.len());
                if let Some(how) = self.cfg.recovery {
                    if gap_ms == duration_ms {
                        if let Ok(n) = self.dec.recover(&next, how, &mut self.scratch[..len]) {
                            self.jb.mark_recovered();
                            self.fifo.extend(&self.scratch[..n]);
                            return Ok(FrameOrigin::Recovered);
                        }
                    } else if how == Recovery::Dred
                        && gap_ms <= MAX_DRED_GAP_MS
                        && has_dred_extension(&next)
                    {
                        // The whole burst at once (DRED rebuilds up to the
                        // next packet, see `OpusDecoder::recover`).
                        let glen = (gap_ms as usize * SAMPLES_PER_MS).min(self.scratch.len());
                        if let Ok(n) = self.dec.recover(&next, how, &mut self.scratch[..glen]) {
                            self.jb.skip_recovered_gap();
                            self.fifo.extend(&self.scratch[..n]);
                            return Ok(FrameOrigin::Recovered);
                        }
                    }
                }
                self.jb.mark_concealed();
                self.conceal_into_fifo(len);
                Ok(FrameOrigin::Concealed)
            }
            Playout::Conceal { duration_ms, .. } => {
                let len = (duration_ms as usize * SAMPLES_PER_MS).min(self.scratch.len());
                self.conceal_into_fifo(len);
                Ok(FrameOrigin::Concealed)
            }
        }
    }

    fn conceal_into_fifo(&mut self, len: usize) {
        if !self.cfg.plc {
            self.fifo.extend(std::iter::repeat_n(0.0, len));
            return;
        }
        let n = match self.dec.conceal(&mut self.scratch[..len]) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "PLC failed; playing silence");
                self.scratch[..len].fill(0.0);
                len
            }
        };
        self.fifo.extend(&self.scratch[..n]);
    }

    fn decode_into_scratch(&mut self, payload: &[u8]) -> usize {
        match self.dec.decode(payload, &mut self.scratch) {
            Ok(n) => n,
            Err(e) => {
                // A corrupt packet: conceal one nominal frame instead.
                tracing::debug!(error = %e, "undecodable packet; concealing");
                let len = self.cfg.frame.samples();
                self.dec.conceal(&mut self.scratch[..len]).unwrap_or(0)
            }
        }
    }
}

/// One [`AudioReceiver`] per sender.
#[derive(Debug)]
pub struct Receivers<K: Hash + Eq> {
    cfg: ReceiverConfig,
    by_sender: HashMap<K, AudioReceiver>,
}

impl<K: Hash + Eq + Clone> Receivers<K> {
    /// No senders yet.
    #[must_use]
    pub fn new(cfg: ReceiverConfig) -> Self {
        Self {
            cfg,
            by_sender: HashMap::new(),
        }
    }

    /// Routes a packet to its sender's receiver, creating it on first sight.
    pub fn insert(
        &mut self,
        sender: &K,
        seq: Seq,
        ts: TimestampMs,
        packet: &[u8],
        now: Instant,
    ) -> Result<()> {
        if !self.by_sender.contains_key(sender) {
            self.by_sender
                .insert(sender.clone(), AudioReceiver::new(self.cfg)?);
        }
        if let Some(r) = self.by_sender.get_mut(sender) {
            r.insert(seq, ts, packet, now);
        }
        Ok(())
    }

    /// Forgets a sender (left the call, or rejoined with a new stream).
    pub fn remove(&mut self, sender: &K) {
        self.by_sender.remove(sender);
    }

    /// The receivers, for pulling frames and reading stats.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut AudioReceiver)> {
        self.by_sender.iter_mut()
    }

    /// One sender's receiver.
    pub fn get_mut(&mut self, sender: &K) -> Option<&mut AudioReceiver> {
        self.by_sender.get_mut(sender)
    }
}
