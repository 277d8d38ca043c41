//! The relay's logic, without I/O: rooms, direct calls, admission, signal routing
//! and keyframe-request coalescing.
//!
//! The server shell feeds it what happened (a session connected, a signal
//! arrived, time passed) and carries out what it asks for ([`Output`]): send a
//! signal, close a session, update who receives a room's media. Time is an
//! input ([`Now`]), so tests drive it without sleeping. Media datagrams never
//! pass through here: the shell forwards them along the routes this core sets.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wzp_crypto::PublicIdentity;
use wzp_crypto::proof::{EXPORTER_LEN, ProofPurpose};
use wzp_proto::{
    CallId, CloseCode, ErrorCode, Fingerprint, HangupReason, PROTOCOL_VERSION, Participant,
    ParticipantId, PublicKey, RoomId, SUPPORTED_VERSIONS, SignalMessage, StreamId,
};

use crate::metrics::Metrics;
use crate::tokens::TokenPolicy;

/// A connection, as the core knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// The current time, as the shell reads it.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, for timers.
    pub mono: Instant,
    /// Wall-clock seconds since the Unix epoch, for token expiry.
    pub unix_secs: u64,
}

/// Capacity limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connected sessions at once.
    pub max_sessions: usize,
    /// Rooms at once.
    pub max_rooms: usize,
    /// Participants in one room.
    pub max_participants: usize,
}

/// What the core needs to know of the relay's configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Capacity limits.
    pub limits: Limits,
    /// Access tokens.
    pub tokens: TokenPolicy,
    /// How long a direct call may ring before it times out.
    pub ring_timeout: Duration,
    /// How long an answered direct call waits for a party whose connection dropped to
    /// rejoin its call room before it ends.
    pub call_grace: Duration,
    /// Keyframe requests for one stream within this window become one.
    pub keyframe_window: Duration,
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a signal message to a session.
    Signal {
        /// Addressee.
        to: SessionId,
        /// Message.
        msg: SignalMessage,
    },
    /// Close a session's connection.
    Close {
        /// Whom.
        session: SessionId,
        /// Close code.
        code: CloseCode,
        /// Human-readable reason.
        reason: String,
    },
    /// The members of a room changed; media now goes to exactly these.
    RoomMembers {
        /// The room.
        room: RoomId,
        /// Every member, with the session that carries its media.
        members: Vec<(SessionId, ParticipantId)>,
    },
    /// A session joined a room as a participant (or left it, with `None`).
    SessionRoom {
        /// The session.
        session: SessionId,
        /// Its room and participant id, or `None` after leaving.
        joined: Option<(RoomId, ParticipantId)>,
    },
}

#[derive(Debug)]
struct Session {
    exporter: [u8; EXPORTER_LEN],
    /// Identity proven for presence, if registered.
    presence: Option<Fingerprint>,
    /// Room membership.
    room: Option<(RoomId, ParticipantId)>,
    /// The direct call this session is part of.
    call: Option<CallId>,
}

#[derive(Debug, Clone)]
struct Member {
    session: SessionId,
    fingerprint: Fingerprint,
    identity_pub: PublicKey,
    alias: Option<String>,
}

