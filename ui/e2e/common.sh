# shellcheck shell=bash
# Sourced by the app's end-to-end scripts (run.sh, passphrase.sh): the set-up they share.
# Builds what they drive (unless E2E_SKIP_BUILD=1), installs tauri-driver into the target
# folder on first use, and starts services through scripts/harness.sh in a private runtime
# folder with a private HOME, stopped on exit.
#
# Env: CARGO_TARGET_DIR (default ./target), E2E_OUT (default target-dir/$1),
# E2E_SKIP_BUILD=1 (use the binaries already built).

# $1: output folder name under the target folder; the rest: cargo packages to build.
# Sets ROOT, TARGET, OUT, TOOLS; leaves the shell at the repository root.
e2e_init() {
  cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
  ROOT=$(pwd)
  TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
  OUT=${E2E_OUT:-$TARGET/$1}
  shift
  rm -rf "$OUT"; mkdir -p "$OUT"
  if [ -z "${E2E_SKIP_BUILD:-}" ]; then
    echo "== e2e: building the UI and $*"
    (cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build >/dev/null)
    local pkgs=()
    for p in "$@"; do pkgs+=(-p "$p"); done
    cargo build --locked "${pkgs[@]}"
  fi
  TOOLS="$TARGET/tools"
  if [ ! -x "$TOOLS/bin/tauri-driver" ]; then
    echo "== e2e: installing tauri-driver 2 into $TOOLS"
    cargo install --locked --root "$TOOLS" tauri-driver --version '^2'
  fi
  command -v WebKitWebDriver >/dev/null || { echo "WebKitWebDriver missing (apt webkit2gtk-driver; run scripts/setup.sh)" >&2; exit 1; }
  # shellcheck source=scripts/harness.sh
  . scripts/harness.sh
  harness_init
  trap harness_stop EXIT
  # The sound server's auth cookie lives under the real HOME. cpal's own PulseAudio client
  # (unlike libpulse, it cannot log in by user id) needs it, or the app silently lists and
  # opens ALSA devices instead of PulseAudio ones; keep it reachable once HOME is private.
  if [ -z "${PULSE_COOKIE:-}" ] && [ -f "$HOME/.config/pulse/cookie" ]; then
    export PULSE_COOKIE="$HOME/.config/pulse/cookie"
  fi
  export HOME="$HARNESS_DIR/home"
  mkdir -p "$HOME"
  export RUST_LOG=${RUST_LOG:-info}
}

# tauri-driver (with WebKitWebDriver) on free ports; exports WD_URL once it answers.
e2e_start_driver() {
  local free_port='const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  local wd_port native_port
  wd_port=$(node -e "$free_port"); native_port=$(node -e "$free_port")
  "$TOOLS/bin/tauri-driver" --port "$wd_port" --native-port "$native_port" >"$OUT/tauri-driver.log" 2>&1 &
  HARNESS_PIDS+=("$!")
  for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$wd_port/status" >/dev/null 2>&1 && break; sleep 0.2; done
  export WD_URL="http://127.0.0.1:$wd_port"
}
