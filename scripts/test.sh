#!/usr/bin/env bash
# Every test: the desktop UI's unit tests (Vitest), formatting, lints, the whole
# workspace's tests, the desktop app's debug build and its end-to-end tests (ui/e2e/run.sh,
# which starts its own Xvfb, session bus and secret store; ui/e2e/passphrase.sh, the same
# with no session bus, so the identity goes into the passphrase file).
# Installs what it needs first (scripts/setup.sh) and starts the services the
# tests use (scripts/harness.sh), stopping them on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# Incremental caches are several GB on a fresh clone and buy nothing in a one-shot run.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
scripts/setup.sh
# shellcheck source=scripts/harness.sh
. scripts/harness.sh
harness_init
trap harness_stop EXIT
harness_start_pulse
echo "== desktop UI: npm ci, vitest, vite build"
(cd ui && npm ci --no-audit --no-fund && npm test && npm run build)
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== cargo test: wzp-video with real cameras (nokhwa; no camera here is an empty list, not an error)"
cargo test --locked -p wzp-video --features camera --lib camera
echo "== desktop app: debug build"
cargo build --locked -p wzp-desktop
echo "== desktop app: end-to-end (Xvfb, tauri-driver + WebKitWebDriver, dbus + gnome-keyring)"
ui/e2e/run.sh
echo "== desktop app: end-to-end with no secret store (the passphrase-sealed identity file)"
E2E_SKIP_BUILD=1 ui/e2e/passphrase.sh
