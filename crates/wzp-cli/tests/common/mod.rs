//! What the CLI test files share: the `wzp` binary, and a `wzp relay` child.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The `wzp` binary built for these tests.
pub fn wzp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wzp"))
}

/// Starts `wzp relay` on a free loopback port with its key in `dir`, and returns
/// the child, its address and its fingerprint as the relay prints them (the
/// first two lines of its output are part of the CLI's contract). The rest of
/// its output is drained on a thread so the child never blocks on a full pipe.
pub fn start_relay(dir: &std::path::Path) -> (Child, String, String) {
    let mut relay = wzp()
        .args([
            "relay",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
        ])
        .arg("--identity-file")
        .arg(dir.join("relay.key"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn wzp relay");
    let mut lines = BufReader::new(relay.stdout.take().expect("piped stdout")).lines();
    let listen = lines.next().expect("listen line").expect("utf-8");
    let fp_line = lines.next().expect("fingerprint line").expect("utf-8");
    let addr = listen
        .strip_prefix("wzp relay listening on ")
        .and_then(|r| r.split_whitespace().next())
        .expect("address in the listen line")
        .to_string();
    let fp = fp_line
        .strip_prefix("relay fingerprint: ")
        .expect("fingerprint line format")
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    (relay, addr, fp)
}
