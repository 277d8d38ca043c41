//! The call state machine: which states exist, which moves are legal, and why a call ended.
//!
//! ```text
//! idle -> connecting -> (ringing) -> active <-> reconnecting
//!            \______________\__________\__________\-----> ended(reason)
//! ```
//!
//! The engine reports every change as an event; a move the table does not allow is a bug
//! in the engine, logged and ignored rather than shown to the user.

use serde::Serialize;

/// Where a call is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallState {
    /// Created, not started.
    Idle,
    /// Connecting to the relay and joining.
    Connecting,
    /// A direct call is ringing at the callee (caller side) or waiting for the user
    /// to answer (callee side).
    Ringing,
    /// Media flows.
    Active,
    /// The connection was lost; the engine is reconnecting and will rejoin.
    Reconnecting {
        /// Attempts made so far.
        attempt: u32,
    },
    /// Over, for good.
    Ended {
        /// Why.
        reason: EndReason,
    },
}

/// Why a call ended, in terms the UI can turn into a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum EndReason {
    /// We hung up.
    LocalHangup,
    /// The other side hung up (direct call).
    RemoteHangup,
    /// The callee declined.
    Declined,
    /// The callee is in another call.
    Busy,
    /// Nobody answered in time (or, callee side, we did not).
    Missed,
    /// The callee is not online at this relay.
    Unreachable,
    /// The peer's connection to the relay was lost and its call ended.
    PeerLost,
    /// The relay could not be reached at all.
    ConnectFailed {
        /// The cause, as text.
        message: String,
    },
    /// The connection was lost and reconnecting did not succeed in the time allowed.
    ConnectionLost {
        /// The last cause, as text.
        message: String,
    },
    /// The relay refused us (token, limits, version, access to the call room).
    Refused {
        /// What the relay said.
        message: String,
    },
    /// The relay's certificate changed since it was pinned: possibly an attack.
    RelayKeyChanged,
    /// The relay is shutting down.
    RelayShutdown,
    /// A local media or key failure.
    Failed {
        /// The cause, as text.
        message: String,
    },
}

impl CallState {
    /// Whether the state machine allows moving from `self` to `next`.
    #[must_use]
    pub fn can_move_to(&self, next: &CallState) -> bool {
        use CallState::*;
        match (self, next) {
            (Ended { .. }, _) => false,
            (_, Ended { .. }) => true,
            (Idle, Connecting) => true,
            (Connecting, Ringing | Active) => true,
            (Ringing, Active) => true,
            (Active, Reconnecting { .. }) => true,
            (Reconnecting { .. }, Reconnecting { .. } | Active) => true,
            _ => false,
        }
    }

    /// Whether the call is over.
    #[must_use]
    pub fn is_ended(&self) -> bool {
        matches!(self, CallState::Ended { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_and_illegal_moves() {
        use CallState::*;
        let ended = Ended {
            reason: EndReason::LocalHangup,
        };
        assert!(Idle.can_move_to(&Connecting));
        assert!(Connecting.can_move_to(&Ringing));
        assert!(Connecting.can_move_to(&Active));
        assert!(Ringing.can_move_to(&Active));
        assert!(Active.can_move_to(&Reconnecting { attempt: 1 }));
        assert!(Reconnecting { attempt: 1 }.can_move_to(&Reconnecting { attempt: 2 }));
        assert!(Reconnecting { attempt: 2 }.can_move_to(&Active));
        assert!(Active.can_move_to(&ended));
        assert!(Idle.can_move_to(&ended));
        assert!(!ended.can_move_to(&Active));
        assert!(!ended.can_move_to(&ended));
        assert!(!Idle.can_move_to(&Active));
        assert!(!Active.can_move_to(&Ringing));
        assert!(!Ringing.can_move_to(&Reconnecting { attempt: 1 }));
        assert!(!Active.can_move_to(&Connecting));
    }
}
