//! The sans-IO model of one direction of a network path.
//!
//! A [`Link`] takes packets and the current time and hands packets back when the
//! impaired network would deliver them. It never reads a clock, sleeps or touches a
//! socket, so a test can push a million packets through it in milliseconds and get the
//! same result for the same seed every time.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::error::Result;
use crate::impairment::Impairment;

/// The most packets a link holds in flight; beyond that a packet is counted as
/// `dropped_queue`. Only a misconfigured test (huge delay at high rate) gets here; the
/// cap keeps such a test from eating all memory.
pub const MAX_IN_FLIGHT: usize = 1 << 16;

/// A packet travelling through a [`Link`]: its bytes and an opaque tag the link
/// carries through unchanged (the proxy uses it to remember which flow the packet
/// belongs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The UDP payload.
    pub data: Bytes,
    /// Caller's tag, returned untouched with the packet.
    pub tag: u64,
}

impl Packet {
    /// A packet with tag 0.
    #[must_use]
    pub fn new(data: impl Into<Bytes>) -> Self {
        Self {
            data: data.into(),
            tag: 0,
        }
    }

    /// A packet with the given tag.
    #[must_use]
    pub fn tagged(data: impl Into<Bytes>, tag: u64) -> Self {
        Self {
            data: data.into(),
            tag,
        }
    }
}

impl From<Bytes> for Packet {
    fn from(data: Bytes) -> Self {
        Self::new(data)
    }
}

impl From<Vec<u8>> for Packet {
    fn from(data: Vec<u8>) -> Self {
        Self::new(data)
    }
}

impl From<&[u8]> for Packet {
    fn from(data: &[u8]) -> Self {
        Self::new(Bytes::copy_from_slice(data))
    }
}

/// Counters of a [`Link`], so a test can check what the network did rather than infer it.
///
/// Invariant: `received + duplicated == delivered + dropped() + in flight`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets handed to the link.
    pub received: u64,
    /// Bytes handed to the link.
    pub received_bytes: u64,
    /// Packets the link released (duplicates included).
    pub delivered: u64,
    /// Bytes the link released (duplicates included).
    pub delivered_bytes: u64,
    /// Packets dropped by independent loss.
    pub dropped_loss: u64,
    /// Packets dropped by the Gilbert-Elliott burst model.
    pub dropped_burst: u64,
    /// Packets dropped because the bottleneck queue (or the in-flight cap) was full.
    pub dropped_queue: u64,
    /// Packets dropped because the link was in an outage.
    pub dropped_outage: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Packets released after a packet that entered the link later than they did.
    pub reordered: u64,
}

impl LinkStats {
    /// All drops, whatever the cause.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_burst + self.dropped_queue + self.dropped_outage
    }
}

/// A packet waiting for its release time. Ordered by time, then by the order it was
/// scheduled, so equal release times keep their order and the output is deterministic.
#[derive(Debug)]
struct InFlight {
    at: Instant,
    order: u64,
    /// Arrival sequence number (a duplicate shares its original's), for reorder counting.
    seq: u64,
    packet: Packet,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// One direction of an impaired path, as a sans-IO state machine (str0m style).
///
/// Drive it with three calls:
///
/// ```
/// use std::time::{Duration, Instant};
/// use wzp_netsim::{Impairment, Link};
///
/// let start = Instant::now();
/// let imp = Impairment { delay: Duration::from_millis(30), ..Impairment::default() };
/// let mut link = Link::new(imp, 42, start)?;
/// link.handle_packet(start, vec![1, 2, 3]);
/// assert!(link.poll_transmit(start).is_none());          // still in flight
/// let due = link.poll_timeout().unwrap();                // when to come back
/// assert_eq!(due, start + Duration::from_millis(30));
/// assert_eq!(&link.poll_transmit(due).unwrap().data[..], &[1, 2, 3]);
/// # Ok::<(), wzp_netsim::NetsimError>(())
/// ```
///
/// The same seed, impairment and sequence of calls (with the same `now` values) always
/// give the same output.
#[derive(Debug)]
pub struct Link {
    imp: Impairment,
    rng: ChaCha8Rng,
    /// When the current impairment was applied: outage windows count from here.
    epoch: Instant,
    manual_outage: bool,
    /// Gilbert-Elliott state: true while in the bad state.
    bad: bool,
    /// When the bottleneck finishes sending what is queued.
    link_free_at: Option<Instant>,
    /// The latest release time of an in-order packet: jitter never releases a
    /// packet before this.
    last_in_order: Option<Instant>,
    queue: BinaryHeap<Reverse<InFlight>>,
    next_seq: u64,
    next_order: u64,
    max_delivered_seq: Option<u64>,
    stats: LinkStats,
}

impl Link {
    /// A link with `impairment`, its random choices drawn from a ChaCha8 stream seeded
    /// with `seed`; `now` is when the impairment starts (for scheduled outages).
    pub fn new(impairment: Impairment, seed: u64, now: Instant) -> Result<Self> {
        impairment.validate()?;
        Ok(Self {
            imp: impairment,
            rng: ChaCha8Rng::seed_from_u64(seed),
            epoch: now,
            manual_outage: false,
            bad: false,
            link_free_at: None,
            last_in_order: None,
            queue: BinaryHeap::new(),
            next_seq: 0,
            next_order: 0,
            max_delivered_seq: None,
            stats: LinkStats::default(),
        })
    }

