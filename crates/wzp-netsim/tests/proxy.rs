//! A real QUIC connection (wzp-transport endpoints, on loopback) through the proxy:
//! loss, an outage, and address changes on both sides of the "NAT".

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::timeout;
use wzp_netsim::{Impairment, Proxy, ProxyHandle};
use wzp_transport::{
    RelayIdentity, TransportParams, Trust, client_endpoint, connect, server_endpoint,
};

const WAIT: Duration = Duration::from_secs(5);

struct Call {
    proxy: ProxyHandle,
    client_ep: quinn::Endpoint,
    client: quinn::Connection,
    server: quinn::Connection,
    _server_ep: quinn::Endpoint,
}

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A relay-like server, a proxy in front of it, and a client connected through the
/// proxy (over a clean link; tests impair it afterwards).
async fn call(seed: u64) -> Call {
    let id = RelayIdentity::generate().unwrap();
    let params = TransportParams::default();
    let server_ep = server_endpoint(&id, lo(), &params).unwrap();
    let proxy = Proxy::start(
        lo(),
        server_ep.local_addr().unwrap(),
        Impairment::none(),
        Impairment::none(),
        seed,
    )
    .await
    .unwrap();
    let accept = {
        let ep = server_ep.clone();
        tokio::spawn(async move { ep.accept().await.unwrap().await.unwrap() })
    };
    let client_ep = client_endpoint(lo()).unwrap();
    let c = timeout(
        WAIT,
        connect(
            &client_ep,
            proxy.local_addr(),
            "localhost",
            &Trust::Pinned(id.fingerprint()),
            &params,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let server = timeout(WAIT, accept).await.unwrap().unwrap();
    Call {
        proxy,
        client_ep,
        client: c.connection.quinn().clone(),
        server,
        _server_ep: server_ep,
    }
}

/// Sends `n` datagrams of `size` bytes from `from`, and counts how many `to` receives
/// (until none arrives for 300 ms).
async fn datagrams(
    from: &quinn::Connection,
    to: &quinn::Connection,
    n: usize,
    size: usize,
) -> usize {
    let recv = {
        let to = to.clone();
        tokio::spawn(async move {
            let mut got = 0;
            while let Ok(Ok(d)) = timeout(Duration::from_millis(300), to.read_datagram()).await {
                assert_eq!(d.len(), size);
                got += 1;
            }
            got
        })
    };
    for i in 0..n {
        let mut v = vec![0u8; size];
        v[..4].copy_from_slice(&(i as u32).to_be_bytes());
        from.send_datagram(Bytes::from(v)).unwrap();
        if i % 10 == 9 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    recv.await.unwrap()
}

/// A message on a new stream from `client`, echoed back by `server`.
async fn echo(client: &quinn::Connection, server: &quinn::Connection, msg: &[u8]) {
    let srv = {
        let server = server.clone();
        tokio::spawn(async move {
            let (mut send, mut recv) = server.accept_bi().await.unwrap();
            let got = recv.read_to_end(1 << 20).await.unwrap();
            send.write_all(&got).await.unwrap();
            send.finish().unwrap();
            let _ = send.stopped().await;
            got
        })
    };
    let (mut send, mut recv) = client.open_bi().await.unwrap();
    send.write_all(msg).await.unwrap();
    send.finish().unwrap();
    let back = timeout(WAIT, recv.read_to_end(1 << 20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, msg);
    assert_eq!(timeout(WAIT, srv).await.unwrap().unwrap(), msg);
}

fn message() -> Vec<u8> {
    (0..20_000u32).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn quic_survives_twenty_percent_loss() {
    let c = call(1).await;
    let lossy = Impairment {
        loss: 0.2,
        delay: Duration::from_millis(5),
        ..Impairment::none()
    };
    c.proxy.set_uplink(lossy.clone()).unwrap();
    c.proxy.set_downlink(lossy).unwrap();

    let got = timeout(WAIT, datagrams(&c.client, &c.server, 300, 1_000))
        .await
        .unwrap();
    // About 240 expected; datagrams are never retransmitted.
    assert!((150..300).contains(&got), "{got} of 300 datagrams arrived");
    timeout(WAIT, echo(&c.client, &c.server, &message()))
        .await
        .unwrap();

    let s = c.proxy.stats();
    assert!(s.uplink.dropped_loss > 30, "{s:?}");
    assert!(s.downlink.dropped_loss > 0, "{s:?}");
    assert_eq!(s.flows, 1);
    assert_eq!(s.send_errors, 0, "{s:?}");
    assert!(c.client.close_reason().is_none());
    c.proxy.shutdown().await;
}

#[tokio::test]
async fn quic_survives_a_one_second_outage() {
    let c = call(2).await;
    c.proxy.set_outage(true).unwrap();
    // Traffic during the outage is lost (datagrams) or waits for retransmission (stream).
    let lost = datagrams(&c.client, &c.server, 20, 200).await;
    assert_eq!(lost, 0);
    let echoed = {
        let (client, server) = (c.client.clone(), c.server.clone());
        tokio::spawn(async move { echo(&client, &server, b"sent in the tunnel").await })
    };
    tokio::time::sleep(Duration::from_millis(700)).await; // 1 s with the datagram wait
    c.proxy.set_outage(false).unwrap();
    timeout(WAIT, echoed).await.unwrap().unwrap();
    let got = datagrams(&c.client, &c.server, 20, 200).await;
    assert_eq!(got, 20);
    assert!(c.client.close_reason().is_none());
    assert!(c.server.close_reason().is_none());
    let s = c.proxy.shutdown().await;
    assert!(s.uplink.dropped_outage > 0, "{s:?}");
    assert_eq!(s.send_errors, 0, "{s:?}");
}

#[tokio::test]
async fn quic_follows_nat_rebinding_and_client_migration() {
    let c = call(3).await;
    echo(&c.client, &c.server, b"before").await;
    let before = c.server.remote_address();
    let flows = c.proxy.flows().await.unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].upstream_local, before);

    // The NAT gives the client a new public address: the relay must migrate.
    assert_eq!(c.proxy.rebind_flows().await.unwrap(), 1);
    let rebound = c.proxy.flows().await.unwrap()[0].upstream_local;
    assert_ne!(rebound, before);
    echo(&c.client, &c.server, b"after rebinding").await;
    assert_eq!(c.server.remote_address(), rebound);
    assert_eq!(datagrams(&c.server, &c.client, 10, 100).await, 10);

    // The client itself moves (Wi-Fi to cellular): a new source address, a new flow.
    c.client_ep
        .rebind(std::net::UdpSocket::bind(lo()).unwrap())
        .unwrap();
    echo(&c.client, &c.server, b"after client migration").await;
    let flows = c.proxy.flows().await.unwrap();
    assert_eq!(flows.len(), 2);
    let new = flows
        .iter()
        .find(|f| f.client == c.client_ep.local_addr().unwrap())
        .unwrap();
    assert_eq!(c.server.remote_address(), new.upstream_local);
    assert_eq!(datagrams(&c.server, &c.client, 10, 100).await, 10);
    assert!(c.client.close_reason().is_none());
    let s = c.proxy.shutdown().await;
    assert_eq!(s.rebinds, 1);
}

#[tokio::test]
async fn bad_settings_are_refused_and_shutdown_stops_commands() {
    let c = call(4).await;
    let e = c
        .proxy
        .set_uplink(Impairment {
            loss: 1.5,
            ..Impairment::none()
        })
        .unwrap_err();
    assert!(e.to_string().contains("loss"), "{e}");
    c.proxy.shutdown().await;
}

/// Plain UDP through a delaying proxy: every packet takes at least the configured
/// delay, and the timer wakes the proxy close to on time (audio needs ~ms precision).
#[tokio::test]
async fn udp_delay_is_never_early_and_close_to_on_time() {
    let echo_server = tokio::net::UdpSocket::bind(lo()).await.unwrap();
    let delay = Duration::from_millis(30);
    let proxy = Proxy::start(
        lo(),
        echo_server.local_addr().unwrap(),
        Impairment {
            delay,
            ..Impairment::none()
        },
        Impairment::none(),
        5,
    )
    .await
    .unwrap();
    let client = tokio::net::UdpSocket::bind(lo()).await.unwrap();
    let start = std::time::Instant::now();
    let recv = tokio::spawn(async move {
        let mut buf = [0u8; 64];
        let mut lat = Vec::new();
        for _ in 0..25 {
            let (n, _) = timeout(WAIT, echo_server.recv_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
            let sent_ns = u64::from_be_bytes(buf[..n].try_into().unwrap());
            lat.push(start.elapsed() - Duration::from_nanos(sent_ns));
        }
        lat
    });
    for _ in 0..25 {
        let ns = start.elapsed().as_nanos() as u64;
        client
            .send_to(&ns.to_be_bytes(), proxy.local_addr())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut lat = timeout(WAIT, recv).await.unwrap().unwrap();
    lat.sort();
    assert!(lat[0] >= delay, "{lat:?}");
    // Loose bound: tokio timers are millisecond-grained and CI machines are busy.
    assert!(
        lat[lat.len() / 2] < delay + Duration::from_millis(8),
        "{lat:?}"
    );
    let s = proxy.shutdown().await;
    assert_eq!(s.uplink.delivered, 25);
}
