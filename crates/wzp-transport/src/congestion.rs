//! A congestion controller for real-time media: Cubic with a floor under its window.
//!
//! QUIC reads every loss as congestion. On a path with heavy random loss (radio,
//! a bad Wi-Fi) or through an outage, Cubic's window collapses to two packets, the
//! packets in flight are only declared lost when a probe timer fires, and that timer
//! backs off exponentially, so a 2 s outage can hold the first audio packet after it
//! back for another two seconds. A call's audio is a few kbit/s and must keep flowing.
//! With a floor of a few tens of KiB the connection keeps sending audio through loss
//! and outages, and packets arrive as soon as the path is back. Video is not protected
//! by the floor: the call engine paces it with its own delay-based rate control, which
//! backs off long before the floor matters.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use quinn::congestion::{Controller, ControllerFactory, ControllerMetrics, CubicConfig};
use quinn_proto::RttEstimator;

/// Default floor: 24 KiB, about 2 s of Opus audio with headers, or 4 Mbit/s at 50 ms RTT
/// when the application sends that much (the engine's rate control keeps video below
/// what the path delivers).
pub const DEFAULT_WINDOW_FLOOR: u64 = 24 * 1024;

/// Builds [`FloorController`]s.
#[derive(Debug)]
pub struct FloorConfig {
    inner: Arc<CubicConfig>,
    floor: u64,
}

impl FloorConfig {
    /// Cubic with default settings and a window never under `floor` bytes.
    #[must_use]
    pub fn new(floor: u64) -> Self {
        Self {
            inner: Arc::new(CubicConfig::default()),
            floor,
        }
    }
}

impl ControllerFactory for FloorConfig {
    fn build(self: Arc<Self>, now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(FloorController {
            inner: self.inner.clone().build(now, current_mtu),
            floor: self.floor,
        })
    }
}

/// Cubic whose window never goes under a floor.
pub struct FloorController {
    inner: Box<dyn Controller>,
    floor: u64,
}

impl Controller for FloorController {
    fn on_sent(&mut self, now: Instant, bytes: u64, last_packet_number: u64) {
        self.inner.on_sent(now, bytes, last_packet_number);
    }

    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        self.inner.on_ack(now, sent, bytes, app_limited, rtt);
    }

    fn on_end_acks(
        &mut self,
        now: Instant,
        in_flight: u64,
        app_limited: bool,
        largest_packet_num_acked: Option<u64>,
    ) {
        self.inner
            .on_end_acks(now, in_flight, app_limited, largest_packet_num_acked);
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    ) {
        self.inner
            .on_congestion_event(now, sent, is_persistent_congestion, lost_bytes);
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.inner.on_mtu_update(new_mtu);
    }

    fn window(&self) -> u64 {
        self.inner.window().max(self.floor)
    }

    fn metrics(&self) -> ControllerMetrics {
        let mut m = self.inner.metrics();
        m.congestion_window = self.window();
        m
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(Self {
            inner: self.inner.clone_box(),
            floor: self.floor,
        })
    }

    fn initial_window(&self) -> u64 {
        self.inner.initial_window().max(self.floor)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_never_falls_under_the_floor() {
        let now = Instant::now();
        let mut c = Arc::new(FloorConfig::new(24 * 1024)).build(now, 1200);
        assert!(c.window() >= 24 * 1024);
        // Persistent congestion collapses Cubic to its minimum window; the floor holds.
        c.on_congestion_event(now, now, true, 50_000);
        assert_eq!(c.window(), 24 * 1024);
        let cloned = c.clone_box();
        assert_eq!(cloned.window(), 24 * 1024);
    }
}
