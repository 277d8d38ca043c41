//! Loss recovery for video, sans-IO: retransmission on NACK, keyframe requests
//! when a retransmission cannot arrive in time, and a receiver that only hands
//! out frames from an unbroken reference chain (freeze rather than corruption).
//!
//! Time is an input everywhere (`now: Instant`), so tests replay any loss
//! pattern from a seed, faster than real time.
//!
//! Sender side: [`RetransmitCache`] keeps ~500 ms of sent datagrams and answers
//! `Nack`; [`KeyframeGate`] turns a burst of keyframe requests into one IDR.
//! Receiver side: [`VideoReceiver`] wraps the [`Depacketizer`], a
//! [`NackGenerator`] and a [`KeyframeRequester`], and tells its owner what to
//! send (`Nack`, `PictureLoss`) and which access units to decode.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use tracing::debug;
use wzp_proto::Seq;

use crate::error::Result;
use crate::packet::{AccessUnit, Depacketizer, DepacketizerEvent, VideoPacket};

/// Sent datagrams kept for retransmission.
#[derive(Debug)]
pub struct RetransmitCache {
    max_age: Duration,
    max_bytes: usize,
    bytes: usize,
    order: VecDeque<(Seq, Instant)>,
    by_seq: HashMap<u32, (Vec<u8>, u8)>,
    resent: u64,
}

/// How many times one packet is resent at most: after that the receiver is
/// better served by a keyframe than by more copies into a lossy path.
const MAX_RESENDS: u8 = 3;
/// Most sequence numbers honoured from one NACK, so a forged or buggy NACK
/// cannot turn the sender into an amplifier.
const MAX_SEQS_PER_NACK: usize = 256;

impl RetransmitCache {
    /// Keeps datagrams for `max_age` (about 500 ms: longer than any useful
    /// retransmission) and at most `max_bytes` in total.
    #[must_use]
    pub fn new(max_age: Duration, max_bytes: usize) -> Self {
        Self {
            max_age,
            max_bytes,
            bytes: 0,
            order: VecDeque::new(),
            by_seq: HashMap::new(),
            resent: 0,
        }
    }

    /// Remembers a datagram as sent at `now`. The bytes are whatever goes on the
    /// wire for this seq (plaintext or sealed, as the owner prefers).
    pub fn insert(&mut self, seq: Seq, datagram: Vec<u8>, now: Instant) {
        self.expire(now);
        self.bytes += datagram.len();
        if let Some((old, _)) = self.by_seq.insert(seq.0, (datagram, 0)) {
            self.bytes -= old.len();
        }
        self.order.push_back((seq, now));
        while self.bytes > self.max_bytes {
            if !self.pop_oldest() {
                break;
            }
        }
    }

    fn pop_oldest(&mut self) -> bool {
        let Some((seq, _)) = self.order.pop_front() else {
            return false;
        };
        if let Some((d, _)) = self.by_seq.remove(&seq.0) {
            self.bytes -= d.len();
        }
        true
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(_, t)) = self.order.front() {
            if now.saturating_duration_since(t) <= self.max_age {
                break;
            }
            self.pop_oldest();
        }
    }

    /// The datagrams to resend for a NACK (unknown, expired or over-resent seqs
    /// are skipped silently: the receiver will fall back to a keyframe request).
    pub fn on_nack(&mut self, seqs: &[Seq], now: Instant) -> Vec<Vec<u8>> {
        self.expire(now);
        let mut out = Vec::new();
        for s in seqs.iter().take(MAX_SEQS_PER_NACK) {
            if let Some((d, n)) = self.by_seq.get_mut(&s.0) {
                if *n < MAX_RESENDS {
                    *n += 1;
                    out.push(d.clone());
                }
            }
        }
        self.resent += out.len() as u64;
        out
    }

    /// Packets resent so far.
    #[must_use]
    pub fn resent(&self) -> u64 {
        self.resent
    }

    /// Datagrams currently held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }
}

/// Sender side: answers keyframe requests with at most one IDR per interval, so
/// that several receivers (or one impatient one) cannot make every frame an IDR.
#[derive(Debug, Clone)]
pub struct KeyframeGate {
    min_interval: Duration,
    last: Option<Instant>,
}

