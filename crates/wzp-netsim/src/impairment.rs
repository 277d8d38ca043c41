//! What a link does to packets: the configuration of one direction.
//!
//! All fields are public so a test can write
//! `Impairment { loss: 0.2, delay: Duration::from_millis(40), ..Impairment::default() }`;
//! [`Impairment::validate`] refuses values that make no sense, naming the field.

use std::time::Duration;

use crate::error::{NetsimError, Result};

/// The longest delay, jitter, reorder delay, outage start or outage length accepted.
/// Anything longer is a mistake in a test, and bounding it keeps `Instant` arithmetic safe.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The impairment of one direction of a path. The default is a perfect link.
///
/// A packet passes these stages in order, each of which may drop it:
///
/// 1. **outage** (`outages`, or the manual switch [`crate::Link::set_outage`]): dropped;
/// 2. **burst loss** (`burst`, a Gilbert-Elliott chain stepped once per packet);
/// 3. **independent loss** (`loss`);
/// 4. **bottleneck** (`rate_limit`): serialised at the configured rate behind the
///    packets already queued, dropped when the queue is full (drop-tail);
/// 5. **propagation**: `delay` plus a jitter drawn uniformly from `[0, jitter]`. Jitter
///    alone never reorders: a packet is never released before one that entered the link
///    earlier (like queueing delay on a real path), so the realised delay of a packet can
///    exceed its own draw but never `delay + jitter`;
/// 6. **reordering** (`reorder`): with this probability a packet gets `reorder_delay`
///    on top and is exempt from the ordering rule, so packets sent after it overtake it;
/// 7. **duplication** (`duplicate`): with this probability a second copy is released
///    right after the packet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Impairment {
    /// Probability that a packet is lost, independently of all others.
    pub loss: f64,
    /// Correlated (bursty) loss on top of `loss`, as real Wi-Fi and cellular links show.
    pub burst: Option<GilbertElliott>,
    /// Fixed one-way propagation delay.
    pub delay: Duration,
    /// Upper bound of a uniform extra delay per packet (see the type's doc for ordering).
    pub jitter: Duration,
    /// Probability that a packet is held back by `reorder_delay` and overtaken.
    pub reorder: f64,
    /// The extra delay of a reordered packet; must be non-zero when `reorder > 0`.
    pub reorder_delay: Duration,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// A bottleneck with a bounded queue, to test congestion and bandwidth adaptation.
    pub rate_limit: Option<RateLimit>,
    /// Scheduled outages, counted from when this impairment is applied.
    pub outages: Vec<Outage>,
}

/// A two-state Markov loss model (Gilbert-Elliott): in the good state nothing extra is
/// lost, in the bad state each packet is lost with `loss_in_bad`. The chain steps once
/// per packet, so the mean burst (bad-state) length is `1 / p_bad_to_good` packets and
/// the long-run share of packets in the bad state is
/// `p_good_to_bad / (p_good_to_bad + p_bad_to_good)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Per-packet probability of moving from the good to the bad state.
    pub p_good_to_bad: f64,
    /// Per-packet probability of moving from the bad back to the good state.
    pub p_bad_to_good: f64,
    /// Probability that a packet is lost while in the bad state.
    pub loss_in_bad: f64,
}

impl GilbertElliott {
    /// The long-run fraction of packets this model loses (the stationary loss rate).
    #[must_use]
    pub fn mean_loss(&self) -> f64 {
        let sum = self.p_good_to_bad + self.p_bad_to_good;
        if sum <= 0.0 {
            0.0
        } else {
            self.p_good_to_bad / sum * self.loss_in_bad
        }
    }
}

/// A bottleneck: packets leave at `bits_per_second`, and wait in a drop-tail queue of
/// at most `queue_bytes` bytes (a packet that does not fit is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// The rate packets leave the bottleneck at (payload bytes only, no UDP/IP overhead).
    pub bits_per_second: u64,
    /// The most bytes waiting in (or being serialised out of) the queue. A packet
    /// larger than this is always dropped.
    pub queue_bytes: u64,
}

impl RateLimit {
    /// A bottleneck whose queue holds `queue` worth of traffic at the given rate
    /// (at least one byte), the way router buffers are usually sized.
    #[must_use]
    pub fn with_queue_delay(bits_per_second: u64, queue: Duration) -> Self {
        let bytes = u128::from(bits_per_second) * queue.as_nanos() / 8_000_000_000;
        Self {
            bits_per_second,
            queue_bytes: u64::try_from(bytes).unwrap_or(u64::MAX).max(1),
        }
    }
}

