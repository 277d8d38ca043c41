//! A client's view of a relay: one connection, its signal stream, and helpers to
//! prove an identity when joining a room or registering for direct calls.
//!
//! The call engine, the load tester and the tests all connect this way.

use std::net::SocketAddr;
use std::time::Duration;

use wzp_crypto::Identity;
use wzp_crypto::proof::{ProofPurpose, prove};
use wzp_proto::{
    Blob, Decoded, PROTOCOL_VERSION, ParticipantId, PublicKey, RoomId, SUPPORTED_VERSIONS,
    SignalMessage,
};

use crate::connection::WzpConnection;
use crate::endpoint::{TransportParams, connect};
use crate::error::{Result, TransportError};
use crate::signal::{SignalReceiver, SignalSender};
use crate::tls::{RelayFingerprint, Trust};

/// A connection to a relay with its signal stream open.
#[derive(Debug)]
pub struct RelayClient {
    /// The QUIC connection (media datagrams, stats).
    pub conn: WzpConnection,
    /// Sending half of the signal stream.
    pub signals_out: SignalSender,
    /// Receiving half of the signal stream.
    pub signals_in: SignalReceiver,
    /// The relay's certificate fingerprint.
    pub relay: RelayFingerprint,
}

/// The `hello` that joins `room` as `identity` on `conn`, with a proof bound
/// to that connection (so it cannot be replayed on another).
pub fn hello(
    conn: &WzpConnection,
    identity: &Identity,
    room: RoomId,
    alias: Option<String>,
    token: Option<String>,
) -> Result<SignalMessage> {
    let exporter = conn.proof_exporter()?;
    Ok(SignalMessage::Hello {
        protocol_version: PROTOCOL_VERSION,
        supported_versions: SUPPORTED_VERSIONS.to_vec(),
        room,
        identity_pub: PublicKey(identity.public().to_bytes()),
        proof: Blob(prove(identity, ProofPurpose::Join(room), &exporter).to_vec()),
        alias,
        token,
    })
}

impl RelayClient {
    /// Connects and opens the signal stream.
    pub async fn connect(
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
        server_name: &str,
        trust: &Trust,
        params: &TransportParams,
    ) -> Result<Self> {
        let c = connect(endpoint, addr, server_name, trust, params).await?;
        let (signals_out, signals_in) = c.connection.open_signal().await?;
        Ok(Self {
            conn: c.connection,
            signals_out,
            signals_in,
            relay: c.relay,
        })
    }

    /// The `hello` that joins `room` as `identity`, with a proof bound to this connection.
    pub fn hello(
        &self,
        identity: &Identity,
        room: RoomId,
        alias: Option<String>,
        token: Option<String>,
    ) -> Result<SignalMessage> {
        hello(&self.conn, identity, room, alias, token)
    }

    /// The `register_presence` for direct calls, with a proof bound to this connection.
    pub fn register_presence(
        &self,
        identity: &Identity,
        alias: Option<String>,
        token: Option<String>,
    ) -> Result<SignalMessage> {
        let exporter = self.conn.proof_exporter()?;
        Ok(SignalMessage::RegisterPresence {
            identity_pub: PublicKey(identity.public().to_bytes()),
            proof: Blob(prove(identity, ProofPurpose::Presence, &exporter).to_vec()),
            alias,
            token,
        })
    }

    /// Sends a signal.
    pub async fn send(&mut self, msg: &SignalMessage) -> Result<()> {
        self.signals_out.send(msg).await
    }

    /// The next known signal message, skipping unknown types; `None` when the relay
    /// finished the stream or nothing arrived within `wait`.
    pub async fn next_signal(&mut self, wait: Duration) -> Result<Option<SignalMessage>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.signals_in.recv()).await {
                Err(_) => return Ok(None),
                Ok(Ok(Some(Decoded::Message(m)))) => return Ok(Some(m)),
                Ok(Ok(Some(Decoded::Unknown { .. }))) => continue,
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(e)) => return Err(e),
            }
        }
    }

    /// Joins `room` and waits for the relay's `welcome`; returns the assigned
    /// participant id. Other messages that arrive first are returned too, in order.
    pub async fn join(
        &mut self,
        identity: &Identity,
        room: RoomId,
        token: Option<String>,
        wait: Duration,
    ) -> Result<(ParticipantId, Vec<SignalMessage>)> {
        let hello = self.hello(identity, room, None, token)?;
        self.send(&hello).await?;
        let mut other = Vec::new();
        loop {
            match self.next_signal(wait).await? {
                Some(SignalMessage::Welcome { participant, .. }) => {
                    return Ok((participant, other));
                }
                Some(SignalMessage::Error { code, message }) => {
                    return Err(TransportError::Refused { code, message });
                }
                Some(SignalMessage::Hangup { reason, .. }) => {
                    return Err(TransportError::Refused {
                        code: wzp_proto::ErrorCode::VersionMismatch,
                        message: format!("{reason:?}"),
                    });
                }
                Some(m) => other.push(m),
                None => return Err(TransportError::StreamClosed),
            }
        }
    }
}
