//! `wzp identity ...` run as the real binary, each test in its own directory.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A fresh, empty directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("wzp-cli-identity-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `wzp` with `stdin`, no WZP_IDENTITY from the caller, and HOME /
/// XDG_CONFIG_HOME pointing into `home` so nothing touches the real config.
fn wzp_in(home: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wzp"))
        .args(args)
        .env_remove("WZP_IDENTITY")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wzp");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn words(v: &Value) -> String {
    v["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

fn vectors() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wzp-crypto/testdata/vectors.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn new_then_show_gives_the_same_identity() {
    let d = TempDir::new("new-show");
    let id = d.path("id");
    let id = id.to_str().unwrap();
    let created = ok_json(&wzp_in(
        &d.0,
        &["identity", "--identity", id, "new", "--json"],
        "",
    ));
    let shown = ok_json(&wzp_in(
        &d.0,
        &["identity", "show", "--identity", id, "--json"],
        "",
    ));
    assert_eq!(created["fingerprint"], shown["fingerprint"]);
    assert_eq!(created["public_key"], shown["public_key"]);
    assert_eq!(words(&created), words(&shown));
    assert_eq!(words(&shown).split(' ').count(), 24);
    let fp = shown["fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 39, "8 groups of 4 hex digits: {fp}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(id).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A second `new` refuses to overwrite, and leaves the identity alone.
    let again = wzp_in(&d.0, &["identity", "--identity", id, "new"], "");
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    let still = ok_json(&wzp_in(
        &d.0,
        &["identity", "--identity", id, "show", "--json"],
        "",
    ));
    assert_eq!(still["fingerprint"], created["fingerprint"]);

    // With --force it is replaced.
    let replaced = ok_json(&wzp_in(
        &d.0,
        &["identity", "--identity", id, "new", "--force", "--json"],
        "",
    ));
    assert_ne!(replaced["fingerprint"], created["fingerprint"]);
}

#[test]
fn text_output_warns_and_lists_numbered_words() {
    let d = TempDir::new("text");
    let out = wzp_in(&d.0, &["identity", "new"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("WRITE THESE 24 WORDS DOWN"), "{s}");
    assert!(s.contains(" 24. "), "{s}");
    // Default location: $XDG_CONFIG_HOME/wzp/identity.
    assert!(d.path("xdg/wzp/identity").exists());
    assert!(s.contains("fingerprint"), "{s}");
}

#[test]
fn restore_from_words_gives_the_same_fingerprint() {
    let d = TempDir::new("restore");
    let a = d.path("a");
    let a = a.to_str().unwrap();
    let created = ok_json(&wzp_in(
        &d.0,
        &["identity", "--identity", a, "new", "--json"],
        "",
    ));
    let phrase = words(&created);

    // Words across several lines, in upper case.
    let mut split = String::new();
    for (i, w) in phrase.split(' ').enumerate() {
        split.push_str(&w.to_uppercase());
        split.push(if i % 5 == 4 { '\n' } else { ' ' });
    }
    let b = d.path("sub/b");
    let b = b.to_str().unwrap();
    let restored = ok_json(&wzp_in(
        &d.0,
        &["identity", "--identity", b, "restore", "--json"],
        &split,
    ));
    assert_eq!(restored["fingerprint"], created["fingerprint"]);
    let shown = ok_json(&wzp_in(
        &d.0,
        &["identity", "--identity", b, "show", "--json"],
        "",
    ));
    assert_eq!(shown["fingerprint"], created["fingerprint"]);

    // The numbered text grid of `show` can be pasted back as it is.
    let grid = wzp_in(&d.0, &["identity", "--identity", a, "show"], "");
    let grid = text(&grid.stdout);
    let numbered: String = grid
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .collect::<Vec<_>>()
        .join("\n");
    let c = d.path("c");
    let c = c.to_str().unwrap();
    let from_grid = ok_json(&wzp_in(
        &d.0,
        &["identity", "--identity", c, "restore", "--json"],
        &numbered,
    ));
    assert_eq!(from_grid["fingerprint"], created["fingerprint"]);

    // Restoring over an existing identity needs --force.
    let over = wzp_in(&d.0, &["identity", "--identity", b, "restore"], &phrase);
    assert!(!over.status.success());
    assert!(
        text(&over.stderr).contains("--force"),
        "{}",
        text(&over.stderr)
    );
}

#[test]
fn the_same_seed_gives_the_known_answer_fingerprint() {
    let d = TempDir::new("kat");
    let v = vectors();
    for kat in v["identities"].as_array().unwrap() {
        let seed = kat["seed"].as_str().unwrap();
        let shown = ok_json(&wzp_in(
            &d.0,
            &["identity", "show", "--seed-hex", seed, "--json"],
            "",
        ));
        assert_eq!(shown["fingerprint"], kat["fingerprint"], "seed {seed}");
        assert_eq!(shown["public_key"], kat["ed25519_pub"], "seed {seed}");
        assert_eq!(
            words(&shown),
            kat["mnemonic"].as_str().unwrap(),
            "seed {seed}"
        );
        assert!(shown["path"].is_null());

        // And its words, restored, give it too.
        let p = d.path(&format!("kat-{}", &seed[..8]));
        let restored = ok_json(&wzp_in(
            &d.0,
            &[
                "identity",
                "--identity",
                p.to_str().unwrap(),
                "restore",
                "--json",
                "--force",
            ],
            kat["mnemonic"].as_str().unwrap(),
        ));
        assert_eq!(restored["fingerprint"], kat["fingerprint"]);
    }
    // `show --seed-hex` stores nothing.
    assert!(!d.path("xdg/wzp/identity").exists());
}

#[test]
fn bad_words_fail_with_a_named_error() {
    let d = TempDir::new("bad-words");
    let kat = &vectors()["identities"][0];
    let good: Vec<String> = kat["mnemonic"]
        .as_str()
        .unwrap()
        .split(' ')
        .map(str::to_string)
        .collect();
    let id = d.path("id");
    let id = id.to_str().unwrap();
    let restore = |input: &str| wzp_in(&d.0, &["identity", "--identity", id, "restore"], input);

    let mut unknown = good.clone();
    unknown[4] = "notaword".into();
    let out = restore(&unknown.join(" "));
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(
        e.contains("word 5") && e.contains("notaword") && e.contains("not a BIP39"),
        "{e}"
    );

    let out = restore(&good[..23].join(" "));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("expected 24 recovery words, got 23"),
        "{}",
        text(&out.stderr)
    );

    // All valid words, wrong last word: checksum.
    let mut bad_sum = good.clone();
    bad_sum[23] = "abandon".into();
    let out = restore(&bad_sum.join(" "));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("checksum"),
        "{}",
        text(&out.stderr)
    );

    // Nothing was stored by any of them.
    assert!(!Path::new(id).exists());

    let out = wzp_in(&d.0, &["identity", "show", "--seed-hex", "abc"], "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("64 hex digits"),
        "{}",
        text(&out.stderr)
    );

    let out = wzp_in(&d.0, &["identity", "--identity", id, "show"], "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no identity at"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn safety_number_is_the_same_from_both_sides() {
    let d = TempDir::new("safety");
    let (a, b) = (d.path("a"), d.path("b"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let ida = ok_json(&wzp_in(
        &d.0,
        &["identity", "--identity", a, "new", "--json"],
        "",
    ));
    let idb = ok_json(&wzp_in(
        &d.0,
        &["identity", "--identity", b, "new", "--json"],
        "",
    ));
    let ab = wzp_in(
        &d.0,
        &[
            "identity",
            "--identity",
            a,
            "safety-number",
            idb["public_key"].as_str().unwrap(),
        ],
        "",
    );
    let ba = wzp_in(
        &d.0,
        &[
            "identity",
            "--identity",
            b,
            "safety-number",
            ida["public_key"].as_str().unwrap(),
        ],
        "",
    );
    assert!(ab.status.success(), "{}", text(&ab.stderr));
    assert!(ba.status.success(), "{}", text(&ba.stderr));
    let number = |o: &Output| {
        text(&o.stdout)
            .lines()
            .find_map(|l| {
                l.strip_prefix("safety number")
                    .map(|s| s.trim().to_string())
            })
            .unwrap()
    };
    let n = number(&ab);
    assert_eq!(n, number(&ba));
    let groups: Vec<&str> = n.split(' ').collect();
    assert_eq!(groups.len(), 12, "{n}");
    assert!(
        groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
    );

    // Against the known-answer vector, via WZP_IDENTITY and the seed of side a.
    let v = vectors();
    let sn = &v["safety_numbers"][0];
    let ida_kat = v["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ed25519_pub"] == sn["a"])
        .expect("vector a has a seed");
    let p = d.path("kat");
    std::fs::write(&p, format!("{}\n", ida_kat["seed"].as_str().unwrap())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wzp"))
        .args([
            "identity",
            "safety-number",
            "--json",
            sn["b"].as_str().unwrap(),
        ])
        .env("WZP_IDENTITY", &p)
        .output()
        .unwrap();
    let j = ok_json(&out);
    assert_eq!(j["safety_number"], sn["number"]);

    let bad = wzp_in(
        &d.0,
        &["identity", "--identity", a, "safety-number", "00"],
        "",
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("public key"),
        "{}",
        text(&bad.stderr)
    );
}
