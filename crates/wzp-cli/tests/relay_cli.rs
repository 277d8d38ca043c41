//! `wzp relay`, `wzp load` and `wzp relay-token` as a person runs them.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

mod common;
use common::{start_relay, wzp};

/// `wzp load --udp-floor` sends the load shape as bare UDP to a second process
/// and reports the sender's CPU per packet.
#[test]
fn udp_floor_sends_the_load_shape_as_bare_udp() {
    let out = wzp()
        .args(["load", "--udp-floor", "--rooms", "2", "--participants", "3"])
        .args(["--warmup", "0", "--duration", "2"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 2 rooms x 3 senders x 50 packets/s, each to the 2 others.
    assert!(
        said.contains("bare UDP, rooms 2 x 3: 600 packets/s, 0 send errors, sender CPU "),
        "{said}"
    );
    assert!(said.trim_end().ends_with(" us per packet"), "{said}");
    // Without a relay to test or the floor mode, the relay is required.
    let out = wzp()
        .args(["load", "--participants", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn relay_starts_prints_fingerprint_carries_media_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("wzp-relay-cli-{}", std::process::id()));
    let (mut relay, addr, fp) = start_relay(&dir);
    assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
    // Two synthetic participants exchange audio through it.
    let out = wzp()
        .args([
            "load",
            "--relay",
            &addr,
            "--relay-fingerprint",
            &fp,
            "--participants",
            "2",
        ])
        .args(["--warmup", "1", "--duration", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sent = v["sent_packets"].as_u64().unwrap();
    assert!(sent >= 150, "sent {sent}");
    assert!(v["delivery_pct"].as_f64().unwrap() >= 99.0, "{v}");
    // The tester reads its own sockets' kernel drops; the relay's needs its pid.
    assert!(v["tester_udp_drops"].is_u64(), "{v}");
    assert!(v["relay_udp_drops"].is_null(), "{v}");
    // A wrong pin is refused by name.
    let bad = "00:".repeat(31) + "00";
    let out = wzp()
        .args([
            "load",
            "--relay",
            &addr,
            "--relay-fingerprint",
            &bad,
            "--participants",
            "2",
            "--duration",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("relay key changed"));
    // `wzp ping`: the key and the round trip; a wrong pin is refused by name; with no
    // fingerprint the relay is pinned on first contact in the pin file.
    let ping = |extra: &[&str]| {
        wzp()
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .args(["ping", "--relay", &addr])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = ping(&["--relay-fingerprint", &fp]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&fp) && said.contains(" ms (median of 3)"),
        "{said}"
    );
    let out = ping(&["--relay-fingerprint", &bad]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("relay key changed"));
    let first = ping(&[]);
    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stdout).contains("first contact"));
    let pins = std::fs::read_to_string(dir.join("config/wzp/relays.json")).unwrap();
    assert!(pins.contains(&fp), "{pins}");
    let again = ping(&[]);
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stdout).contains("first contact"));
    // SIGTERM: a graceful exit.
    let status = Command::new("kill")
        .args(["-TERM", &relay.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(relay.wait().unwrap().success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn relay_refuses_a_bad_setting_by_name() {
    let out = wzp()
        .args(["relay", "--listen", "nowhere"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid setting `listen`"), "{err}");
}

#[test]
fn relay_token_mints_a_token_the_relay_accepts() {
    let dir = std::env::temp_dir().join(format!("wzp-token-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, "a-secret-of-at-least-16-bytes\n").unwrap();
    let out = wzp()
        .args(["relay-token", "--secret-file"])
        .arg(&secret)
        .args(["--name", "alice", "--days", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let policy = wzp_relay::tokens::TokenPolicy {
        static_tokens: Default::default(),
        hmac_secret: Some(b"a-secret-of-at-least-16-bytes".to_vec()),
    };
    assert_eq!(policy.check(Some(&token), 0), Ok(Some("alice".into())));
    let bad = wzp()
        .args(["relay-token", "--secret-file"])
        .arg(&secret)
        .args(["--name", "a.b"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