#[derive(Debug)]
struct Room {
    members: BTreeMap<ParticipantId, Member>,
    next_pid: u16,
    /// For a direct call's room: the only two identities allowed in.
    acl: Option<[Fingerprint; 2]>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CallState {
    Ringing { deadline: Instant },
    Active,
}

#[derive(Debug, Clone)]
struct Call {
    caller: SessionId,
    callee: SessionId,
    caller_fp: Fingerprint,
    callee_fp: Fingerprint,
    state: CallState,
    /// Set while a party of an answered call is away (its connection dropped): the call
    /// ends at this time unless the party rejoins the call room first.
    grace_until: Option<Instant>,
}

/// The relay's state machine.
#[derive(Debug)]
pub struct RelayCore {
    config: CoreConfig,
    metrics: Arc<Metrics>,
    sessions: HashMap<SessionId, Session>,
    rooms: HashMap<RoomId, Room>,
    presence: HashMap<Fingerprint, SessionId>,
    calls: HashMap<CallId, Call>,
    /// Call rooms of answered calls that ended recently, with why and until when this is
    /// remembered: a party rejoining after a dropped connection learns the call is over
    /// instead of sitting in an empty room.
    ended_rooms: HashMap<RoomId, (CallId, HangupReason, Instant)>,
    /// Last keyframe request sent upstream per (room, sender, stream).
    keyframe_sent: HashMap<(RoomId, ParticipantId, StreamId), Instant>,
    out: VecDeque<Output>,
}

/// The room id of a direct call: derived from the call id, so both parties know it.
#[must_use]
pub fn call_room(call_id: &CallId) -> RoomId {
    let d = Sha256::new()
        .chain_update(b"wzp-call-room:")
        .chain_update(call_id.0)
        .finalize();
    let mut r = [0u8; 16];
    r.copy_from_slice(&d[..16]);
    RoomId(r)
}

fn fingerprint_of(key: &PublicKey) -> Option<(PublicIdentity, Fingerprint)> {
    let id = PublicIdentity::from_bytes(&key.0).ok()?;
    let fp = id.fingerprint();
    Some((id, fp))
}

impl RelayCore {
    /// A relay with no sessions.
    #[must_use]
    pub fn new(config: CoreConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            config,
            metrics,
            sessions: HashMap::new(),
            rooms: HashMap::new(),
            presence: HashMap::new(),
            calls: HashMap::new(),
            ended_rooms: HashMap::new(),
            keyframe_sent: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    /// The next thing for the shell to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`RelayCore::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.calls
            .values()
            .filter_map(|c| match c.state {
                CallState::Ringing { deadline } => Some(deadline),
                CallState::Active => c.grace_until,
            })
            .min()
    }

    /// True while `session` is connected.
    #[must_use]
    pub fn has_session(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    /// Number of connected sessions.
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn send(&mut self, to: SessionId, msg: SignalMessage) {
        self.out.push_back(Output::Signal { to, msg });
    }

    fn error(&mut self, to: SessionId, code: ErrorCode, message: impl Into<String>) {
        self.send(
            to,
            SignalMessage::Error {
                code,
                message: message.into(),
            },
        );
    }

    fn close(&mut self, session: SessionId, code: CloseCode, reason: impl Into<String>) {
        self.out.push_back(Output::Close {
            session,
            code,
            reason: reason.into(),
        });
    }

    /// A connection finished its handshake. Returns false (and asks to close it)
    /// if the relay is full.
    pub fn connect(&mut self, session: SessionId, exporter: [u8; EXPORTER_LEN]) -> bool {
        if self.sessions.len() >= self.config.limits.max_sessions {
            self.metrics.reject("max_sessions");
            self.close(session, CloseCode::LimitReached, "relay is full");
            return false;
        }
        self.sessions.insert(
            session,
            Session {
                exporter,
                presence: None,
                room: None,
                call: None,
            },
        );
        self.metrics.sessions.set(self.sessions.len() as i64);
        true
    }

    /// A connection is gone: leave its room, drop its presence, and end its call, except
    /// an answered one: that waits `call_grace` for the party to rejoin over a new
    /// connection (a network change the old connection could not survive).
    pub fn disconnect(&mut self, now: Now, session: SessionId) {
        let Some(s) = self.sessions.get(&session) else {
            return;
        };
        let presence = s.presence;
        if let Some(call_id) = s.call {
            match self.calls.get_mut(&call_id) {
                Some(call) if call.state == CallState::Active => {
                    let until = now.mono + self.config.call_grace;
                    call.grace_until = Some(call.grace_until.map_or(until, |t| t.min(until)));
                    self.metrics.call("interrupted");
                    tracing::debug!(
                        ?session,
                        "a party of a call dropped; waiting for it to rejoin"
                    );
                }
                _ => {
                    self.end_call(
                        call_id,
                        session,
                        HangupReason::Error {
                            message: "peer connection lost".into(),
                        },
                    );
                }
            }
        }
        self.leave_room(session);
        if let Some(fp) = presence {
            if self.presence.get(&fp) == Some(&session) {
                self.presence.remove(&fp);
            }
        }
        self.sessions.remove(&session);
        self.metrics.sessions.set(self.sessions.len() as i64);
    }

    /// Tells every session the relay is going away and closes them.
    pub fn shutdown(&mut self) {
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.error(id, ErrorCode::ShuttingDown, "relay is shutting down");
            self.close(id, CloseCode::ShuttingDown, "relay is shutting down");
        }
    }