/// A window in which the link drops every packet that enters it: a tunnel, a Wi-Fi
/// hand-over, a cable pulled. Counted from the moment the impairment was applied
/// ([`crate::Link::new`] or [`crate::Link::set_impairment`]). Packets already in flight
/// when it starts are still delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// When the outage begins, after the impairment was applied.
    pub start: Duration,
    /// How long it lasts.
    pub duration: Duration,
}

impl Outage {
    /// Whether `since_applied` falls in `[start, start + duration)`.
    #[must_use]
    pub fn contains(&self, since_applied: Duration) -> bool {
        since_applied >= self.start && since_applied - self.start < self.duration
    }
}

fn probability(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(NetsimError::Probability {
            field: field.to_owned(),
            value,
        })
    }
}

fn duration(field: &str, value: Duration) -> Result<()> {
    if value <= MAX_DURATION {
        Ok(())
    } else {
        Err(NetsimError::DurationTooLong {
            field: field.to_owned(),
            value,
            max: MAX_DURATION,
        })
    }
}

impl Impairment {
    /// A perfect link (the same as `Default`), named for readability in tests.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Checks every field, so a bad setting is refused with its name rather than
    /// silently behaving oddly. [`crate::Link`] and the proxy call this for you.
    pub fn validate(&self) -> Result<()> {
        probability("loss", self.loss)?;
        if let Some(b) = &self.burst {
            probability("burst.p_good_to_bad", b.p_good_to_bad)?;
            probability("burst.p_bad_to_good", b.p_bad_to_good)?;
            probability("burst.loss_in_bad", b.loss_in_bad)?;
        }
        duration("delay", self.delay)?;
        duration("jitter", self.jitter)?;
        probability("reorder", self.reorder)?;
        duration("reorder_delay", self.reorder_delay)?;
        if self.reorder > 0.0 && self.reorder_delay.is_zero() {
            return Err(NetsimError::ReorderWithoutDelay {
                reorder: self.reorder,
            });
        }
        probability("duplicate", self.duplicate)?;
        if let Some(r) = &self.rate_limit {
            if r.bits_per_second == 0 {
                return Err(NetsimError::ZeroRate);
            }
            if r.queue_bytes == 0 {
                return Err(NetsimError::ZeroQueue);
            }
        }
        for (i, o) in self.outages.iter().enumerate() {
            duration(&format!("outages[{i}].start"), o.start)?;
            duration(&format!("outages[{i}].duration"), o.duration)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_perfect() {
        Impairment::default().validate().unwrap();
        assert_eq!(Impairment::none(), Impairment::default());
    }

    #[test]
    fn bad_values_are_named() {
        let e = Impairment {
            loss: f64::NAN,
            ..Impairment::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("loss"), "{e}");
        let e = Impairment {
            burst: Some(GilbertElliott {
                p_good_to_bad: 0.1,
                p_bad_to_good: 1.5,
                loss_in_bad: 1.0,
            }),
            ..Impairment::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("burst.p_bad_to_good"), "{e}");
        let e = Impairment {
            duplicate: -0.1,
            ..Impairment::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("duplicate"), "{e}");
        let e = Impairment {
            reorder: 0.1,
            ..Impairment::default()
        }
        .validate()
        .unwrap_err();
        assert!(matches!(e, NetsimError::ReorderWithoutDelay { .. }));
        let e = Impairment {
            rate_limit: Some(RateLimit {
                bits_per_second: 0,
                queue_bytes: 10,
            }),
            ..Impairment::default()
        }
        .validate()
        .unwrap_err();
        assert!(matches!(e, NetsimError::ZeroRate));
        let e = Impairment {
            outages: vec![
                Outage {
                    start: Duration::ZERO,
                    duration: Duration::from_secs(1),
                },
                Outage {
                    start: MAX_DURATION * 2,
                    duration: Duration::from_secs(1),
                },
            ],
            ..Impairment::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("outages[1].start"), "{e}");
    }

    #[test]
    fn queue_delay_sizing() {
        let r = RateLimit::with_queue_delay(1_000_000, Duration::from_millis(100));
        assert_eq!(r.queue_bytes, 12_500);
        assert_eq!(
            RateLimit::with_queue_delay(8, Duration::ZERO).queue_bytes,
            1
        );
    }

    #[test]
    fn ge_mean_loss() {
        let g = GilbertElliott {
            p_good_to_bad: 0.05,
            p_bad_to_good: 0.45,
            loss_in_bad: 1.0,
        };
        assert!((g.mean_loss() - 0.1).abs() < 1e-12);
    }
}
