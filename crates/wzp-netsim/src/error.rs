//! The one error type of this crate.

use std::time::Duration;

/// Everything that can go wrong in wzp-netsim: a refused setting (named, so a
/// test author sees which field is wrong) or an I/O failure of the proxy.
#[derive(Debug, thiserror::Error)]
pub enum NetsimError {
    /// A probability that is not a finite number in `[0, 1]`.
    #[error("{field} must be a probability in [0, 1], got {value}")]
    Probability {
        /// The setting, e.g. `burst.p_good_to_bad`.
        field: String,
        /// What was given.
        value: f64,
    },
    /// A duration longer than [`crate::MAX_DURATION`], which would only ever be a mistake
    /// (and could overflow `Instant` arithmetic).
    #[error("{field} must be at most {max:?}, got {value:?}")]
    DurationTooLong {
        /// The setting, e.g. `jitter` or `outages[2].duration`.
        field: String,
        /// What was given.
        value: Duration,
        /// The largest accepted value.
        max: Duration,
    },
    /// A rate limit of zero bits per second would never deliver anything.
    #[error("rate_limit.bits_per_second must be greater than 0")]
    ZeroRate,
    /// A bottleneck queue of zero bytes would drop every packet.
    #[error("rate_limit.queue_bytes must be greater than 0")]
    ZeroQueue,
    /// Reordering needs an extra delay to make a packet overtake or be overtaken.
    #[error("reorder is {reorder} but reorder_delay is zero, so nothing would be reordered")]
    ReorderWithoutDelay {
        /// The reorder probability given.
        reorder: f64,
    },
    /// A socket operation of the proxy failed.
    #[error("{context}: {source}")]
    Io {
        /// What the proxy was doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The proxy task has stopped (shut down, or ended by an error), so it cannot take commands.
    #[error("the proxy has stopped")]
    Stopped,
}

/// Result with [`NetsimError`].
pub type Result<T, E = NetsimError> = std::result::Result<T, E>;