impl KeyframeGate {
    /// At most one forced keyframe per `min_interval` (200 ms is the reference's
    /// coalescing window and well under a receiver's retry interval).
    #[must_use]
    pub fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            last: None,
        }
    }

    /// A request arrived: `true` means "make the next frame a keyframe".
    pub fn on_request(&mut self, now: Instant) -> bool {
        if self.last.is_some_and(|t| now < t + self.min_interval) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// Receiver side: sends keyframe requests with suppression. One request goes out
/// at once; further ones wait until `min_interval` has passed and are only sent if
/// no keyframe arrived meanwhile.
#[derive(Debug, Clone)]
pub struct KeyframeRequester {
    min_interval: Duration,
    last_sent: Option<Instant>,
    pending: bool,
    sent: u64,
}

impl KeyframeRequester {
    /// At most one request per `min_interval`.
    #[must_use]
    pub fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            last_sent: None,
            pending: false,
            sent: 0,
        }
    }

    /// A keyframe is needed: `true` if a request should be sent now.
    pub fn request(&mut self, now: Instant) -> bool {
        self.pending = true;
        self.poll(now)
    }

    /// A keyframe arrived: nothing is pending any more.
    pub fn keyframe_received(&mut self) {
        self.pending = false;
    }

    /// Retry point: `true` if a still-pending request should be (re)sent now.
    pub fn poll(&mut self, now: Instant) -> bool {
        if !self.pending || self.last_sent.is_some_and(|t| now < t + self.min_interval) {
            return false;
        }
        self.last_sent = Some(now);
        self.sent += 1;
        true
    }

    /// When a pending request may next be retried.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.pending {
            return None;
        }
        self.last_sent.map(|t| t + self.min_interval)
    }

    /// Requests sent so far.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

/// Receiver NACK policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackConfig {
    /// A gap younger than this may just be reordering; do not NACK it yet.
    pub reorder_window: Duration,
    /// Longest a missing packet may hold up the picture. A NACK is only sent if
    /// its answer can arrive (one RTT) before this deadline; otherwise the
    /// receiver asks for a keyframe instead.
    pub max_delay: Duration,
    /// NACKs per missing packet at most.
    pub max_retries: u8,
    /// Sequence numbers NACKed per second at most; beyond it, a keyframe is cheaper.
    pub max_nacks_per_sec: u32,
    /// More missing packets than this at once: ask for a keyframe, do not NACK.
    pub max_missing: usize,
}

impl Default for NackConfig {
    fn default() -> Self {
        Self {
            reorder_window: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            max_retries: 3,
            max_nacks_per_sec: 50,
            max_missing: 300,
        }
    }
}

/// What the [`NackGenerator`] wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NackAction {
    /// Ask the sender to retransmit these.
    Nack(Vec<Seq>),
    /// Some packet cannot be recovered in time: the picture needs a keyframe.
    GiveUp,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    detected: Instant,
    last_sent: Option<Instant>,
    tries: u8,
}

/// Tracks missing sequence numbers and decides when to NACK them.
#[derive(Debug)]
pub struct NackGenerator {
    cfg: NackConfig,
    highest: Option<u64>,
    missing: BTreeMap<u64, Missing>,
    tokens: f64,
    refilled: Option<Instant>,
    nacked: u64,
}

impl NackGenerator {
    /// A generator with this policy.
    #[must_use]
    pub fn new(cfg: NackConfig) -> Self {
        Self {
            cfg,
            highest: None,
            missing: BTreeMap::new(),
            tokens: f64::from(cfg.max_nacks_per_sec),
            refilled: None,
            nacked: 0,
        }
    }

    fn extend(&self, seq: Seq) -> u64 {
        match self.highest {
            None => (1u64 << 32) + u64::from(seq.0),
            Some(h) => (h as i64 + seq.diff(Seq(h as u32))).max(0) as u64,
        }
    }

    /// A packet arrived (first time or retransmitted).
    pub fn on_packet(&mut self, seq: Seq, now: Instant) -> bool {
        let ext = self.extend(seq);
        match self.highest {
            None => self.highest = Some(ext),
            Some(h) if ext > h => {
                let gap = ext - h - 1;
                if gap as usize > self.cfg.max_missing {
                    // Too much to NACK: forget it, a keyframe will be asked for.
                    self.missing.clear();
                    self.highest = Some(ext);
                    return true;
                }
                for m in h + 1..ext {
                    self.missing.insert(
                        m,
                        Missing {
                            detected: now,
                            last_sent: None,
                            tries: 0,
                        },
                    );
                }
                self.highest = Some(ext);
            }
            Some(_) => {
                self.missing.remove(&ext);
            }
        }
        false
    }

