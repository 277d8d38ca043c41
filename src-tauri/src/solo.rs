//! One background worker of a kind at a time (the settings screen's microphone test,
//! its camera preview): each start gets a number for its events and a stop flag; a new
//! start replaces the running one, and a call stops it to take the device.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{AppError, Result};

/// A worker's number and the flag its thread watches.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// Its number (in its events), from 1.
    pub no: u64,
    /// Set to stop it.
    pub stop: Arc<AtomicBool>,
}

/// The running worker of one kind, if any.
#[derive(Debug)]
pub struct Solo {
    what: &'static str,
    running: Mutex<Option<Ticket>>,
    next: AtomicU64,
}

impl Solo {
    /// No worker yet; `what` names the kind in logs and errors.
    #[must_use]
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            running: Mutex::new(None),
            next: AtomicU64::new(1),
        }
    }

    /// A number and a stop flag for a worker about to start.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            no: self.next.fetch_add(1, Ordering::Relaxed),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Makes `t`'s worker the running one and stops the one it replaces (two starts
    /// racing: the earlier loses). If that cannot be recorded, `t`'s worker is stopped.
    pub fn install(&self, t: &Ticket) -> Result<()> {
        let old = match self.running.lock() {
            Ok(mut r) => r.replace(t.clone()),
            Err(_) => {
                t.stop.store(true, Ordering::Relaxed);
                return Err(AppError::Internal(format!("{} lock poisoned", self.what)));
            }
        };
        if let Some(o) = old {
            o.stop.store(true, Ordering::Relaxed);
        }
        tracing::info!(no = t.no, what = self.what, "started");
        Ok(())
    }

    /// Stops the running worker, if any; returns whether one ran. Never blocks (the
    /// worker's thread sees the flag, closes its device and sends its last event).
    pub fn stop(&self) -> bool {
        let Ok(mut r) = self.running.lock() else {
            return false;
        };
        match r.take() {
            Some(t) => {
                t.stop.store(true, Ordering::Relaxed);
                tracing::info!(no = t.no, what = self.what, "stopped");
                true
            }
            None => false,
        }
    }

    /// The running worker's number.
    #[must_use]
    pub fn current(&self) -> Option<u64> {
        self.running.lock().ok()?.as_ref().map(|t| t.no)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_replaces_and_stops_the_running_worker() {
        let solo = Solo::new("test");
        let a = solo.ticket();
        let b = solo.ticket();
        assert_eq!((a.no, b.no), (1, 2));
        assert!(solo.install(&a).is_ok());
        assert_eq!(solo.current(), Some(1));
        assert!(solo.install(&b).is_ok());
        assert!(
            a.stop.load(Ordering::Relaxed),
            "the replaced worker is told to stop"
        );
        assert!(!b.stop.load(Ordering::Relaxed));
        assert_eq!(solo.current(), Some(2));
        assert!(solo.stop());
        assert!(b.stop.load(Ordering::Relaxed));
        assert_eq!(solo.current(), None);
        assert!(!solo.stop(), "nothing runs any more");
    }
}
