//! Which connection failures are worth another attempt, over real QUIC on loopback.

#![allow(clippy::expect_used)]

use std::time::Duration;

use wzp_transport::{RelayClient, RelayIdentity, TransportParams, Trust};

/// A relay endpoint that refuses new connections (what a relay that is shutting
/// down or restarting does) gives a transient error: a call that was up keeps
/// reconnecting instead of ending. The CI failure this guards against: a room
/// call ended with "the server refused to accept a new connection" while its
/// relay restarted.
#[tokio::test]
async fn a_refusing_endpoint_is_transient_and_a_key_change_is_not() {
    let identity = RelayIdentity::generate().expect("identity");
    let server = wzp_transport::server_endpoint(
        &identity,
        "127.0.0.1:0".parse().expect("addr"),
        &TransportParams::default(),
    )
    .expect("server");
    let addr = server.local_addr().expect("addr");
    let refuser = tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            incoming.refuse();
        }
    });
    let client =
        wzp_transport::client_endpoint("127.0.0.1:0".parse().expect("addr")).expect("client");
    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        RelayClient::connect(
            &client,
            addr,
            "localhost",
            &Trust::Pinned(identity.fingerprint()),
            &TransportParams::default(),
        ),
    )
    .await
    .expect("an answer within 10 s");
    let e = refused.expect_err("refused");
    assert!(e.is_transient(), "refusal should be transient: {e}");

    let other = RelayIdentity::generate().expect("identity");
    let key_changed = wzp_transport::TransportError::RelayKeyChanged {
        expected: other.fingerprint(),
        presented: identity.fingerprint(),
    };
    assert!(!key_changed.is_transient());
    refuser.abort();
}