    /// Time passed: ringing calls past their deadline time out, and answered calls whose
    /// away party did not rejoin in time end.
    pub fn handle_timeout(&mut self, now: Now) {
        let abandoned: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.grace_until.is_some_and(|t| t <= now.mono))
            .map(|(id, _)| *id)
            .collect();
        for id in abandoned {
            let Some(call) = self.calls.remove(&id) else {
                continue;
            };
            self.metrics.call("dropped");
            let reason = HangupReason::Error {
                message: "peer connection lost".into(),
            };
            self.remember_ended(now, id, reason.clone());
            for s in [call.caller, call.callee] {
                let present = self.sessions.get_mut(&s).filter(|x| x.call == Some(id));
                if let Some(sess) = present {
                    sess.call = None;
                    self.send(
                        s,
                        SignalMessage::Hangup {
                            call_id: Some(id),
                            reason: reason.clone(),
                        },
                    );
                }
            }
        }
        let expired: Vec<CallId> = self
            .calls
            .iter()
            .filter(
                |(_, c)| matches!(c.state, CallState::Ringing { deadline } if deadline <= now.mono),
            )
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(call) = self.calls.remove(&id) {
                self.metrics.call("timeout");
                for s in [call.caller, call.callee] {
                    self.send(
                        s,
                        SignalMessage::Hangup {
                            call_id: Some(id),
                            reason: HangupReason::Timeout,
                        },
                    );
                    if let Some(sess) = self.sessions.get_mut(&s) {
                        sess.call = None;
                    }
                }
            }
        }
    }

    /// A signal message arrived from `session`.
    pub fn handle_signal(&mut self, now: Now, session: SessionId, msg: SignalMessage) {
        self.metrics.signal(msg.kind());
        if !self.sessions.contains_key(&session) {
            return;
        }
        match msg {
            SignalMessage::Hello {
                protocol_version,
                supported_versions,
                room,
                identity_pub,
                proof,
                alias,
                token,
            } => {
                if !version_ok(protocol_version, &supported_versions) {
                    self.refuse_version(session, None);
                    return;
                }
                self.join(
                    now,
                    session,
                    room,
                    identity_pub,
                    &proof.0,
                    alias,
                    token.as_deref(),
                );
            }
            SignalMessage::RegisterPresence {
                identity_pub,
                proof,
                alias: _,
                token,
            } => self.register(now, session, identity_pub, &proof.0, token.as_deref()),
            SignalMessage::KeyEnvelope { from, to, payload } => {
                let Some((room, me)) = self.sessions.get(&session).and_then(|s| s.room) else {
                    self.error(
                        session,
                        ErrorCode::BadRequest,
                        "key envelope outside a room",
                    );
                    return;
                };
                if from != me {
                    self.metrics.reject("envelope_spoofed_sender");
                    self.error(
                        session,
                        ErrorCode::BadRequest,
                        format!("envelope claims sender {from}, you are {me}"),
                    );
                    return;
                }
                match self
                    .rooms
                    .get(&room)
                    .and_then(|r| r.members.get(&to))
                    .map(|m| m.session)
                {
                    Some(dest) => self.send(dest, SignalMessage::KeyEnvelope { from, to, payload }),
                    None => self.error(
                        session,
                        ErrorCode::NotFound,
                        format!("no participant {to} in this room"),
                    ),
                }
            }
            SignalMessage::Nack {
                sender,
                stream,
                seqs,
            } => {
                if let Some(dest) = self.room_peer(session, sender) {
                    self.send(
                        dest,
                        SignalMessage::Nack {
                            sender,
                            stream,
                            seqs,
                        },
                    );
                }
            }
            SignalMessage::PictureLoss { sender, stream } => {
                self.picture_loss(now, session, sender, stream)
            }
            SignalMessage::CallOffer {
                call_id,
                from,
                to,
                protocol_version,
                supported_versions,
                alias,
            } => self.call_offer(
                now,
                session,
                call_id,
                from,
                to,
                protocol_version,
                supported_versions,
                alias,
            ),
            SignalMessage::CallAnswer { call_id, accepted } => {
                self.call_answer(session, call_id, accepted)
            }
            SignalMessage::Hangup {
                call_id: Some(id),
                reason,
            } => {
                let answered = self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.state == CallState::Active);
                if self.end_call(id, session, reason.clone()) && answered {
                    self.remember_ended(now, id, reason);
                }
            }
            SignalMessage::Hangup { call_id: None, .. } => self.leave_room(session),
            SignalMessage::Ping { ts_ms } => self.send(session, SignalMessage::Pong { ts_ms }),
            SignalMessage::Pong { .. }
            | SignalMessage::QualityReport { .. }
            | SignalMessage::Error { .. } => {}
            other @ (SignalMessage::Welcome { .. }
            | SignalMessage::RoomUpdate { .. }
            | SignalMessage::PresenceAck { .. }
            | SignalMessage::CallRinging { .. }
            | SignalMessage::CallSetup { .. }
            | SignalMessage::QualityDirective { .. }
            | SignalMessage::KeyframeRequest { .. }) => {
                self.metrics.reject("unexpected_signal");
                self.error(
                    session,
                    ErrorCode::BadRequest,
                    format!("{} is sent by relays, not clients", other.kind()),
                );
            }
        }
    }

    fn refuse_version(&mut self, session: SessionId, call_id: Option<CallId>) {
        self.metrics.reject("version_mismatch");
        self.send(
            session,
            SignalMessage::Hangup {
                call_id,
                reason: HangupReason::VersionMismatch {
                    supported: SUPPORTED_VERSIONS.to_vec(),
                },
            },
        );
        if call_id.is_none() {
            self.close(
                session,
                CloseCode::VersionMismatch,
                "no common protocol version",
            );
        }
    }

    /// Checks token and identity proof; on failure replies, closes and returns None.
    fn admit(
        &mut self,
        now: Now,
        session: SessionId,
        identity_pub: &PublicKey,
        proof: &[u8],
        purpose: ProofPurpose,
        token: Option<&str>,
    ) -> Option<Fingerprint> {
        if let Err(e) = self.config.tokens.check(token, now.unix_secs) {
            self.metrics.reject("token");
            self.error(session, ErrorCode::Unauthorized, e.to_string());
            self.close(session, CloseCode::Unauthorized, e.to_string());
            return None;
        }
        let exporter = self.sessions.get(&session)?.exporter;
        let verified = fingerprint_of(identity_pub)
            .filter(|(id, _)| wzp_crypto::proof::verify(id, purpose, &exporter, proof).is_ok());
        let Some((_, fp)) = verified else {
            self.metrics.reject("identity_proof");
            self.error(
                session,
                ErrorCode::Unauthorized,
                "identity proof does not verify",
            );
            self.close(
                session,
                CloseCode::Unauthorized,
                "identity proof does not verify",
            );
            return None;
        };
        Some(fp)
    }

    #[allow(clippy::too_many_arguments)]
    fn join(
        &mut self,
        now: Now,
        session: SessionId,
        room_id: RoomId,
        identity_pub: PublicKey,
        proof: &[u8],
        alias: Option<String>,
        token: Option<&str>,
    ) {
        let Some(fp) = self.admit(
            now,
            session,
            &identity_pub,
            proof,
            ProofPurpose::Join(room_id),
            token,
        ) else {
            return;
        };
        if self.sessions.get(&session).and_then(|s| s.room).is_some() {
            self.error(
                session,
                ErrorCode::BadRequest,
                "already in a room; leave it first",
            );
            return;
        }
        self.ended_rooms
            .retain(|_, (_, _, until)| *until > now.mono);
        if let Some((call_id, reason, _)) = self.ended_rooms.get(&room_id) {
            let (call_id, reason) = (*call_id, reason.clone());
            self.send(
                session,
                SignalMessage::Hangup {
                    call_id: Some(call_id),
                    reason,
                },
            );
            return;
        }
        let call = self
            .calls
            .iter()
            .find(|(id, c)| c.state == CallState::Active && call_room(id) == room_id)
            .map(|(id, c)| (*id, [c.caller_fp, c.callee_fp]));
        let acl = call.map(|(_, acl)| acl);
        // One identity, one place in a room: a connection of this identity already in
        // the room is its own old connection (the client reconnected before the relay
        // noticed the old one die), which would otherwise linger as a silent ghost
        // participant until QUIC's idle timeout.
        self.evict_stale(room_id, fp, session);
        if let Some((call_id, _)) = call.filter(|(_, parties)| parties.contains(&fp)) {
            self.reattach(call_id, fp, session);
        }
        let room_count = self.rooms.len();
        let limits = self.config.limits;
        let room = match self.rooms.get_mut(&room_id) {
            Some(r) => r,
            None if room_count >= limits.max_rooms => {
                self.metrics.reject("max_rooms");
                self.error(session, ErrorCode::LimitReached, "relay has too many rooms");
                return;
            }
            None => self.rooms.entry(room_id).or_insert(Room {
                members: BTreeMap::new(),
                next_pid: 1,
                acl,
            }),
        };
        if let Some(allowed) = room.acl.or(acl) {
            if !allowed.contains(&fp) {
                self.metrics.reject("call_room_acl");
                self.error(session, ErrorCode::Unauthorized, "not a party to this call");
                self.remove_room_if_empty(room_id);
                return;
            }
        }
        if room.members.len() >= limits.max_participants
            || (room.acl.is_some() && room.members.len() >= 2)
        {
            self.metrics.reject("max_participants");
            self.error(session, ErrorCode::LimitReached, "room is full");
            return;
        }
        let mut pid = ParticipantId(room.next_pid);
        while room.members.contains_key(&pid) || pid.0 == 0 {
            pid = ParticipantId(pid.0.wrapping_add(1));
        }
        room.next_pid = pid.0.wrapping_add(1);
        room.members.insert(
            pid,
            Member {
                session,
                fingerprint: fp,
                identity_pub,
                alias,
            },
        );
        if let Some(s) = self.sessions.get_mut(&session) {
            s.room = Some((room_id, pid));
        }
        tracing::debug!(?session, room = %room_id, participant = %pid, "joined");
        self.send(
            session,
            SignalMessage::Welcome {
                protocol_version: PROTOCOL_VERSION,
                room: room_id,
                participant: pid,
            },
        );
        self.out.push_back(Output::SessionRoom {
            session,
            joined: Some((room_id, pid)),
        });
        self.room_changed(room_id);
    }

    /// Someone joins a room (a group room or a call's room) while an older connection of
    /// the same identity still holds a place there: that is their old connection, which
    /// dropped without the relay noticing yet (QUIC's idle timeout is longer than a
    /// client's reconnect), or the same identity on another device. The new connection
    /// proved the identity, so it takes the place and the old one is closed, saying why.
    fn evict_stale(&mut self, room_id: RoomId, fp: Fingerprint, session: SessionId) {
        let stale: Vec<SessionId> = self.rooms.get(&room_id).map_or_else(Vec::new, |r| {
            r.members
                .values()
                .filter(|m| m.fingerprint == fp && m.session != session)
                .map(|m| m.session)
                .collect()
        });
        for old in stale {
            if let Some(s) = self.sessions.get_mut(&old) {
                s.call = None;
            }
            self.leave_room(old);
            self.metrics.reject("superseded");
            self.close(
                old,
                CloseCode::Superseded,
                "a newer connection of the same identity took this place in the room",
            );
        }
    }

    /// Binds the call to `session` as the party `fp` (the first join of a call is
    /// already bound; a rejoin after a dropped connection moves the party over).
    fn reattach(&mut self, call_id: CallId, fp: Fingerprint, session: SessionId) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let slot = if call.caller_fp == fp {
            &mut call.caller
        } else {
            &mut call.callee
        };
        let previous = std::mem::replace(slot, session);
        let (caller, callee) = (call.caller, call.callee);
        if previous != session {
            if let Some(s) = self.sessions.get_mut(&previous) {
                s.call = None;
            }
            tracing::debug!(?session, "a party rejoined its call over a new connection");
            self.metrics.call("resumed");
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.call = Some(call_id);
        }
        let bound = |s: SessionId| {
            self.sessions
                .get(&s)
                .is_some_and(|x| x.call == Some(call_id))
        };
        if bound(caller) && bound(callee) {
            if let Some(c) = self.calls.get_mut(&call_id) {
                c.grace_until = None;
            }
        }
    }

    /// Remembers that the call of `call_id`'s room ended, for `call_grace`.
    fn remember_ended(&mut self, now: Now, call_id: CallId, reason: HangupReason) {
        let until = now.mono + self.config.call_grace;
        self.ended_rooms.retain(|_, (_, _, t)| *t > now.mono);
        self.ended_rooms
            .insert(call_room(&call_id), (call_id, reason, until));
    }

    fn leave_room(&mut self, session: SessionId) {
        let Some((room_id, pid)) = self.sessions.get_mut(&session).and_then(|s| s.room.take())
        else {
            return;
        };
        if let Some(room) = self.rooms.get_mut(&room_id) {
            room.members.remove(&pid);
        }
        self.keyframe_sent
            .retain(|(r, p, _), _| !(*r == room_id && *p == pid));
        self.out.push_back(Output::SessionRoom {
            session,
            joined: None,
        });
        self.room_changed(room_id);
        self.remove_room_if_empty(room_id);
    }

    fn remove_room_if_empty(&mut self, room_id: RoomId) {
        if self
            .rooms
            .get(&room_id)
            .is_some_and(|r| r.members.is_empty())
        {
            self.rooms.remove(&room_id);
        }
        self.update_room_gauges();
    }

    fn update_room_gauges(&self) {
        self.metrics.rooms.set(self.rooms.len() as i64);
        self.metrics
            .participants
            .set(self.rooms.values().map(|r| r.members.len() as i64).sum());
    }

    /// Sends the new member list to everyone in the room and the new route to the shell.
    fn room_changed(&mut self, room_id: RoomId) {
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        let participants: Vec<Participant> = room
            .members
            .iter()
            .map(|(pid, m)| Participant {
                id: *pid,
                fingerprint: m.fingerprint,
                identity_pub: m.identity_pub,
                alias: m.alias.clone(),
            })
            .collect();
        let members: Vec<(SessionId, ParticipantId)> = room
            .members
            .iter()
            .map(|(pid, m)| (m.session, *pid))
            .collect();
        for (s, _) in &members {
            self.out.push_back(Output::Signal {
                to: *s,
                msg: SignalMessage::RoomUpdate {
                    room: room_id,
                    participants: participants.clone(),
                },
            });
        }
        self.out.push_back(Output::RoomMembers {
            room: room_id,
            members,
        });
        self.update_room_gauges();
    }

    /// The session of participant `pid` in `session`'s room.
    fn room_peer(&self, session: SessionId, pid: ParticipantId) -> Option<SessionId> {
        let (room, _) = self.sessions.get(&session)?.room?;
        self.rooms.get(&room)?.members.get(&pid).map(|m| m.session)
    }

    fn picture_loss(
        &mut self,
        now: Now,
        session: SessionId,
        sender: ParticipantId,
        stream: StreamId,
    ) {
        let Some((room, _)) = self.sessions.get(&session).and_then(|s| s.room) else {
            return;
        };
        let Some(dest) = self.room_peer(session, sender) else {
            return;
        };
        let key = (room, sender, stream);
        let window = self.config.keyframe_window;
        match self.keyframe_sent.get(&key) {
            Some(last) if now.mono.saturating_duration_since(*last) < window => {
                self.metrics
                    .keyframe_requests
                    .get_or_create(&[("action", "suppressed")])
                    .inc();
            }
            _ => {
                self.keyframe_sent.insert(key, now.mono);
                self.metrics
                    .keyframe_requests
                    .get_or_create(&[("action", "forwarded")])
                    .inc();
                self.send(dest, SignalMessage::KeyframeRequest { stream });
            }
        }
    }

    fn register(
        &mut self,
        now: Now,
        session: SessionId,
        identity_pub: PublicKey,
        proof: &[u8],
        token: Option<&str>,
    ) {
        let Some(fp) = self.admit(
            now,
            session,
            &identity_pub,
            proof,
            ProofPurpose::Presence,
            token,
        ) else {
            return;
        };
        if let Some(old) = self.presence.insert(fp, session) {
            if old != session {
                // The same identity registered again (a reconnect): the newest connection wins.
                if let Some(s) = self.sessions.get_mut(&old) {
                    s.presence = None;
                }
            }
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.presence = Some(fp);
        }
        self.send(session, SignalMessage::PresenceAck { fingerprint: fp });
    }

    #[allow(clippy::too_many_arguments)]
    fn call_offer(
        &mut self,
        now: Now,
        session: SessionId,
        call_id: CallId,
        from: Fingerprint,
        to: Fingerprint,
        protocol_version: u8,
        supported_versions: Vec<u8>,
        alias: Option<String>,
    ) {
        let hangup = |reason| SignalMessage::Hangup {
            call_id: Some(call_id),
            reason,
        };
        let Some(me) = self.sessions.get(&session).and_then(|s| s.presence) else {
            self.error(
                session,
                ErrorCode::Unauthorized,
                "register presence before calling",
            );
            return;
        };
        if me != from {
            self.metrics.reject("call_spoofed_caller");
            self.error(
                session,
                ErrorCode::Unauthorized,
                "call offer names another caller",
            );
            return;
        }
        if self.calls.contains_key(&call_id)
            || self.sessions.get(&session).and_then(|s| s.call).is_some()
        {
            self.error(
                session,
                ErrorCode::BadRequest,
                "already in a call, or call id reused",
            );
            return;
        }
        if !version_ok(protocol_version, &supported_versions) {
            self.metrics.call("version_mismatch");
            self.refuse_version(session, Some(call_id));
            return;
        }
        let Some(callee) = self.presence.get(&to).copied() else {
            self.metrics.call("unreachable");
            self.send(
                session,
                hangup(HangupReason::Error {
                    message: "callee is not online".into(),
                }),
            );
            return;
        };
        if callee == session || self.sessions.get(&callee).and_then(|s| s.call).is_some() {
            self.metrics.call("busy");
            self.send(session, hangup(HangupReason::Busy));
            return;
        }
        self.calls.insert(
            call_id,
            Call {
                caller: session,
                callee,
                caller_fp: from,
                callee_fp: to,
                grace_until: None,
                state: CallState::Ringing {
                    deadline: now.mono + self.config.ring_timeout,
                },
            },
        );
        for s in [session, callee] {
            if let Some(sess) = self.sessions.get_mut(&s) {
                sess.call = Some(call_id);
            }
        }
        self.metrics.call("offered");
        self.send(
            callee,
            SignalMessage::CallOffer {
                call_id,
                from,
                to,
                protocol_version,
                supported_versions,
                alias,
            },
        );
        self.send(session, SignalMessage::CallRinging { call_id });
    }

    fn call_answer(&mut self, session: SessionId, call_id: CallId, accepted: bool) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            self.error(session, ErrorCode::NotFound, "no such call");
            return;
        };
        if call.callee != session || call.state == CallState::Active {
            self.error(session, ErrorCode::BadRequest, "not ringing for you");
            return;
        }
        if !accepted {
            let _ = self.end_call(call_id, session, HangupReason::Declined);
            return;
        }
        call.state = CallState::Active;
        let (caller, callee) = (call.caller, call.callee);
        self.metrics.call("answered");
        let room = call_room(&call_id);
        self.send(caller, SignalMessage::CallAnswer { call_id, accepted });
        for s in [caller, callee] {
            self.send(s, SignalMessage::CallSetup { call_id, room });
        }
    }

    /// Ends a call at `by`'s request (or because `by` is gone) and tells the other party.
    /// Returns whether the call ended (`false`: no such call, or `by` is not a party).
    fn end_call(&mut self, call_id: CallId, by: SessionId, reason: HangupReason) -> bool {
        let Some(call) = self.calls.get(&call_id) else {
            return false;
        };
        if by != call.caller && by != call.callee {
            self.error(by, ErrorCode::BadRequest, "not a party to this call");
            return false;
        }
        let call = match self.calls.remove(&call_id) {
            Some(c) => c,
            None => return false,
        };
        let other = if by == call.caller {
            call.callee
        } else {
            call.caller
        };
        let outcome = match (&reason, call.state) {
            (HangupReason::Declined, _) => "declined",
            (HangupReason::Busy, _) => "busy",
            (_, CallState::Ringing { .. }) if by == call.caller => "cancelled",
            (HangupReason::Error { .. }, _) => "dropped",
            _ => "ended",
        };
        self.metrics.call(outcome);
        for s in [call.caller, call.callee] {
            if let Some(sess) = self.sessions.get_mut(&s) {
                sess.call = None;
            }
        }
        self.send(
            other,
            SignalMessage::Hangup {
                call_id: Some(call_id),
                reason,
            },
        );
        true
    }
}

fn version_ok(preferred: u8, supported: &[u8]) -> bool {
    SUPPORTED_VERSIONS.contains(&preferred)
        || supported.iter().any(|v| SUPPORTED_VERSIONS.contains(v))
}
