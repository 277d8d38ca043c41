//! Runs the real `wzp` binary the way a person would.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Output};

fn wzp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wzp"))
        .args(args)
        .output()
        .expect("run wzp")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn decodes_a_v2_header_in_hex() {
    let out = wzp(&[
        "packet",
        "decode",
        "02 40 00 00 00 14 00 00 01 00 00 00 4e 20 00 00 1a 1a 07 c8",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    for line in [
        "media type  0 (audio)",
        "codec       0 (Opus 24k)",
        "fec ratio   20 (0.20)",
        "sequence    256",
        "timestamp   20000 ms",
        "payload     0 bytes",
        "quality     loss 10.2% rtt 104 ms jitter 7 ms cap 200 kbps",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
}

#[test]
fn json_output() {
    let out = wzp(&[
        "packet",
        "decode",
        "--json",
        "02700109023201020304deadbeef1234",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["header"]["seq"], 0x0102_0304);
    assert_eq!(v["header"]["media_type"], "video");
    assert_eq!(v["codec_name"], "H.264 Baseline");
}

#[test]
fn version_1_is_named_and_fails() {
    let out = wzp(&["packet", "decode", "01000000000000000000000000000000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("wrong media header version 0x01"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn reserved_bits_are_named_and_fail() {
    let out = wzp(&["packet", "decode", "02010000000000000000000000000000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("reserved flag bits"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_hex_is_a_usage_error() {
    let out = wzp(&["packet", "decode", "0xzz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not valid hex"));
}

#[test]
fn reads_a_file_and_mini_frames() {
    let dir = std::env::temp_dir().join(format!("wzp-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mini.bin");
    std::fs::write(&path, [0x01, 0x2a, 0x01, 0x02, 0x00, 0x02, 0xaa, 0xbb]).unwrap();
    let out = wzp(&[
        "packet",
        "decode",
        "--framing",
        "compact",
        "--file",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("seq low 8   42"));
    let missing = wzp(&[
        "packet",
        "decode",
        "--file",
        dir.join("nope").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}
