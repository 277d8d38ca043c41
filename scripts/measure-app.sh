#!/usr/bin/env bash
# Measures the desktop app's release-build goals (issue 8): .deb size, cold start to
# interactive, idle memory, memory in a 1:1 720p call. Figures: docs/BENCHMARKS.md,
# "Desktop app (release build)".
#
# Usage (from the repository root, after scripts/setup.sh; as root for true cold starts):
#   scripts/measure-app.sh
# Env: CARGO_TARGET_DIR (default ./target), MEASURE_SKIP_BUILD=1 (use what is built),
# RUNS (start-up runs of each kind, default 5), IDLE_SECS (10), CALL_SECS (20),
# WZP_CLI (the call peer's binary; default the release build), APP_VIDEO / PEER_VIDEO
# (default pattern:1280x720@30),
# MEASURE_OUT (logs, screenshot, results.txt; default target-dir/measure-out).
#
# Build: the web UI (Vite), then `tauri build --bundles deb` (release profile; the .deb
# recompressed with xz by scripts/package-deb.sh) and the
# wzp CLI (release) for the call peer.
# Start-up: the app is started directly (no WebDriver) under Xvfb with a private session
# bus, an unlocked gnome-keyring already holding an identity, and PulseAudio with a null
# sink. "Cold start to interactive" = from just before exec to the app's log line "first
# app_status answered" (the UI's first command, sent once its page has loaded, answered;
# the UI draws the home screen from that answer). Cold runs drop the page cache first
# (`echo 3 > /proc/sys/vm/drop_caches`, needs root); warm runs follow each other.
# Memory: VmRSS (/proc/PID/status) and PSS (/proc/PID/smaps_rollup: shared pages split
# between the processes mapping them) of the app process and of every process under it
# (WebKitWebProcess, WebKitNetworkProcess, ...). Idle: IDLE_SECS after the home screen.
# In call: the app is driven by tauri-driver (scripts/measure-app.mjs): it hosts the
# relay, a `wzp call` peer sends a 1280x720@30 test pattern and a tone, the app joins
# and sends its own 1280x720@30 pattern (WZP_APP_VIDEO_IN) and a tone; sampled
# CALL_SECS after the peer's video tile shows.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${MEASURE_OUT:-$TARGET/measure-out}
RUNS=${RUNS:-5}
IDLE_SECS=${IDLE_SECS:-10}
CALL_SECS=${CALL_SECS:-20}
APP_VIDEO=${APP_VIDEO:-pattern:1280x720@30}
rm -rf "$OUT"; mkdir -p "$OUT"
RESULTS="$OUT/results.txt"
say() { echo "$*" | tee -a "$RESULTS"; }

if [ -z "${MEASURE_SKIP_BUILD:-}" ]; then
  echo "== measure: building the UI, the release app + .deb, the wzp CLI (slow: release)"
  # The release .deb as shipped: Tauri's bundle, recompressed with xz (scripts/package-deb.sh).
  scripts/package-deb.sh
  cargo build --locked --release -p wzp-cli
fi
APP="$TARGET/release/wzp-desktop"
WZP=${WZP_CLI:-$TARGET/release/wzp}
DEB=$(find "$TARGET/release/bundle/deb" -maxdepth 1 -name '*.deb' -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -n1 | cut -d' ' -f2-)
if [ ! -x "$APP" ] || [ ! -x "$WZP" ] || [ -z "$DEB" ]; then
  echo "release app, wzp CLI or .deb missing under $TARGET/release" >&2; exit 1
fi

TOOLS="$TARGET/tools"
if [ ! -x "$TOOLS/bin/tauri-driver" ]; then
  echo "== measure: installing tauri-driver 2 into $TOOLS"
  cargo install --locked --root "$TOOLS" tauri-driver --version '^2'
fi

say "# desktop app measurement $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -m | awk '/Mem:/{print $2}') MB RAM"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
say "commit: $(git rev-parse --short HEAD); peer: $WZP"

