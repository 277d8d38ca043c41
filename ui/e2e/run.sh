#!/usr/bin/env bash
# Desktop app end-to-end test (see e2e.mjs for the flow). Starts and stops everything it
# needs in a private folder: Xvfb, a session dbus, an unlocked gnome-keyring (the
# Secret Service keyring 3 uses), tauri-driver (installed into the target folder on
# first use) with WebKitWebDriver. Screenshots and logs: $E2E_OUT (default
# target-dir/e2e-out).
#
# Usage (from the repository root, after scripts/setup.sh):
#   ui/e2e/run.sh
# Env: CARGO_TARGET_DIR (default ./target), E2E_OUT, E2E_SKIP_BUILD=1 (use the binaries
# already built). The X display and the WebDriver
# ports are picked free at run time, so a stale lock or a busy port does not break it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${E2E_OUT:-$TARGET/e2e-out}
rm -rf "$OUT"; mkdir -p "$OUT"

if [ -z "${E2E_SKIP_BUILD:-}" ]; then
  echo "== e2e: building the UI, the app and the wzp CLI"
  (cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build >/dev/null)
  cargo build --locked -p wzp-desktop -p wzp-cli
fi
APP="$TARGET/debug/wzp-desktop"
WZP="$TARGET/debug/wzp"

TOOLS="$TARGET/tools"
if [ ! -x "$TOOLS/bin/tauri-driver" ]; then
  echo "== e2e: installing tauri-driver 2 into $TOOLS"
  cargo install --locked --root "$TOOLS" tauri-driver --version '^2'
fi
command -v WebKitWebDriver >/dev/null || { echo "WebKitWebDriver missing (apt webkit2gtk-driver; run scripts/setup.sh)" >&2; exit 1; }

T=$(mktemp -d /tmp/wzp-e2e.XXXXXX)
PIDS=()
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

export HOME="$T/home" XDG_RUNTIME_DIR="$T/run"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
export WZP_DATA_DIR="$T/data" WZP_KEYRING_SERVICE="org.wzp.desktop.e2e"
# No sound server here: the app falls back to silence and says so; the peer sends a tone.
export RUST_LOG=${RUST_LOG:-info}

# Xvfb picks a free display number and writes it to fd 5 once it is ready.
Xvfb -displayfd 5 -screen 0 1280x900x24 -nolisten tcp 5>"$T/display" >"$OUT/xvfb.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do [ -s "$T/display" ] && break; sleep 0.1; done
[ -s "$T/display" ] || { echo "Xvfb did not start (see $OUT/xvfb.log)" >&2; exit 1; }
export DISPLAY=":$(head -n1 "$T/display")"

dbus-daemon --session --address="unix:path=$XDG_RUNTIME_DIR/bus" --nofork --nopidfile >"$OUT/dbus.log" 2>&1 &
PIDS+=("$!")
export DBUS_SESSION_BUS_ADDRESS="unix:path=$XDG_RUNTIME_DIR/bus"
for _ in $(seq 1 50); do [ -S "$XDG_RUNTIME_DIR/bus" ] && break; sleep 0.1; done

# An unlocked login keyring (its password is this throwaway one; HOME is private).
printf 'e2e-keyring' | gnome-keyring-daemon --foreground --unlock --components=secrets >"$OUT/keyring.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 50); do
  secret-tool store --label=probe service wzp-e2e-probe username probe <<<"ok" 2>/dev/null && break
  sleep 0.2
done

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
WD_PORT=$(free_port); NATIVE_PORT=$(free_port)
"$TOOLS/bin/tauri-driver" --port "$WD_PORT" --native-port "$NATIVE_PORT" >"$OUT/tauri-driver.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$WD_PORT/status" >/dev/null 2>&1 && break; sleep 0.2; done
export WD_URL="http://127.0.0.1:$WD_PORT"

echo "== e2e: running (screenshots in $OUT)"
APP="$APP" WZP_CLI="$WZP" E2E_OUT="$OUT" node ui/e2e/e2e.mjs 2>&1 | tee "$OUT/e2e.log"
