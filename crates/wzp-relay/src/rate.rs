//! Per-client rate limits on media: token buckets for packets and bytes.
//!
//! Sans-IO: the caller passes the time. A client over its limit has the excess
//! dropped; one that stays over it for `grace` is disconnected, so a flood from
//! one client cannot starve the others.

use std::time::{Duration, Instant};

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it.
    Pass,
    /// Drop it (over the limit).
    Drop,
    /// Over the limit for too long: disconnect the client.
    Disconnect,
}

/// Limits for one client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// Sustained packets per second.
    pub packets_per_sec: u32,
    /// Sustained bytes per second.
    pub bytes_per_sec: u64,
    /// How long a client may stay over its limits before it is disconnected.
    pub grace: Duration,
}

/// Token buckets for one client.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limits: RateLimits,
    packets: f64,
    bytes: f64,
    last: Option<Instant>,
    /// Since when the client has been dropping continuously (reset after a second without drops).
    over_since: Option<Instant>,
    last_drop: Option<Instant>,
}

impl RateLimiter {
    /// A limiter with full buckets (one second's worth of burst).
    #[must_use]
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            packets: f64::from(limits.packets_per_sec),
            bytes: limits.bytes_per_sec as f64,
            last: None,
            over_since: None,
            last_drop: None,
        }
    }

    /// Accounts for one packet of `len` bytes at `now`.
    pub fn check(&mut self, now: Instant, len: usize) -> Verdict {
        let pps = f64::from(self.limits.packets_per_sec);
        let bps = self.limits.bytes_per_sec as f64;
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.packets = (self.packets + dt * pps).min(pps);
            self.bytes = (self.bytes + dt * bps).min(bps);
        }
        self.last = Some(now);
        if self.packets >= 1.0 && self.bytes >= len as f64 {
            self.packets -= 1.0;
            self.bytes -= len as f64;
            if self
                .last_drop
                .is_some_and(|d| now.saturating_duration_since(d) > Duration::from_secs(1))
            {
                self.over_since = None;
            }
            return Verdict::Pass;
        }
        self.last_drop = Some(now);
        let since = *self.over_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= self.limits.grace {
            Verdict::Disconnect
        } else {
            Verdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RateLimits {
        RateLimits {
            packets_per_sec: 100,
            bytes_per_sec: 100_000,
            grace: Duration::from_secs(3),
        }
    }

    #[test]
    fn steady_stream_under_limit_passes() {
        let mut r = RateLimiter::new(limits());
        let t0 = Instant::now();
        for i in 0..1000u64 {
            assert_eq!(
                r.check(t0 + Duration::from_millis(20 * i), 200),
                Verdict::Pass
            );
        }
    }

    #[test]
    fn flood_drops_then_disconnects() {
        let mut r = RateLimiter::new(limits());
        let t0 = Instant::now();
        let mut verdicts = Vec::new();
        for i in 0..4000u64 {
            // 1000 packets per second for 4 s.
            verdicts.push(r.check(t0 + Duration::from_millis(i), 100));
        }
        let passed = verdicts.iter().filter(|v| **v == Verdict::Pass).count();
        assert!((100..=500).contains(&passed), "passed {passed}");
        assert_eq!(verdicts.last(), Some(&Verdict::Disconnect));
        assert!(verdicts[..2000].iter().all(|v| *v != Verdict::Disconnect));
    }

    #[test]
    fn byte_limit_applies() {
        let mut r = RateLimiter::new(limits());
        let t0 = Instant::now();
        let passed = (0..50u64)
            .filter(|i| r.check(t0 + Duration::from_millis(*i), 10_000) == Verdict::Pass)
            .count();
        assert!(passed <= 11, "passed {passed}");
    }
}
