#!/usr/bin/env bash
# End-to-end test of the identity on a computer with no secret store (see passphrase.mjs):
# the app under Xvfb through tauri-driver + WebKitWebDriver, with no session bus at all,
# so keyring finds no Secret Service and the app must offer the passphrase file.
#
# Usage (from the repository root, after scripts/setup.sh): ui/e2e/passphrase.sh
# Env: CARGO_TARGET_DIR (default ./target), E2E_OUT (default target-dir/e2e-passphrase),
# E2E_SKIP_BUILD=1 (use the binaries already built).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${E2E_OUT:-$TARGET/e2e-passphrase}
rm -rf "$OUT"; mkdir -p "$OUT"

if [ -z "${E2E_SKIP_BUILD:-}" ]; then
  echo "== e2e (passphrase file): building the UI and the app"
  (cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build >/dev/null)
  cargo build --locked -p wzp-desktop
fi
APP="$TARGET/debug/wzp-desktop"

TOOLS="$TARGET/tools"
if [ ! -x "$TOOLS/bin/tauri-driver" ]; then
  echo "== e2e: installing tauri-driver 2 into $TOOLS"
  cargo install --locked --root "$TOOLS" tauri-driver --version '^2'
fi
command -v WebKitWebDriver >/dev/null || { echo "WebKitWebDriver missing (apt webkit2gtk-driver; run scripts/setup.sh)" >&2; exit 1; }

T=$(mktemp -d /tmp/wzp-e2e-pass.XXXXXX)
PIDS=()
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

# No session bus: DBUS_SESSION_BUS_ADDRESS unset and a private, empty XDG_RUNTIME_DIR (libdbus
# would otherwise find $XDG_RUNTIME_DIR/bus). HOME is private too.
unset DBUS_SESSION_BUS_ADDRESS
export HOME="$T/home" XDG_RUNTIME_DIR="$T/run"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
export WZP_DATA_DIR="$T/data" WZP_KEYRING_SERVICE="org.wzp.desktop.e2e-passphrase"
export RUST_LOG=${RUST_LOG:-info}

Xvfb -displayfd 5 -screen 0 1280x900x24 -nolisten tcp 5>"$T/display" >"$OUT/xvfb.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do [ -s "$T/display" ] && break; sleep 0.1; done
[ -s "$T/display" ] || { echo "Xvfb did not start (see $OUT/xvfb.log)" >&2; exit 1; }
export DISPLAY=":$(head -n1 "$T/display")"

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
WD_PORT=$(free_port); NATIVE_PORT=$(free_port)
"$TOOLS/bin/tauri-driver" --port "$WD_PORT" --native-port "$NATIVE_PORT" >"$OUT/tauri-driver.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$WD_PORT/status" >/dev/null 2>&1 && break; sleep 0.2; done
export WD_URL="http://127.0.0.1:$WD_PORT"

echo "== e2e (passphrase file): running (screenshots in $OUT)"
APP="$APP" E2E_OUT="$OUT" node ui/e2e/passphrase.mjs 2>&1 | tee "$OUT/e2e.log"
