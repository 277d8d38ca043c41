//! Sliding-window anti-replay on the 32-bit wire sequence, one window per
//! (sender, stream).
//!
//! Why per stream and this wide: sequence numbers are per stream, and a video
//! keyframe can be hundreds of packets that the network reorders freely; a
//! narrow window (the reference used 64, later 1024) rejects late but genuine
//! packets. Audio gets 1024 packets (20 s at 50 pps), video 8192.

use wzp_proto::{MediaType, Seq};

/// Window size for audio, data and control streams, in packets.
pub const AUDIO_WINDOW: u32 = 1024;
/// Window size for video streams, in packets.
pub const VIDEO_WINDOW: u32 = 8192;

/// The window size used for a media type.
#[must_use]
pub fn window_for(media: MediaType) -> u32 {
    match media {
        MediaType::Video => VIDEO_WINDOW,
        MediaType::Audio | MediaType::Data | MediaType::Control => AUDIO_WINDOW,
    }
}

/// Why [`ReplayWindow::check`] refused a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Already received.
    Duplicate,
    /// Older than the window reaches.
    TooOld,
}

/// A bitmap of the last `size` sequence numbers below the highest one seen.
///
/// Checking and recording are separate so that a packet is recorded only
/// after it authenticated: a forged packet must not move the window.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    highest: Option<u32>,
    size: u32,
    bits: Vec<u64>,
}

impl ReplayWindow {
    /// A window of `size` packets (rounded up to a multiple of 64, at least 64).
    #[must_use]
    pub fn new(size: u32) -> Self {
        let words = size.div_ceil(64).max(1);
        Self {
            highest: None,
            size: words * 64,
            bits: vec![0; words as usize],
        }
    }

    /// The window size in packets.
    #[must_use]
    pub fn size(&self) -> u32 {
        self.size
    }

    fn bit(&self, seq: u32) -> (usize, u64) {
        let i = seq % self.size;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// Would `seq` be accepted? Does not change the window.
    pub fn check(&self, seq: Seq) -> Result<(), ReplayVerdict> {
        let Some(high) = self.highest else {
            return Ok(());
        };
        let d = seq.diff(Seq(high));
        if d > 0 {
            return Ok(());
        }
        if -d >= i64::from(self.size) {
            return Err(ReplayVerdict::TooOld);
        }
        let (w, m) = self.bit(seq.0);
        if self.bits.get(w).is_some_and(|x| x & m != 0) {
            Err(ReplayVerdict::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Records `seq` as received (call after [`check`](Self::check) passed
    /// and the packet authenticated).
    pub fn record(&mut self, seq: Seq) {
        match self.highest {
            None => self.highest = Some(seq.0),
            Some(high) => {
                let d = seq.diff(Seq(high));
                if d > 0 {
                    if d >= i64::from(self.size) {
                        self.bits.iter_mut().for_each(|x| *x = 0);
                    } else {
                        for k in 1..=d as u32 {
                            let (w, m) = self.bit(high.wrapping_add(k));
                            if let Some(x) = self.bits.get_mut(w) {
                                *x &= !m;
                            }
                        }
                    }
                    self.highest = Some(seq.0);
                }
            }
        }
        let (w, m) = self.bit(seq.0);
        if let Some(x) = self.bits.get_mut(w) {
            *x |= m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_reordered_rejects_duplicates_and_old() {
        let mut w = ReplayWindow::new(AUDIO_WINDOW);
        for s in [10u32, 12, 11, 5] {
            assert_eq!(w.check(Seq(s)), Ok(()));
            w.record(Seq(s));
        }
        assert_eq!(w.check(Seq(11)), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(Seq(12)), Err(ReplayVerdict::Duplicate));
        w.record(Seq(2000));
        assert_eq!(w.check(Seq(12)), Err(ReplayVerdict::TooOld));
        assert_eq!(w.check(Seq(2000 - 1023)), Ok(()));
        assert_eq!(w.check(Seq(2000 - 1024)), Err(ReplayVerdict::TooOld));
    }

    #[test]
    fn wraps_around_u32() {
        let mut w = ReplayWindow::new(VIDEO_WINDOW);
        w.record(Seq(u32::MAX - 1));
        w.record(Seq(1));
        assert_eq!(w.check(Seq(u32::MAX)), Ok(()));
        assert_eq!(w.check(Seq(u32::MAX - 1)), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(Seq(0)), Ok(()));
        assert_eq!(w.size(), 8192);
    }
}

#[cfg(test)]
mod props {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Against a model: accept iff never seen and within the window of the highest.
        #[test]
        fn matches_model(start in any::<u32>(), steps in proptest::collection::vec(-1500i32..1500, 1..300)) {
            let mut w = ReplayWindow::new(AUDIO_WINDOW);
            let mut seen: HashSet<u32> = HashSet::new();
            let mut high: Option<u32> = None;
            for d in steps {
                let s = start.wrapping_add_signed(d);
                let fresh = !seen.contains(&s);
                let in_window = high.is_none_or(|h| Seq(s).diff(Seq(h)) > -i64::from(AUDIO_WINDOW));
                let ok = w.check(Seq(s)).is_ok();
                prop_assert_eq!(ok, fresh && in_window);
                if ok {
                    w.record(Seq(s));
                    seen.insert(s);
                    if high.is_none_or(|h| Seq(s).diff(Seq(h)) > 0) {
                        high = Some(s);
                    }
                }
            }
        }
    }
}
