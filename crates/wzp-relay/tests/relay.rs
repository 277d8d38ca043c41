//! The relay over real QUIC on loopback, driven by real clients.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_core::OsRng;
use wzp_crypto::Identity;
use wzp_proto::{
    Blob, CallId, CloseCode, CodecId, ErrorCode, HangupReason, MediaHeader, ParticipantId, RoomId,
    Seq, SignalMessage, StreamId, TimestampMs, parse_forwarded,
};
use wzp_relay::{RelayArgs, RelayHandle, Settings};
use wzp_transport::{RelayClient, RelayIdentity, TransportError, TransportParams, Trust};

const WAIT: Duration = Duration::from_secs(5);

fn args() -> RelayArgs {
    RelayArgs {
        listen: Some("127.0.0.1:0".into()),
        metrics_listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    }
}

async fn relay(args: RelayArgs) -> RelayHandle {
    let settings = Settings::resolve(&args).unwrap();
    wzp_relay::start_with_identity(settings, RelayIdentity::generate().unwrap())
        .await
        .unwrap()
}

async fn client(r: &RelayHandle) -> RelayClient {
    let ep = wzp_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    RelayClient::connect(
        &ep,
        r.local_addr(),
        "localhost",
        &Trust::Pinned(r.fingerprint()),
        &TransportParams::default(),
    )
    .await
    .unwrap()
}

fn audio(seq: u32, payload: &[u8]) -> Bytes {
    let h = MediaHeader::new(
        CodecId::Opus24k,
        StreamId(0),
        Seq(seq),
        TimestampMs(seq * 20),
    );
    let mut v = h.encode().to_vec();
    v.extend_from_slice(payload);
    Bytes::from(v)
}

fn video(seq: u32, len: usize) -> Bytes {
    let h = MediaHeader::new(
        CodecId::H264Baseline,
        StreamId(0),
        Seq(seq),
        TimestampMs(seq),
    );
    let mut v = h.encode().to_vec();
    v.resize(16 + len, 0x5a);
    Bytes::from(v)
}

/// Receives forwarded datagrams until `n` arrived or `wait` passed.
async fn recv_media(c: &RelayClient, n: usize, wait: Duration) -> Vec<(ParticipantId, Vec<u8>)> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout_at(deadline, c.conn.recv_media()).await {
            Ok(Ok(d)) => {
                let (pid, rest) = parse_forwarded(&d).unwrap();
                out.push((pid, rest.to_vec()));
            }
            _ => break,
        }
    }
    out
}

/// Skips signals until a hang-up whose reason passes `want`.
async fn expect_hangup(c: &mut RelayClient, want: fn(&HangupReason) -> bool) -> SignalMessage {
    expect(
        c,
        |m| matches!(m, SignalMessage::Hangup { reason, .. } if want(reason)),
    )
    .await
}

/// Skips signals until one matches.
async fn expect<F: Fn(&SignalMessage) -> bool>(c: &mut RelayClient, f: F) -> SignalMessage {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_signal(left).await.unwrap() {
            Some(m) if f(&m) => return m,
            Some(_) => continue,
            None => panic!("expected signal did not arrive"),
        }
    }
}

async fn room_of(
    r: &RelayHandle,
    n: usize,
    room: RoomId,
) -> Vec<(RelayClient, Identity, ParticipantId)> {
    let mut v = Vec::new();
    for _ in 0..n {
        let mut c = client(r).await;
        let id = Identity::generate(&mut OsRng);
        let (pid, _) = c.join(&id, room, None, WAIT).await.unwrap();
        v.push((c, id, pid));
    }
    v
}

#[tokio::test]
async fn join_update_leave_and_forward_to_all_but_sender() {
    let r = relay(args()).await;
    let room = RoomId::from_name("family");
    let mut members = room_of(&r, 3, room).await;
    let pids: HashSet<ParticipantId> = members.iter().map(|m| m.2).collect();
    assert_eq!(pids.len(), 3, "distinct participant ids");
    let update = expect(
        &mut members[0].0,
        |m| matches!(m, SignalMessage::RoomUpdate { participants, .. } if participants.len() == 3),
    )
    .await;
    if let SignalMessage::RoomUpdate { participants, .. } = update {
        let fps: HashSet<_> = participants.iter().map(|p| p.fingerprint).collect();
        assert!(members.iter().all(|m| fps.contains(&m.1.fingerprint())));
    }
    for seq in 0..20 {
        members[0]
            .0
            .conn
            .send_media(audio(seq, b"opus-frame"))
            .unwrap();
    }
    for m in &members[1..] {
        let got = recv_media(&m.0, 20, WAIT).await;
        assert_eq!(got.len(), 20);
        assert!(
            got.iter()
                .all(|(pid, d)| *pid == members[0].2 && d.ends_with(b"opus-frame"))
        );
        assert_eq!(
            &got[3].1[..16],
            &audio(3, b"")[..16],
            "header forwarded unchanged"
        );
    }
    assert!(
        recv_media(&members[0].0, 1, Duration::from_millis(300))
            .await
            .is_empty()
    );
    let leaver = members.pop().unwrap();
    leaver.0.conn.close(0, "bye");
    expect(
        &mut members[0].0,
        |m| matches!(m, SignalMessage::RoomUpdate { participants, .. } if participants.len() == 2),
    )
    .await;
    let text = r.metrics().render();
    assert!(
        text.contains("wzp_relay_packets_forwarded_total 40"),
        "{text}"
    );
    r.shutdown().await;
}

