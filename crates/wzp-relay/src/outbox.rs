//! A receiver's outgoing media, and the relay's one clock for holding it.
//!
//! Sent at once, every forwarded datagram costs a UDP packet of its own: a
//! `sendmsg`, the kernel's delivery, and QUIC's packet work. That is most of the
//! relay's CPU (see docs/BENCHMARKS.md). With a batching window, datagrams for one
//! receiver are held and go out together, so QUIC packs several into one packet.
//!
//! One clock serves every receiver: a window opens with the first datagram held
//! after the last flush and closes `window` later, when every receiver's held
//! datagrams go out. A datagram waits at most `window`, one timer serves the
//! whole relay, and a receiver that already holds a full packet's worth sends
//! at once (video gains nothing from waiting).
//!
//! The clock is a thread, not a tokio timer: tokio rounds sleeps up to its
//! millisecond tick, which held a "1 ms" batch for 1 to 2 ms. The flush itself
//! runs on the runtime, so all of a receiver's datagrams are queued before its
//! connection's driver runs and packs them.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wzp_transport::WzpConnection;

use crate::metrics::Metrics;

/// Held bytes that fill a QUIC packet (about a 1,200-byte path less headers):
/// waiting longer would not save a packet. This also bounds what one receiver
/// holds.
const FULL_BYTES: usize = 1100;

/// How long the clock thread waits for a window before checking that the
/// relay still exists.
const IDLE_CHECK: Duration = Duration::from_millis(250);

/// A receiver's outgoing media.
pub(crate) struct Outbox {
    conn: WzpConnection,
    clock: Option<Arc<BatchClock>>,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    datagrams: Vec<Bytes>,
    bytes: usize,
    /// On the clock's list for the open window.
    listed: bool,
}

impl Outbox {
    /// An outbox that sends at once (`clock` none) or holds for the clock.
    pub(crate) fn new(conn: WzpConnection, clock: Option<Arc<BatchClock>>) -> Arc<Self> {
        Arc::new(Self {
            conn,
            clock,
            held: Mutex::new(Held::default()),
        })
    }

    /// The receiver's connection.
    pub(crate) fn conn(&self) -> &WzpConnection {
        &self.conn
    }

    /// Sends now or holds for the window. False if the datagram was dropped.
    pub(crate) fn push(self: &Arc<Self>, datagram: Bytes, metrics: &Metrics) -> bool {
        let Some(clock) = &self.clock else {
            return self.send(datagram, metrics);
        };
        let Ok(mut held) = self.held.lock() else {
            return false;
        };
        held.bytes += datagram.len();
        held.datagrams.push(datagram);
        if held.bytes >= FULL_BYTES {
            let full = std::mem::take(&mut held.datagrams);
            held.bytes = 0;
            drop(held);
            for d in full {
                self.send(d, metrics);
            }
            return true;
        }
        let list = !held.listed;
        held.listed = true;
        drop(held);
        if list {
            clock.hold(Arc::downgrade(self));
        }
        true
    }

    /// Sends everything held.
    fn flush(&self, metrics: &Metrics) {
        let batch = match self.held.lock() {
            Ok(mut held) => {
                held.bytes = 0;
                held.listed = false;
                std::mem::take(&mut held.datagrams)
            }
            Err(_) => return,
        };
        for d in batch {
            self.send(d, metrics);
        }
    }

    fn send(&self, datagram: Bytes, metrics: &Metrics) -> bool {
        let sent = self.conn.send_media(datagram).is_ok();
        if !sent {
            metrics.count_drop("send_failed");
        }
        sent
    }
}

/// The relay's batching clock (see the module docs).
pub(crate) struct BatchClock {
    window: Duration,
    state: Mutex<Window>,
    /// Tells the clock thread a window opened.
    opened: Condvar,
    /// Tells the flush task a window closed.
    closed: tokio::sync::Notify,
}

#[derive(Default)]
struct Window {
    /// Receivers holding datagrams. Weak, so a closed connection's outbox goes.
    waiting: Vec<Weak<Outbox>>,
    /// When the open window opened; none when no window is open.
    since: Option<Instant>,
    /// The clock thread is timing the open window.
    timing: bool,
}

impl BatchClock {
    /// Starts a clock with its thread and its flush task (on the current runtime).
    pub(crate) fn start(window: Duration, metrics: Arc<Metrics>) -> std::io::Result<Arc<Self>> {
        let clock = Arc::new(Self {
            window,
            state: Mutex::new(Window::default()),
            opened: Condvar::new(),
            closed: tokio::sync::Notify::new(),
        });
        let weak = Arc::downgrade(&clock);
        std::thread::Builder::new()
            .name("wzp-batch-clock".into())
            .spawn(move || time_windows(&weak))?;
        tokio::spawn(flush_windows(clock.clone(), metrics));
        Ok(clock)
    }

    fn hold(&self, outbox: Weak<Outbox>) {
        let Ok(mut w) = self.state.lock() else {
            return;
        };
        w.waiting.push(outbox);
        if w.since.is_none() {
            w.since = Some(Instant::now());
            self.opened.notify_one();
        }
    }
}

/// The clock thread: waits for a window to open, sleeps until it closes, tells
/// the flush task. Ends once the relay has dropped the clock.
fn time_windows(weak: &Weak<BatchClock>) {
    loop {
        let Some(clock) = weak.upgrade() else {
            return;
        };
        let Ok(mut w) = clock.state.lock() else {
            return;
        };
        if w.since.is_none() || w.timing {
            match clock.opened.wait_timeout(w, IDLE_CHECK) {
                Ok((guard, _)) => w = guard,
                Err(_) => return,
            }
        }
        let Some(since) = w.since.filter(|_| !w.timing) else {
            continue;
        };
        w.timing = true;
        drop(w);
        std::thread::sleep((since + clock.window).saturating_duration_since(Instant::now()));
        clock.closed.notify_one();
    }
}

/// The flush task: when a window closes, sends what every receiver holds.
async fn flush_windows(clock: Arc<BatchClock>, metrics: Arc<Metrics>) {
    loop {
        clock.closed.notified().await;
        let waiting = match clock.state.lock() {
            Ok(mut w) => {
                w.since = None;
                w.timing = false;
                std::mem::take(&mut w.waiting)
            }
            Err(_) => return,
        };
        for outbox in waiting.iter().filter_map(Weak::upgrade) {
            outbox.flush(&metrics);
        }
    }
}