# --- .deb ---------------------------------------------------------------------------
say "deb: $(basename "$DEB") $(stat -c %s "$DEB") bytes ($(( $(stat -c %s "$DEB") / 1024 )) KiB); Installed-Size $(dpkg-deb -f "$DEB" Installed-Size 2>/dev/null || echo "?") KiB; binary $(stat -c %s "$APP") bytes"

# --- environment (Xvfb, session bus + keyring, PulseAudio) --------------------------
# shellcheck source=scripts/harness.sh
. scripts/harness.sh
harness_init
APP_PID=""
NODE_PID=""
stop_app() {
  if [ -n "$APP_PID" ]; then kill "$APP_PID" 2>/dev/null || true; wait "$APP_PID" 2>/dev/null || true; APP_PID=""; fi
}
trap 'stop_app; [ -z "$NODE_PID" ] || kill "$NODE_PID" 2>/dev/null || true; harness_stop' EXIT
export HOME="$HARNESS_DIR/home"; mkdir -p "$HOME"
export WZP_DATA_DIR="$HARNESS_DIR/data" WZP_KEYRING_SERVICE="org.wzp.desktop.measure"
export RUST_LOG=${RUST_LOG:-info}
harness_start_xvfb "$OUT/xvfb.log"
harness_start_keyring measure-keyring
harness_start_pulse >/dev/null
# An identity, stored the way the app (keyring 3, Secret Service) stores it, so each
# start goes straight to the home screen.
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' |
  secret-tool store --label="identity@$WZP_KEYRING_SERVICE:default" \
    service "$WZP_KEYRING_SERVICE" username identity target default application rust-keyring

# Every process under $1 (itself included).
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '{ parent[$1] = $2 } END {
    keep[root] = 1; print root
    do { added = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; print p; added = 1 } } while (added)
  }'
}
# Memory of the process tree under $2, labelled $1: one line per process, then totals (MB).
mem_report() {
  local label=$1 root=$2 pid comm rss pss app_rss=0 app_pss=0 tot_rss=0 tot_pss=0
  for pid in $(tree_pids "$root"); do
    [ -r "/proc/$pid/status" ] || continue
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')
    rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || true); rss=${rss:-0}
    pss=$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || true); pss=${pss:-0}
    echo "  $label pid $pid $comm: RSS $((rss / 1024)) MB, PSS $((pss / 1024)) MB" >>"$RESULTS"
    if [ "$pid" = "$root" ]; then app_rss=$rss; app_pss=$pss; fi
    tot_rss=$((tot_rss + rss)); tot_pss=$((tot_pss + pss))
  done
  say "$label: app process RSS $((app_rss / 1024)) MB (PSS $((app_pss / 1024)) MB); with its WebKit processes RSS sum $((tot_rss / 1024)) MB, PSS sum $((tot_pss / 1024)) MB"
}

# Starts the app; sets APP_PID; prints the milliseconds from exec to "first app_status answered".
start_app_timed() {
  local log=$1 t0 line ts
  : >"$log"
  t0=$(date +%s%N)
  "$APP" >"$log" 2>&1 &
  APP_PID=$!
  for _ in $(seq 1 600); do
    line=$(grep -m1 'first app_status answered' "$log" || true)
    [ -n "$line" ] && break
    kill -0 "$APP_PID" 2>/dev/null || { echo "the app exited (see $log)" >&2; return 1; }
    sleep 0.1
  done
  [ -n "$line" ] || { echo "no 'first app_status answered' in 60 s (see $log)" >&2; return 1; }
  ts=$(echo "$line" | sed 's/\x1b\[[0-9;]*m//g' | awk '{print $1}')
  echo $(( ($(date -d "$ts" +%s%N) - t0) / 1000000 ))
}
stats() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "median %d ms, max %d ms, all: ", m, v[NR]; for (i = 1; i <= NR; i++) printf "%s%d", (i > 1 ? " " : ""), v[i]; print " ms" }'; }