    /// Stops caring about packets before `seq` (a keyframe starting there makes
    /// them useless).
    pub fn forget_before(&mut self, seq: Seq) {
        let ext = self.extend(seq);
        self.missing.retain(|&m, _| m >= ext);
    }

    /// Decides what to send now, given the current round-trip time.
    pub fn poll(&mut self, now: Instant, rtt: Duration, out: &mut Vec<NackAction>) {
        if let Some(t) = self.refilled {
            let dt = now.saturating_duration_since(t).as_secs_f64();
            let cap = f64::from(self.cfg.max_nacks_per_sec);
            self.tokens = (self.tokens + dt * cap).min(cap);
        }
        self.refilled = Some(now);
        let backoff = (rtt * 2).max(Duration::from_millis(10));
        let mut seqs = Vec::new();
        let mut give_up = false;
        let mut done = Vec::new();
        for (&ext, m) in &mut self.missing {
            if now < m.detected + self.cfg.reorder_window {
                continue;
            }
            let deadline = m.detected + self.cfg.max_delay;
            if now + rtt > deadline || m.tries >= self.cfg.max_retries {
                // The answer would come too late to be shown: a keyframe is the fix.
                give_up = true;
                done.push(ext);
                continue;
            }
            if m.last_sent.is_some_and(|t| now < t + backoff) {
                continue;
            }
            if self.tokens < 1.0 {
                give_up = true;
                done.push(ext);
                continue;
            }
            self.tokens -= 1.0;
            m.tries += 1;
            m.last_sent = Some(now);
            seqs.push(Seq(ext as u32));
        }
        for d in done {
            self.missing.remove(&d);
        }
        if !seqs.is_empty() {
            self.nacked += seqs.len() as u64;
            out.push(NackAction::Nack(seqs));
        }
        if give_up {
            debug!("missing video packet cannot be recovered in time");
            out.push(NackAction::GiveUp);
        }
    }

    /// When [`poll`](Self::poll) should next run.
    #[must_use]
    pub fn poll_timeout(&self, rtt: Duration) -> Option<Instant> {
        let backoff = (rtt * 2).max(Duration::from_millis(10));
        self.missing
            .values()
            .map(|m| match m.last_sent {
                None => m.detected + self.cfg.reorder_window,
                Some(t) => (t + backoff).min(m.detected + self.cfg.max_delay),
            })
            .min()
    }

    /// Sequence numbers currently missing.
    #[must_use]
    pub fn missing(&self) -> usize {
        self.missing.len()
    }

    /// Sequence numbers NACKed so far.
    #[must_use]
    pub fn nacked(&self) -> u64 {
        self.nacked
    }
}

/// What the [`VideoReceiver`] asks its owner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverEvent {
    /// Decode this access unit (complete, in order, reference chain intact).
    Decode(AccessUnit),
    /// Send `SignalMessage::Nack` for these sequence numbers.
    SendNack(Vec<Seq>),
    /// Send `SignalMessage::PictureLoss`: a keyframe is needed. Until one
    /// arrives, keep showing the last good picture.
    SendPictureLoss,
}

/// Receiver settings.
#[derive(Debug, Clone, Copy)]
pub struct ReceiverConfig {
    /// NACK policy.
    pub nack: NackConfig,
    /// Longest an incomplete frame holds up the chain (slightly more than
    /// `nack.max_delay`, so the NACK layer decides first).
    pub max_wait: Duration,
    /// At most one keyframe request per this interval.
    pub keyframe_interval: Duration,
    /// Bound on buffered packets.
    pub max_packets: usize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            nack: NackConfig::default(),
            max_wait: Duration::from_millis(250),
            keyframe_interval: Duration::from_secs(1),
            max_packets: 4096,
        }
    }
}

