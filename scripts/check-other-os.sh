#!/usr/bin/env bash
# Compile-checks the desktop app's Windows and macOS code on this Linux machine, where
# the whole app cannot be cross-built (libopus and OpenH264 need a C cross compiler).
# The platform files are checked in a scratch crate, with clippy -D warnings, for
# x86_64-pc-windows-msvc and aarch64-apple-darwin (their rust-std is added with rustup if
# missing). Checked: src-tauri/src/globalkey.rs (push-to-talk in the background).
# Not in CI (it needs those targets' rust-std); run it after changing that code.
# Usage: scripts/check-other-os.sh   (env: CHECK_DIR, default target/other-os-check)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${CHECK_DIR:-$ROOT/target/other-os-check}
TARGETS=(x86_64-pc-windows-msvc aarch64-apple-darwin)
for t in "${TARGETS[@]}"; do
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done
mkdir -p "$DIR/src"
cat >"$DIR/Cargo.toml" <<'TOML'
[package]
name = "other-os-check"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
tracing = "0.1"

[target.'cfg(target_os = "linux")'.dependencies]
x11-dl = "2"

[workspace]
TOML
# The app's Cargo.lock, so the versions are the app's.
cp "$ROOT/Cargo.lock" "$DIR/Cargo.lock"
cat >"$DIR/src/lib.rs" <<RS
//! Stand-ins for what the checked files take from the app (its error type).
#![deny(warnings)]
pub mod error {
    #[derive(Debug)]
    pub enum AppError {
        GlobalKeys(String),
        Internal(String),
    }
    pub type Result<T> = std::result::Result<T, AppError>;
}
#[path = "$ROOT/src-tauri/src/globalkey.rs"]
pub mod globalkey;
RS
status=0
for t in "${TARGETS[@]}"; do
  echo "== clippy --target $t"
  touch "$DIR/src/lib.rs"
  if ! (cd "$DIR" && cargo clippy --quiet --target "$t" -- -D warnings); then status=1; fi
done
[ "$status" = 0 ] && echo "== other-OS code compiles cleanly for: ${TARGETS[*]}"
exit "$status"