# --- cold start to interactive --------------------------------------------------------
# A first start creates the data folder and files; not counted.
start_app_timed "$OUT/app-first.log" >/dev/null; sleep 2; stop_app; sleep 1
can_drop=1
for kind in cold warm; do
  : >"$OUT/$kind.ms"
  for i in $(seq 1 "$RUNS"); do
    if [ "$kind" = cold ]; then
      if ! { sync && echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then can_drop=0; fi
    fi
    start_app_timed "$OUT/app-$kind-$i.log" >>"$OUT/$kind.ms"
    sleep 2; stop_app; sleep 1
  done
  if [ "$kind" = cold ] && [ "$can_drop" = 0 ]; then
    say "start-up (page cache NOT dropped: not root?): $(stats <"$OUT/$kind.ms")"
  else
    say "start-up $kind ($RUNS runs, exec -> first app_status answered): $(stats <"$OUT/$kind.ms")"
  fi
done

# --- idle memory ----------------------------------------------------------------------
start_app_timed "$OUT/app-idle.log" >/dev/null
sleep "$IDLE_SECS"
say "load average before idle sample: $(cut -d' ' -f1-3 /proc/loadavg)"
mem_report "idle (home screen, ${IDLE_SECS} s after it showed)" "$APP_PID"
stop_app; sleep 1

# --- memory in a 1:1 720p call -----------------------------------------------------------
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
WD_PORT=$(free_port); NATIVE_PORT=$(free_port)
export WZP_APP_AUDIO_IN=tone WZP_APP_VIDEO_IN="$APP_VIDEO"
"$TOOLS/bin/tauri-driver" --port "$WD_PORT" --native-port "$NATIVE_PORT" >"$OUT/tauri-driver.log" 2>&1 &
DRIVER_PID=$!
HARNESS_PIDS+=("$DRIVER_PID")
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$WD_PORT/status" >/dev/null 2>&1 && break; sleep 0.2; done
WD_URL="http://127.0.0.1:$WD_PORT" APP="$APP" WZP_CLI="$WZP" MEASURE_OUT="$OUT" \
  node scripts/measure-app.mjs >"$OUT/call-driver.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 1 900); do
  [ -e "$OUT/in-call" ] && break
  kill -0 "$NODE_PID" 2>/dev/null || break
  sleep 0.2
done
if [ -e "$OUT/in-call" ]; then
  sleep "$CALL_SECS"
  # The app under tauri-driver -> WebKitWebDriver (the topmost wzp-desktop there).
  CALL_APP=""
  for p in $(tree_pids "$DRIVER_PID"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = wzp-desktop ] || continue
    pp=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || true)
    [ "$(cat "/proc/$pp/comm" 2>/dev/null)" = wzp-desktop ] && continue
    CALL_APP=$p; break
  done
  say "load average in the call: $(cut -d' ' -f1-3 /proc/loadavg)"
  top -b -n1 -w 200 >"$OUT/top.txt" || true
  sed -n '7,14p' "$OUT/top.txt" >>"$RESULTS"
  mem_report "in a 1:1 call (peer ${PEER_VIDEO:-pattern:1280x720@30}, app $APP_VIDEO, ${CALL_SECS} s in)" "$CALL_APP"
  # The video is a native child window: only an X capture shows it (WebDriver's does not).
  import -window root "$OUT/in-call-x11.png" 2>/dev/null || true
  touch "$OUT/measured"
fi
wait "$NODE_PID" || { cat "$OUT/call-driver.log" >&2; say "in-call measurement FAILED (see $OUT/call-driver.log)"; }
grep -i 'stats' "$OUT/peer.log" 2>/dev/null | tail -n1 | cut -c1-1500 | sed 's/^/peer last stats: /' >>"$RESULTS" || true
echo "== measure: results in $RESULTS"
cat "$RESULTS"
