//! `wzp call`, `wzp listen` and `wzp demo` as a person runs them.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{start_relay, wzp};

#[test]
fn demo_prints_live_stats_and_exits_0() {
    let out = wzp().args(["demo", "--duration", "3"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().filter(|l| l.contains("stats t=")).count() >= 2,
        "{stdout}"
    );
    assert!(stdout.contains("demo ok"), "{stdout}");
}

#[test]
fn bad_media_options_are_refused_by_name() {
    for (flag, value, expect) in [
        ("--audio-in", "tone:5", "20..=20000"),
        ("--video-in", "pattern:64", "WxH"),
        ("--audio-in", "/nonexistent.wav", "/nonexistent.wav"),
    ] {
        let out = wzp()
            .args([
                "call",
                "--relay",
                "127.0.0.1:9",
                "--ephemeral",
                "--room",
                "x",
            ])
            .args([flag, value])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag) && err.contains(expect), "{err}");
    }
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "process did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dominant(path: &std::path::Path) -> (f32, f32) {
    let samples = wzp_audio::io::read_wav_i16(path).unwrap();
    let secs = samples.len() as f32 / 48_000.0;
    let tail = wzp_audio::io::to_f32(&samples[samples.len().saturating_sub(48_000)..]);
    (secs, wzp_audio::analysis::dominant_frequency(&tail, 48_000))
}

#[test]
fn direct_call_between_call_and_listen_records_complete_wavs_however_it_ends() {
    let dir = std::env::temp_dir().join(format!("wzp-call-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut relay, addr, fp) = start_relay(&dir);
    let (a_wav, b_wav) = (dir.join("caller.wav"), dir.join("callee.wav"));
    let mut listen = wzp()
        .args([
            "listen",
            "--relay",
            &addr,
            "--relay-fingerprint",
            &fp,
            "--ephemeral",
        ])
        .args(["--audio-in", "tone:660", "--audio-out"])
        .arg(&b_wav)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(listen.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let callee = first.strip_prefix("listening as ").unwrap().to_string();
    let callee_log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let mut call = wzp()
        .args([
            "call",
            "--relay",
            &addr,
            "--relay-fingerprint",
            &fp,
            "--ephemeral",
        ])
        .args([
            "--to",
            &callee,
            "--audio-in",
            "tone:440",
            "--json",
            "--audio-out",
        ])
        .arg(&a_wav)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = call.stdout.take().unwrap();
    let caller_log = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_secs(4));
    // The caller is stopped by SIGTERM: it hangs up, and both files are complete.
    sigterm(&call);
    assert!(wait_exit(&mut call, Duration::from_secs(10)).success());
    assert!(wait_exit(&mut listen, Duration::from_secs(10)).success());
    let caller_log = caller_log.join().unwrap();
    let callee_log = callee_log.join().unwrap();
    assert!(
        caller_log.iter().any(|l| l.contains(r#""state":"active""#)),
        "{caller_log:?}"
    );
    let stats: Vec<serde_json::Value> = caller_log
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["event"] == "stats")
        .collect();
    assert!(!stats.is_empty(), "JSON stats lines: {caller_log:?}");
    assert!(
        callee_log
            .iter()
            .any(|l| l.starts_with("incoming call from"))
    );
    let (secs_a, f_a) = dominant(&a_wav);
    let (secs_b, f_b) = dominant(&b_wav);
    assert!(
        secs_a > 2.0 && secs_b > 2.0,
        "recorded {secs_a} s / {secs_b} s"
    );
    assert!((f_a - 660.0).abs() < 15.0, "caller heard {f_a} Hz");
    assert!((f_b - 440.0).abs() < 15.0, "callee heard {f_b} Hz");
    sigterm(&relay);
    let _ = wait_exit(&mut relay, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&dir);
}