    /// Replaces the impairment from `now` on (scheduled outages count from `now`).
    /// Packets already in flight keep their release times. Refused, leaving the link
    /// unchanged, if the impairment is invalid.
    pub fn set_impairment(&mut self, now: Instant, impairment: Impairment) -> Result<()> {
        impairment.validate()?;
        if impairment.burst.is_none() {
            self.bad = false;
        }
        if impairment.rate_limit.is_none() {
            self.link_free_at = None;
        }
        self.imp = impairment;
        self.epoch = now;
        Ok(())
    }

    /// The impairment in force.
    #[must_use]
    pub fn impairment(&self) -> &Impairment {
        &self.imp
    }

    /// Turns a manual outage on or off, on top of any scheduled ones.
    pub fn set_outage(&mut self, on: bool) {
        self.manual_outage = on;
    }

    /// Whether a packet entering at `now` would be dropped by an outage.
    #[must_use]
    pub fn in_outage(&self, now: Instant) -> bool {
        if self.manual_outage {
            return true;
        }
        let since = now.saturating_duration_since(self.epoch);
        self.imp.outages.iter().any(|o| o.contains(since))
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Packets currently in flight (duplicates included).
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// A packet enters the link at `now`. It is either dropped (and counted) or
    /// scheduled for release; collect it with [`Link::poll_transmit`].
    pub fn handle_packet(&mut self, now: Instant, packet: impl Into<Packet>) {
        let packet = packet.into();
        let len = packet.data.len() as u64;
        self.stats.received += 1;
        self.stats.received_bytes += len;
        let seq = self.next_seq;
        self.next_seq += 1;

        if self.in_outage(now) {
            self.stats.dropped_outage += 1;
            return;
        }
        if let Some(ge) = self.imp.burst {
            let flip = if self.bad {
                ge.p_bad_to_good
            } else {
                ge.p_good_to_bad
            };
            if self.chance(flip) {
                self.bad = !self.bad;
            }
            if self.bad && self.chance(ge.loss_in_bad) {
                self.stats.dropped_burst += 1;
                return;
            }
        }
        if self.chance(self.imp.loss) {
            self.stats.dropped_loss += 1;
            return;
        }
        if self.queue.len() >= MAX_IN_FLIGHT {
            self.stats.dropped_queue += 1;
            return;
        }
        // The bottleneck: serialise behind what is queued, or drop if it does not fit.
        let departed = match self.imp.rate_limit {
            None => now,
            Some(r) => {
                let free = self.link_free_at.map_or(now, |t| t.max(now));
                let backlog_ns = free.saturating_duration_since(now).as_nanos();
                let backlog_bytes = backlog_ns * u128::from(r.bits_per_second) / 8_000_000_000;
                if backlog_bytes + u128::from(len) > u128::from(r.queue_bytes) {
                    self.stats.dropped_queue += 1;
                    return;
                }
                let tx_ns = u128::from(len) * 8_000_000_000 / u128::from(r.bits_per_second);
                let Some(done) = add(free, nanos(tx_ns)) else {
                    self.stats.dropped_queue += 1;
                    return;
                };
                self.link_free_at = Some(done);
                done
            }
        };
        // Propagation, jitter and reordering.
        let jitter = self.uniform(self.imp.jitter);
        let reordered = self.chance(self.imp.reorder);
        let Some(mut at) = add(departed, self.imp.delay.saturating_add(jitter)) else {
            self.stats.dropped_queue += 1;
            return;
        };
        if reordered {
            match add(at, self.imp.reorder_delay) {
                Some(t) => at = t,
                None => {
                    self.stats.dropped_queue += 1;
                    return;
                }
            }
        } else {
            if let Some(last) = self.last_in_order {
                at = at.max(last);
            }
            self.last_in_order = Some(at);
        }
        let duplicate = self.chance(self.imp.duplicate);
        if duplicate {
            self.stats.duplicated += 1;
            self.push(at, seq, packet.clone());
        }
        self.push(at, seq, packet);
    }

    /// The next packet due at or before `now`, if any. Call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Packet> {
        if self.queue.peek().is_some_and(|Reverse(p)| p.at <= now) {
            let Reverse(p) = self.queue.pop()?;
            match self.max_delivered_seq {
                Some(max) if p.seq < max => self.stats.reordered += 1,
                Some(max) if p.seq == max => {}
                _ => self.max_delivered_seq = Some(p.seq),
            }
            self.stats.delivered += 1;
            self.stats.delivered_bytes += p.packet.data.len() as u64;
            Some(p.packet)
        } else {
            None
        }
    }

    /// When the next packet is due, or `None` when nothing is in flight. The I/O shell
    /// sleeps until then (or until a packet arrives).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(p)| p.at)
    }

    fn push(&mut self, at: Instant, seq: u64, packet: Packet) {
        let order = self.next_order;
        self.next_order += 1;
        self.queue.push(Reverse(InFlight {
            at,
            order,
            seq,
            packet,
        }));
    }

    /// True with probability `p` (no random draw for 0 or 1).
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            // 53 random bits -> uniform in [0, 1).
            let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            u < p
        }
    }

    /// Uniform in `[0, max]` with nanosecond resolution.
    fn uniform(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        let span = max.as_nanos().saturating_add(1);
        let r = (u128::from(self.rng.next_u64()) * span) >> 64;
        nanos(r)
    }
}

fn nanos(n: u128) -> Duration {
    let secs = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is below 1e9, so it fits.
    let sub = u32::try_from(n % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, sub)
}

fn add(t: Instant, d: Duration) -> Option<Instant> {
    t.checked_add(d)
}