#[tokio::test]
async fn key_envelopes_reach_only_their_addressee() {
    let r = relay(args()).await;
    let mut m = room_of(&r, 3, RoomId::from_name("e2e")).await;
    let (a, b) = (m[0].2, m[1].2);
    let env = SignalMessage::KeyEnvelope {
        from: a,
        to: b,
        payload: Blob(b"sealed-key-material".to_vec()),
    };
    m[0].0.send(&env).await.unwrap();
    let got = expect(&mut m[1].0, |x| {
        matches!(x, SignalMessage::KeyEnvelope { .. })
    })
    .await;
    assert_eq!(got, env);
    let deadline = Instant::now() + Duration::from_millis(500);
    while let Some(x) = m[2]
        .0
        .next_signal(deadline.saturating_duration_since(Instant::now()))
        .await
        .unwrap()
    {
        assert!(
            !matches!(x, SignalMessage::KeyEnvelope { .. }),
            "envelope leaked to a third party"
        );
    }
    let spoof = SignalMessage::KeyEnvelope {
        from: b,
        to: m[2].2,
        payload: Blob(vec![1]),
    };
    m[0].0.send(&spoof).await.unwrap();
    expect(&mut m[0].0, |x| {
        matches!(
            x,
            SignalMessage::Error {
                code: ErrorCode::BadRequest,
                ..
            }
        )
    })
    .await;
    r.shutdown().await;
}

