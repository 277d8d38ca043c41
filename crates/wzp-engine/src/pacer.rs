//! The video pacer: a leaky bucket between the encoder and QUIC.
//!
//! An encoder emits a frame as a burst (a keyframe can be 20 packets at once). Sent
//! as a burst, it overflows a small bottleneck queue and the packets lost take the
//! audio behind them along. The pacer spreads video out at a rate a little under the
//! bandwidth estimate; audio bypasses it. Sans-IO: time and rate are arguments.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Most time's worth of credit the bucket can hold, so a pause does not turn into a
/// burst afterwards.
const MAX_BURST: Duration = Duration::from_millis(20);

/// Video datagrams waiting for their turn.
#[derive(Debug, Default)]
pub struct Pacer {
    queue: VecDeque<Vec<u8>>,
    bytes: usize,
    credit: f64,
    last: Option<Instant>,
}

impl Pacer {
    /// Queues a datagram.
    pub fn push(&mut self, d: Vec<u8>) {
        self.bytes += d.len();
        self.queue.push_back(d);
    }

    /// Bytes waiting.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Datagrams waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Nothing waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The datagrams whose turn has come at `now`, sending at `rate_bps`.
    pub fn release(&mut self, now: Instant, rate_bps: u64) -> Vec<Vec<u8>> {
        let rate = rate_bps as f64 / 8.0;
        let dt = self
            .last
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.last = Some(now);
        let cap = rate * MAX_BURST.as_secs_f64();
        // A datagram may go when any credit is left, so one larger than the cap
        // still goes (the debt is paid back before the next).
        self.credit = (self.credit + rate * dt).min(cap.max(1.0));
        let mut out = Vec::new();
        while self.credit > 0.0 {
            let Some(d) = self.queue.pop_front() else {
                break;
            };
            self.credit -= d.len() as f64;
            self.bytes -= d.len();
            out.push(d);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn spreads_a_burst_at_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        assert!(p.release(t0, 1_000_000).is_empty());
        for _ in 0..20 {
            p.push(vec![0; 1250]);
        }
        assert_eq!(p.bytes(), 25_000);
        // 1 Mbit/s = 125 bytes per ms: 25 kB take 200 ms, 10 ms at a time.
        let mut sent = 0usize;
        let mut done_at = None;
        for ms in (10..=400).step_by(10) {
            sent += p.release(t0 + Duration::from_millis(ms), 1_000_000).len();
            if sent == 20 && done_at.is_none() {
                done_at = Some(ms);
            }
            // Never ahead of the rate by more than one datagram.
            assert!(sent * 1250 <= (ms as usize) * 125 + 1250, "{sent} at {ms}");
        }
        let done_at = done_at.expect("all sent");
        assert!((190..=220).contains(&done_at), "done at {done_at} ms");
        assert!(p.is_empty());
        assert_eq!(p.bytes(), 0);
    }

    #[test]
    fn an_idle_pause_does_not_become_a_burst() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        p.release(t0, 1_000_000);
        for _ in 0..20 {
            p.push(vec![0; 1250]);
        }
        // After a second idle, at most the 20 ms cap (2.5 kB, 2-3 packets) goes at once.
        let n = p.release(t0 + Duration::from_secs(1), 1_000_000).len();
        assert!(n <= 3, "{n}");
    }
}