/// One sender's video stream at a receiver: packets in, access units to decode
/// and signals to send out.
#[derive(Debug)]
pub struct VideoReceiver {
    depack: Depacketizer,
    nack: NackGenerator,
    kf: KeyframeRequester,
    rtt: Duration,
    scratch: Vec<DepacketizerEvent>,
}

impl VideoReceiver {
    /// A receiver with this configuration and an initial RTT guess.
    #[must_use]
    pub fn new(cfg: ReceiverConfig, rtt: Duration) -> Self {
        Self {
            depack: Depacketizer::new(cfg.max_wait, cfg.max_packets),
            nack: NackGenerator::new(cfg.nack),
            kf: KeyframeRequester::new(cfg.keyframe_interval),
            rtt,
            scratch: Vec::new(),
        }
    }

    /// Updates the round-trip time (from transport path stats).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// Keyframe requests sent so far.
    #[must_use]
    pub fn keyframe_requests(&self) -> u64 {
        self.kf.sent()
    }

    /// Sequence numbers NACKed so far.
    #[must_use]
    pub fn nacked(&self) -> u64 {
        self.nack.nacked()
    }

    /// Depacketizer counters.
    #[must_use]
    pub fn depacketizer_stats(&self) -> crate::packet::DepacketizerStats {
        self.depack.stats()
    }

    /// Takes one plaintext video datagram (after decryption). A malformed one is
    /// an error, counted, and changes nothing.
    pub fn handle_datagram(
        &mut self,
        datagram: &[u8],
        now: Instant,
        out: &mut Vec<ReceiverEvent>,
    ) -> Result<()> {
        let packet = VideoPacket::from_datagram(datagram)?;
        let seq = packet.header.seq;
        let key = packet.header.flags.keyframe;
        let mut events = std::mem::take(&mut self.scratch);
        let res = self.depack.push(packet, now, &mut events);
        if res.is_ok() {
            if self.nack.on_packet(seq, now) {
                self.need_keyframe(now, out);
            }
            // A P-frame packet with no chain to attach to: ask for a keyframe
            // (joined mid-stream, or recovering).
            if !key && !self.depack.chain_intact() {
                self.need_keyframe(now, out);
            }
        }
        self.handle_events(&mut events, now, out);
        self.scratch = events;
        res
    }