#[tokio::test]
async fn keyframe_requests_from_several_receivers_become_one() {
    let r = relay(args()).await;
    let mut m = room_of(&r, 3, RoomId::from_name("kf")).await;
    let sender = m[0].2;
    for member in m.iter_mut().skip(1) {
        member
            .0
            .send(&SignalMessage::PictureLoss {
                sender,
                stream: StreamId(0),
            })
            .await
            .unwrap();
    }
    expect(&mut m[0].0, |x| {
        matches!(x, SignalMessage::KeyframeRequest { .. })
    })
    .await;
    let deadline = Instant::now() + Duration::from_millis(150);
    while let Some(x) = m[0]
        .0
        .next_signal(deadline.saturating_duration_since(Instant::now()))
        .await
        .unwrap()
    {
        assert!(
            !matches!(x, SignalMessage::KeyframeRequest { .. }),
            "second keyframe request not suppressed"
        );
    }
    assert!(
        r.metrics()
            .render()
            .contains(r#"wzp_relay_keyframe_requests_total{action="suppressed"} 1"#)
    );
    r.shutdown().await;
}

async fn presence(r: &RelayHandle) -> (RelayClient, Identity) {
    let mut c = client(r).await;
    let id = Identity::generate(&mut OsRng);
    let reg = c.register_presence(&id, None, None).unwrap();
    c.send(&reg).await.unwrap();
    let ack = expect(&mut c, |m| matches!(m, SignalMessage::PresenceAck { .. })).await;
    assert_eq!(
        ack,
        SignalMessage::PresenceAck {
            fingerprint: id.fingerprint()
        }
    );
    (c, id)
}

fn offer(call: CallId, from: &Identity, to: &Identity) -> SignalMessage {
    SignalMessage::CallOffer {
        call_id: call,
        from: from.fingerprint(),
        to: to.fingerprint(),
        protocol_version: 2,
        supported_versions: vec![2],
        alias: Some("alice".into()),
    }
}

#[tokio::test]
async fn direct_call_ring_answer_and_two_party_room() {
    let r = relay(args()).await;
    let (mut alice, a) = presence(&r).await;
    let (mut bob, b) = presence(&r).await;
    let call = CallId([7; 16]);
    alice.send(&offer(call, &a, &b)).await.unwrap();
    expect(&mut alice, |m| {
        matches!(m, SignalMessage::CallRinging { .. })
    })
    .await;
    expect(
        &mut bob,
        |m| matches!(m, SignalMessage::CallOffer { call_id, .. } if *call_id == call),
    )
    .await;
    bob.send(&SignalMessage::CallAnswer {
        call_id: call,
        accepted: true,
    })
    .await
    .unwrap();
    let setup = expect(&mut alice, |m| matches!(m, SignalMessage::CallSetup { .. })).await;
    expect(&mut bob, |m| matches!(m, SignalMessage::CallSetup { .. })).await;
    let SignalMessage::CallSetup { room, .. } = setup else {
        unreachable!()
    };
    alice.join(&a, room, None, WAIT).await.unwrap();
    bob.join(&b, room, None, WAIT).await.unwrap();
    let mut eve = client(&r).await;
    let e = Identity::generate(&mut OsRng);
    let refused = eve.join(&e, room, None, WAIT).await.unwrap_err();
    assert!(
        matches!(
            refused,
            TransportError::Refused {
                code: ErrorCode::Unauthorized,
                ..
            }
        ),
        "{refused}"
    );
    alice.conn.send_media(audio(1, b"hi bob")).unwrap();
    assert_eq!(recv_media(&bob, 1, WAIT).await.len(), 1);
    alice
        .send(&SignalMessage::Hangup {
            call_id: Some(call),
            reason: HangupReason::Normal,
        })
        .await
        .unwrap();
    expect_hangup(&mut bob, |r| matches!(r, HangupReason::Normal)).await;
    r.shutdown().await;
}

#[tokio::test]
async fn direct_call_decline_busy_offline_and_dropped_connection() {
    let r = relay(args()).await;
    let (mut alice, a) = presence(&r).await;
    let (mut bob, b) = presence(&r).await;
    let (mut carol, c) = presence(&r).await;
    alice.send(&offer(CallId([1; 16]), &a, &b)).await.unwrap();
    expect(&mut bob, |m| matches!(m, SignalMessage::CallOffer { .. })).await;
    bob.send(&SignalMessage::CallAnswer {
        call_id: CallId([1; 16]),
        accepted: false,
    })
    .await
    .unwrap();
    expect_hangup(&mut alice, |r| matches!(r, HangupReason::Declined)).await;
    alice.send(&offer(CallId([2; 16]), &a, &b)).await.unwrap();
    expect(&mut bob, |m| matches!(m, SignalMessage::CallOffer { .. })).await;
    carol.send(&offer(CallId([3; 16]), &c, &b)).await.unwrap();
    expect_hangup(&mut carol, |r| matches!(r, HangupReason::Busy)).await;
    let ghost = Identity::generate(&mut OsRng);
    carol
        .send(&offer(CallId([4; 16]), &c, &ghost))
        .await
        .unwrap();
    expect_hangup(&mut carol, |r| matches!(r, HangupReason::Error { .. })).await;
    carol.send(&offer(CallId([5; 16]), &a, &b)).await.unwrap();
    expect(&mut carol, |m| {
        matches!(
            m,
            SignalMessage::Error {
                code: ErrorCode::Unauthorized,
                ..
            }
        )
    })
    .await;
    bob.conn.close(0, "crash");
    let m = expect(&mut alice, |m| {
        matches!(
            m,
            SignalMessage::Hangup {
                call_id: Some(CallId([2, ..])),
                ..
            }
        )
    })
    .await;
    assert!(
        matches!(
            m,
            SignalMessage::Hangup {
                reason: HangupReason::Error { .. },
                ..
            }
        ),
        "{m:?}"
    );
    r.shutdown().await;
}

#[tokio::test]
async fn unanswered_call_times_out() {
    let r = relay(RelayArgs {
        ring_timeout_secs: Some(1),
        ..args()
    })
    .await;
    let (mut alice, a) = presence(&r).await;
    let (mut bob, b) = presence(&r).await;
    alice.send(&offer(CallId([9; 16]), &a, &b)).await.unwrap();
    expect(&mut alice, |m| {
        matches!(m, SignalMessage::CallRinging { .. })
    })
    .await;
    expect_hangup(&mut alice, |r| matches!(r, HangupReason::Timeout)).await;
    expect_hangup(&mut bob, |r| matches!(r, HangupReason::Timeout)).await;
    assert!(
        r.metrics()
            .render()
            .contains(r#"wzp_relay_calls_total{outcome="timeout"} 1"#)
    );
    r.shutdown().await;
}

#[tokio::test]
async fn relay_authentication_pin_first_use_and_ca() {
    let r = relay(args()).await;
    let ep = wzp_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let params = TransportParams::default();
    let first = wzp_transport::connect(&ep, r.local_addr(), "localhost", &Trust::FirstUse, &params)
        .await
        .unwrap();
    assert_eq!(first.relay, r.fingerprint());
    let other = RelayIdentity::generate().unwrap().fingerprint();
    let err = wzp_transport::connect(
        &ep,
        r.local_addr(),
        "localhost",
        &Trust::Pinned(other),
        &params,
    )
    .await
    .unwrap_err();
    match err {
        TransportError::RelayKeyChanged {
            expected,
            presented,
        } => {
            assert_eq!((expected, presented), (other, r.fingerprint()));
        }
        e => panic!("wrong error {e}"),
    }
    // Under CA verification, the self-signed relay is not trusted.
    let ca = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca).unwrap();
    let trust_ca = Trust::Ca(vec![ca_cert.der().to_vec()]);
    let err = wzp_transport::connect(&ep, r.local_addr(), "localhost", &trust_ca, &params)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Untrusted(_)), "{err}");
    // A relay with a certificate issued by that CA is trusted, under its name only.
    let dir = std::env::temp_dir().join(format!("wzp-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["relay.test".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca_cert, &ca)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();
    let settings = Settings::resolve(&RelayArgs {
        tls_cert_file: Some(dir.join("cert.pem")),
        tls_key_file: Some(dir.join("key.pem")),
        ..args()
    })
    .unwrap();
    let ca_relay = wzp_relay::start(settings).await.unwrap();
    wzp_transport::connect(&ep, ca_relay.local_addr(), "relay.test", &trust_ca, &params)
        .await
        .unwrap();
    let wrong_name =
        wzp_transport::connect(&ep, ca_relay.local_addr(), "other.test", &trust_ca, &params).await;
    assert!(matches!(wrong_name, Err(TransportError::Untrusted(_))));
    std::fs::remove_dir_all(&dir).unwrap();
    ca_relay.shutdown().await;
    r.shutdown().await;
}

#[tokio::test]
async fn a_probe_reports_round_trip_and_key_and_sees_a_changed_key() {
    let r = relay(args()).await;
    let ep = wzp_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let params = TransportParams::default();
    let probe = |trust: Trust| {
        let ep = ep.clone();
        let addr = r.local_addr();
        let params = params.clone();
        async move { wzp_transport::probe(&ep, addr, "localhost", &trust, &params, WAIT).await }
    };
    let first = probe(Trust::FirstUse).await.unwrap();
    assert_eq!(first.relay, r.fingerprint());
    assert!(first.rtt > Duration::ZERO && first.rtt < WAIT, "{first:?}");
    assert!(first.handshake > Duration::ZERO && first.handshake < WAIT);
    let pinned = probe(Trust::Pinned(r.fingerprint())).await.unwrap();
    assert_eq!(pinned.relay, r.fingerprint());
    let other = RelayIdentity::generate().unwrap().fingerprint();
    match probe(Trust::Pinned(other)).await {
        Err(TransportError::RelayKeyChanged {
            expected,
            presented,
        }) => assert_eq!((expected, presented), (other, r.fingerprint())),
        other => panic!("expected a changed key, got {other:?}"),
    }
    // Probes join nothing and close: the relay keeps no session or room.
    let deadline = Instant::now() + WAIT;
    let mut metrics = r.metrics().render();
    while !metrics.contains("wzp_relay_sessions 0") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        metrics = r.metrics().render();
    }
    assert!(metrics.contains("wzp_relay_sessions 0"), "{metrics}");
    assert!(metrics.contains("wzp_relay_rooms 0"), "{metrics}");
    r.shutdown().await;
    // Nothing listening: the handshake gets no answer.
    let quiet = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let err = wzp_transport::probe(
        &ep,
        quiet.local_addr().unwrap(),
        "localhost",
        &Trust::FirstUse,
        &params,
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::NoAnswer {
                what: "handshake",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_rejoin_to_a_group_room_replaces_the_ghost_of_the_old_connection() {
    let r = relay(args()).await;
    let room = RoomId::from_name("ghosts");
    let mut members = room_of(&r, 2, room).await;
    let (mut carol, _, carol_pid) = members.pop().unwrap();
    let (dave, dave_id, dave_pid) = members.pop().unwrap();
    // Dave's client reconnects (a new connection, same identity) while the relay still
    // holds his old one.
    let mut dave2 = client(&r).await;
    let (dave2_pid, _) = dave2.join(&dave_id, room, None, WAIT).await.unwrap();
    assert_ne!(dave2_pid, dave_pid);
    let closed = tokio::time::timeout(WAIT, dave.conn.closed())
        .await
        .unwrap();
    assert!(
        matches!(&closed, TransportError::ClosedByPeer { code: 8, reason } if reason.contains("newer connection")),
        "the old connection is closed as superseded, saying why: {closed}"
    );
    // Carol sees Dave once: his new place, no ghost.
    let update = expect(&mut carol, |m| {
        matches!(m, SignalMessage::RoomUpdate { participants, .. }
            if participants.len() == 2 && participants.iter().any(|p| p.id == dave2_pid))
    })
    .await;
    let SignalMessage::RoomUpdate { participants, .. } = update else {
        unreachable!()
    };
    let ids: HashSet<_> = participants.iter().map(|p| p.id).collect();
    assert_eq!(ids, HashSet::from([carol_pid, dave2_pid]));
    // Media from the new connection reaches Carol under the new id.
    dave2.conn.send_media(audio(1, b"back")).unwrap();
    let got = recv_media(&carol, 1, WAIT).await;
    assert_eq!(got, vec![(dave2_pid, audio(1, b"back")[..].to_vec())]);
    r.shutdown().await;
}

#[tokio::test]
async fn tokens_static_and_signed() {
    let dir = std::env::temp_dir().join(format!("wzp-tok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef").unwrap();
    let r = relay(RelayArgs {
        tokens: vec!["friends".into()],
        token_secret_file: Some(secret),
        ..args()
    })
    .await;
    let room = RoomId::from_name("private");
    let id = Identity::generate(&mut OsRng);
    let mut c = client(&r).await;
    let err = c.join(&id, room, None, WAIT).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Refused {
                code: ErrorCode::Unauthorized,
                ..
            }
        ),
        "{err}"
    );
    let mut c = client(&r).await;
    c.join(&id, room, Some("friends".into()), WAIT)
        .await
        .unwrap();
    let signed =
        wzp_relay::tokens::mint(b"0123456789abcdef0123456789abcdef", "bob", u64::MAX - 1).unwrap();
    let mut c2 = client(&r).await;
    c2.join(&Identity::generate(&mut OsRng), room, Some(signed), WAIT)
        .await
        .unwrap();
    let expired = wzp_relay::tokens::mint(b"0123456789abcdef0123456789abcdef", "bob", 1).unwrap();
    let mut c3 = client(&r).await;
    assert!(
        c3.join(&Identity::generate(&mut OsRng), room, Some(expired), WAIT)
            .await
            .is_err()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    r.shutdown().await;
}

#[tokio::test]
async fn identity_proof_must_match_the_connection() {
    let r = relay(args()).await;
    let id = Identity::generate(&mut OsRng);
    let room = RoomId::from_name("x");
    let c1 = client(&r).await;
    let hello = c1.hello(&id, room, None, None).unwrap();
    let mut c2 = client(&r).await;
    c2.send(&hello).await.unwrap();
    expect(&mut c2, |m| {
        matches!(
            m,
            SignalMessage::Error {
                code: ErrorCode::Unauthorized,
                ..
            }
        )
    })
    .await;
    r.shutdown().await;
}

#[tokio::test]
async fn limits_on_participants_and_sessions() {
    let r = relay(RelayArgs {
        max_participants: Some(2),
        max_sessions: Some(3),
        ..args()
    })
    .await;
    let room = RoomId::from_name("small");
    let _two = room_of(&r, 2, room).await;
    let mut third = client(&r).await;
    let err = third
        .join(&Identity::generate(&mut OsRng), room, None, WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Refused {
                code: ErrorCode::LimitReached,
                ..
            }
        ),
        "{err}"
    );
    let fourth = client(&r).await;
    let why = tokio::time::timeout(WAIT, fourth.conn.closed())
        .await
        .unwrap();
    assert!(
        matches!(why, TransportError::ClosedByPeer { code, .. } if code == CloseCode::LimitReached as u64),
        "{why}"
    );
    r.shutdown().await;
}

#[tokio::test]
async fn version_mismatch_is_typed() {
    let r = relay(args()).await;
    let mut c = client(&r).await;
    let id = Identity::generate(&mut OsRng);
    let mut hello = c.hello(&id, RoomId::from_name("v"), None, None).unwrap();
    if let SignalMessage::Hello {
        protocol_version,
        supported_versions,
        ..
    } = &mut hello
    {
        *protocol_version = 3;
        *supported_versions = vec![3];
    }
    c.send(&hello).await.unwrap();
    let m = expect(&mut c, |m| matches!(m, SignalMessage::Hangup { .. })).await;
    assert_eq!(
        m,
        SignalMessage::Hangup {
            call_id: None,
            reason: HangupReason::VersionMismatch { supported: vec![2] }
        }
    );
    r.shutdown().await;
}

#[tokio::test]
async fn flood_and_garbage_do_not_disturb_another_room() {
    let r = relay(RelayArgs {
        max_packets_per_sec: Some(2000),
        rate_grace_secs: Some(2),
        ..args()
    })
    .await;
    let good = room_of(&r, 2, RoomId::from_name("good")).await;
    let mut bad = room_of(&r, 2, RoomId::from_name("bad")).await;
    for i in 0..10_000u32 {
        let d: Vec<u8> = match i % 4 {
            0 => vec![0x01; 3],
            1 => vec![0x9f; 40],
            2 => {
                let mut h = audio(i, b"x").to_vec();
                h[1] = 0x0f;
                h
            }
            _ => vec![0x03; 20],
        };
        let _ = bad[0].0.conn.send_media(Bytes::from(d));
        if i % 200 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    for i in 0..1000u32 {
        let body: &[u8] = match i % 3 {
            0 => b"{{{{",
            1 => br#"{"v":9,"msg":{"type":"ping","ts_ms":1}}"#,
            _ => br#"{"v":2,"msg":{"type":"nack","sender":"x"}}"#,
        };
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        bad[0].0.signals_out.send_raw(&frame).await.unwrap();
    }
    for seq in 0..50 {
        good[0].0.conn.send_media(audio(seq, b"voice")).unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(recv_media(&good[1].0, 50, WAIT).await.len(), 50);
    bad[0]
        .0
        .send(&SignalMessage::Ping { ts_ms: 5 })
        .await
        .unwrap();
    expect(&mut bad[0].0, |m| {
        matches!(m, SignalMessage::Pong { ts_ms: 5 })
    })
    .await;
    assert!(
        recv_media(&bad[1].0, 1, Duration::from_millis(200))
            .await
            .is_empty()
    );
    let text = r.metrics().render();
    assert!(
        text.contains("wzp_relay_rejections_total{reason=\"malformed_signal\"} 1000"),
        "{text}"
    );
    let dropped: u64 = [
        "wrong_version",
        "unknown_frame_tag",
        "reserved_bits",
        "truncated",
        "length_mismatch",
        "rate_limited",
    ]
    .iter()
    .map(|k| r.metrics().drops_for(k))
    .sum();
    assert!(dropped > 5_000, "only {dropped} drops counted");
    r.shutdown().await;
}

#[tokio::test]
async fn a_flooding_client_is_cut_off_and_others_carry_on() {
    let r = relay(RelayArgs {
        max_packets_per_sec: Some(200),
        rate_grace_secs: Some(1),
        ..args()
    })
    .await;
    let m = room_of(&r, 3, RoomId::from_name("flood")).await;
    let flooder = m[0].0.conn.clone();
    let flood = tokio::spawn(async move {
        for seq in 0..200_000u32 {
            if flooder.send_media(video(seq, 1000)).is_err() {
                break;
            }
            if seq % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let why = tokio::time::timeout(Duration::from_secs(10), m[0].0.conn.closed())
        .await
        .unwrap();
    assert!(
        matches!(why, TransportError::ClosedByPeer { code, .. } if code == CloseCode::RateLimited as u64),
        "{why}"
    );
    flood.abort();
    m[1].0.conn.send_media(audio(1, b"still here")).unwrap();
    // Flood packets forwarded before the cut-off may still be queued ahead of it.
    let got = recv_media(&m[2].0, 5000, Duration::from_secs(2)).await;
    assert!(
        got.iter()
            .any(|(pid, d)| *pid == m[1].2 && d.ends_with(b"still here"))
    );
    r.shutdown().await;
}

#[tokio::test]
async fn metrics_and_health_over_http() {
    let r = relay(args()).await;
    let _m = room_of(&r, 2, RoomId::from_name("m")).await;
    let addr: SocketAddr = r.metrics_addr().unwrap();
    let get = |path: &'static str| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    let health = get("/healthz").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let metrics = get("/metrics").await;
    for name in [
        "wzp_relay_sessions 2",
        "wzp_relay_rooms 1",
        "wzp_relay_participants 2",
        "wzp_relay_handshake_seconds_bucket",
        "wzp_relay_udp_receive_drops_total 0",
    ] {
        assert!(metrics.contains(name), "missing {name} in {metrics}");
    }
    r.shutdown().await;
}

#[tokio::test]
async fn shutdown_tells_clients() {
    let r = relay(args()).await;
    let m = room_of(&r, 1, RoomId::from_name("bye")).await;
    r.shutdown().await;
    let why = tokio::time::timeout(WAIT, m[0].0.conn.closed())
        .await
        .unwrap();
    assert!(
        matches!(&why, TransportError::ClosedByPeer { code, reason } if *code == CloseCode::ShuttingDown as u64 && reason.contains("shutting down")),
        "{why}"
    );
}

#[tokio::test]
async fn batched_forwarding_delivers_everything_in_order() {
    let r = relay(RelayArgs {
        batch_ms: Some(3),
        ..args()
    })
    .await;
    let m = room_of(&r, 3, RoomId::from_name("batch")).await;
    for seq in 0..200 {
        m[0].0.conn.send_media(audio(seq, b"b")).unwrap();
        m[1].0.conn.send_media(audio(seq, b"c")).unwrap();
        if seq % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let got = recv_media(&m[2].0, 400, WAIT).await;
    assert_eq!(got.len(), 400);
    for sender in [m[0].2, m[1].2] {
        let seqs: Vec<u32> = got
            .iter()
            .filter(|(p, _)| *p == sender)
            .map(|(_, d)| u32::from_be_bytes([d[6], d[7], d[8], d[9]]))
            .collect();
        assert_eq!(
            seqs,
            (0..200).collect::<Vec<u32>>(),
            "per-sender order kept"
        );
    }
    r.shutdown().await;
}

/// With a batching window, a small datagram waits for the window, and a
/// receiver holding a full packet's worth gets it at once.
#[tokio::test]
async fn batching_holds_small_datagrams_for_the_window_and_sends_full_packets_at_once() {
    let window = Duration::from_millis(20);
    let r = relay(RelayArgs {
        batch_ms: Some(20),
        ..args()
    })
    .await;
    let m = room_of(&r, 3, RoomId::from_name("batch-window")).await;
    let t0 = tokio::time::Instant::now();
    m[0].0.conn.send_media(audio(1, b"small")).unwrap();
    m[1].0.conn.send_media(video(1, 1100)).unwrap();
    let (big, small) = tokio::join!(
        async {
            let got = recv_media(&m[0].0, 1, WAIT).await;
            (got, t0.elapsed())
        },
        async {
            let got = recv_media(&m[1].0, 1, WAIT).await;
            (got, t0.elapsed())
        },
    );
    assert_eq!(big.0.len(), 1, "the full datagram arrived");
    assert_eq!(small.0.len(), 1, "the small datagram arrived");
    assert!(
        small.1 >= window,
        "the small datagram was held for the window: {:?}",
        small.1
    );
    assert!(
        big.1 < window,
        "the full datagram was not held: {:?}",
        big.1
    );
    r.shutdown().await;
}

#[tokio::test]
async fn a_client_that_changes_address_keeps_its_call() {
    let r = relay(args()).await;
    let room = RoomId::from_name("migrate");
    let ep = wzp_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut mover = RelayClient::connect(
        &ep,
        r.local_addr(),
        "localhost",
        &Trust::Pinned(r.fingerprint()),
        &TransportParams::default(),
    )
    .await
    .unwrap();
    let id = Identity::generate(&mut OsRng);
    mover.join(&id, room, None, WAIT).await.unwrap();
    let others = room_of(&r, 1, room).await;
    let before = ep.local_addr().unwrap();
    // Move to a new UDP socket (a new local port), as after a network change.
    ep.rebind(std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .unwrap();
    assert_ne!(ep.local_addr().unwrap().port(), before.port());
    for seq in 0..20 {
        mover.conn.send_media(audio(seq, b"after move")).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = recv_media(&others[0].0, 20, WAIT).await;
    assert_eq!(got.len(), 20, "media after the address change");
    // And the other direction reaches the moved client.
    others[0]
        .0
        .conn
        .send_media(audio(1, b"to the mover"))
        .unwrap();
    let back = recv_media(&mover, 1, WAIT).await;
    assert_eq!(back.len(), 1);
    r.shutdown().await;
}

/// Rings `b` from `a` and answers: the call's room.
async fn answered(
    alice: &mut RelayClient,
    a: &Identity,
    bob: &mut RelayClient,
    b: &Identity,
    call: CallId,
) -> RoomId {
    alice.send(&offer(call, a, b)).await.unwrap();
    expect(bob, |m| matches!(m, SignalMessage::CallOffer { .. })).await;
    bob.send(&SignalMessage::CallAnswer {
        call_id: call,
        accepted: true,
    })
    .await
    .unwrap();
    let setup = expect(alice, |m| matches!(m, SignalMessage::CallSetup { .. })).await;
    expect(bob, |m| matches!(m, SignalMessage::CallSetup { .. })).await;
    let SignalMessage::CallSetup { room, .. } = setup else {
        unreachable!()
    };
    alice.join(a, room, None, WAIT).await.unwrap();
    bob.join(b, room, None, WAIT).await.unwrap();
    room
}

#[tokio::test]
async fn a_party_whose_connection_drops_can_rejoin_its_answered_call() {
    let r = relay(args()).await;
    let (mut alice, a) = presence(&r).await;
    let (mut bob, b) = presence(&r).await;
    let call = CallId([9; 16]);
    let room = answered(&mut alice, &a, &mut bob, &b, call).await;

    // Bob's connection dies. Alice sees him leave the room but the call goes on.
    bob.conn.close(0, "network gone");
    expect(
        &mut alice,
        |m| matches!(m, SignalMessage::RoomUpdate { participants, .. } if participants.len() == 1),
    )
    .await;
    let early = alice.next_signal(Duration::from_millis(300)).await;
    assert!(
        !matches!(early, Ok(Some(SignalMessage::Hangup { .. }))),
        "the call ended at once: {early:?}"
    );

    // Bob comes back over a new connection, straight into the call room.
    let mut bob2 = client(&r).await;
    bob2.join(&b, room, None, WAIT).await.unwrap();
    expect(
        &mut alice,
        |m| matches!(m, SignalMessage::RoomUpdate { participants, .. } if participants.len() == 2),
    )
    .await;
    alice.conn.send_media(audio(1, b"still there?")).unwrap();
    assert_eq!(recv_media(&bob2, 1, WAIT).await.len(), 1);

    // The call is bound to the new connection: Bob's hang-up reaches Alice.
    bob2.send(&SignalMessage::Hangup {
        call_id: Some(call),
        reason: HangupReason::Normal,
    })
    .await
    .unwrap();
    expect_hangup(&mut alice, |r| matches!(r, HangupReason::Normal)).await;

    // The call is over: joining its room again is answered with the hang-up.
    let mut late = client(&r).await;
    let hello = late.hello(&b, room, None, None).unwrap();
    late.send(&hello).await.unwrap();
    expect_hangup(&mut late, |r| matches!(r, HangupReason::Normal)).await;
    r.shutdown().await;
}

#[tokio::test]
async fn an_answered_call_ends_when_the_away_party_does_not_return() {
    let r = relay(RelayArgs {
        call_grace_secs: Some(1),
        ..args()
    })
    .await;
    let (mut alice, a) = presence(&r).await;
    let (mut bob, b) = presence(&r).await;
    let call = CallId([10; 16]);
    answered(&mut alice, &a, &mut bob, &b, call).await;
    let dropped_at = Instant::now();
    bob.conn.close(0, "gone for good");
    expect_hangup(&mut alice, |r| matches!(r, HangupReason::Error { .. })).await;
    assert!(
        dropped_at.elapsed() >= Duration::from_millis(900),
        "ended before the grace period: {:?}",
        dropped_at.elapsed()
    );
    r.shutdown().await;
}

#[tokio::test]
async fn a_rejoin_replaces_the_old_connection_the_relay_still_holds() {
    let r = relay(args()).await;
    let (mut alice, a) = presence(&r).await;
    let (mut bob, b) = presence(&r).await;
    let call = CallId([11; 16]);
    let room = answered(&mut alice, &a, &mut bob, &b, call).await;
    // Bob's old connection is still open as far as the relay knows (a network change
    // it has not noticed yet); his new one joins the full two-party room.
    let mut bob2 = client(&r).await;
    bob2.join(&b, room, None, WAIT).await.unwrap();
    let closed = tokio::time::timeout(WAIT, bob.conn.closed()).await.unwrap();
    assert!(
        matches!(&closed, TransportError::ClosedByPeer { code: 8, reason } if reason.contains("newer connection")),
        "the old connection is closed as superseded, saying why: {closed}"
    );
    // The call follows the new connection.
    alice
        .send(&SignalMessage::Hangup {
            call_id: Some(call),
            reason: HangupReason::Normal,
        })
        .await
        .unwrap();
    expect(&mut bob2, |m| matches!(m, SignalMessage::Hangup { .. })).await;
    r.shutdown().await;
}