    /// Runs timers: NACK decisions, giving up on a frame, request retries.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<ReceiverEvent>) {
        let mut actions = Vec::new();
        self.nack.poll(now, self.rtt, &mut actions);
        let mut events = std::mem::take(&mut self.scratch);
        for a in actions {
            match a {
                NackAction::Nack(seqs) => out.push(ReceiverEvent::SendNack(seqs)),
                NackAction::GiveUp => {
                    self.depack.skip_to_keyframe(now, &mut events);
                    self.need_keyframe(now, out);
                }
            }
        }
        self.depack.handle_timeout(now, &mut events);
        self.handle_events(&mut events, now, out);
        self.scratch = events;
        if self.kf.poll(now) {
            out.push(ReceiverEvent::SendPictureLoss);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.nack.poll_timeout(self.rtt),
            self.depack.poll_timeout(),
            self.kf.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The decoder refused an access unit: freeze and wait for a keyframe.
    pub fn decode_failed(&mut self, now: Instant, out: &mut Vec<ReceiverEvent>) {
        let mut events = std::mem::take(&mut self.scratch);
        self.depack.skip_to_keyframe(now, &mut events);
        self.handle_events(&mut events, now, out);
        self.scratch = events;
        self.need_keyframe(now, out);
    }

    fn need_keyframe(&mut self, now: Instant, out: &mut Vec<ReceiverEvent>) {
        if self.kf.request(now) {
            out.push(ReceiverEvent::SendPictureLoss);
        }
    }

    fn handle_events(
        &mut self,
        events: &mut Vec<DepacketizerEvent>,
        now: Instant,
        out: &mut Vec<ReceiverEvent>,
    ) {
        for e in events.drain(..) {
            match e {
                DepacketizerEvent::Frame(au) => {
                    if au.keyframe {
                        self.kf.keyframe_received();
                        self.nack.forget_before(au.first_seq);
                    }
                    out.push(ReceiverEvent::Decode(au));
                }
                DepacketizerEvent::ChainBroken { .. } => self.need_keyframe(now, out),
                DepacketizerEvent::Gap { .. } => {}
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn cache_answers_nacks_and_expires() {
        let t0 = Instant::now();
        let mut c = RetransmitCache::new(ms(500), 10_000);
        for i in 0..10u32 {
            c.insert(
                Seq((u32::MAX - 4).wrapping_add(i)),
                vec![i as u8; 100],
                t0 + ms(u64::from(i) * 10),
            );
        }
        let got = c.on_nack(&[Seq(u32::MAX), Seq(3), Seq(77)], t0 + ms(100));
        assert_eq!(got, vec![vec![4; 100], vec![8; 100]]);
        // Resend limit.
        for _ in 0..5 {
            c.on_nack(&[Seq(3)], t0 + ms(100));
        }
        assert_eq!(c.resent(), 2 + 2);
        // Expiry after max_age, and the byte cap.
        assert!(c.on_nack(&[Seq(u32::MAX)], t0 + ms(700)).is_empty());
        let mut small = RetransmitCache::new(ms(500), 250);
        for i in 0..5u32 {
            small.insert(Seq(i), vec![0; 100], t0);
        }
        assert_eq!(small.len(), 2);
    }

    #[test]
    fn nack_after_reorder_window_with_backoff_then_give_up() {
        let t0 = Instant::now();
        let rtt = ms(50);
        let mut n = NackGenerator::new(NackConfig::default());
        let mut out = Vec::new();
        n.on_packet(Seq(u32::MAX - 1), t0);
        n.on_packet(Seq(1), t0); // 2^32-1 and 0 missing, across the wrap
        // Reordered packet arriving inside the window is never NACKed.
        n.on_packet(Seq(0), t0 + ms(5));
        n.poll(t0 + ms(10), rtt, &mut out);
        assert!(out.is_empty());
        n.poll(t0 + ms(20), rtt, &mut out);
        assert_eq!(out, vec![NackAction::Nack(vec![Seq(u32::MAX)])]);
        out.clear();
        // Backoff: not again before 2 x RTT.
        n.poll(t0 + ms(60), rtt, &mut out);
        assert!(out.is_empty());
        n.poll(t0 + ms(120), rtt, &mut out);
        assert_eq!(out, vec![NackAction::Nack(vec![Seq(u32::MAX)])]);
        out.clear();
        // Next retry would land after max_delay (200 ms): give up instead.
        n.poll(t0 + ms(220), rtt, &mut out);
        assert_eq!(out, vec![NackAction::GiveUp]);
        assert_eq!(n.missing(), 0);
    }

    #[test]
    fn long_rtt_goes_straight_to_keyframe_and_rate_cap_holds() {
        let t0 = Instant::now();
        let mut n = NackGenerator::new(NackConfig::default());
        let mut out = Vec::new();
        n.on_packet(Seq(0), t0);
        n.on_packet(Seq(2), t0);
        n.poll(t0 + ms(20), ms(400), &mut out);
        assert_eq!(out, vec![NackAction::GiveUp]);
        // 100 missing at once: only 50 NACKed this second, the rest give up.
        let mut n = NackGenerator::new(NackConfig::default());
        out.clear();
        n.on_packet(Seq(0), t0);
        n.on_packet(Seq(101), t0);
        n.poll(t0 + ms(20), ms(20), &mut out);
        match &out[..] {
            [NackAction::Nack(s), NackAction::GiveUp] => assert_eq!(s.len(), 50),
            other => panic!("{other:?}"),
        }
        // A huge jump is not NACKed at all.
        assert!(n.on_packet(Seq(100_000), t0));
    }

    #[test]
    fn keyframe_requests_are_suppressed() {
        let t0 = Instant::now();
        let mut k = KeyframeRequester::new(ms(1000));
        assert!(k.request(t0));
        assert!(!k.request(t0 + ms(100)));
        assert_eq!(k.poll_timeout(), Some(t0 + ms(1000)));
        assert!(k.poll(t0 + ms(1000)));
        k.keyframe_received();
        assert!(!k.poll(t0 + ms(5000)));
        assert_eq!(k.sent(), 2);
        let mut g = KeyframeGate::new(ms(200));
        assert!(g.on_request(t0));
        assert!(!g.on_request(t0 + ms(150)));
        assert!(g.on_request(t0 + ms(200)));
    }
}
