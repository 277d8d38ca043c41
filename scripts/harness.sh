# shellcheck shell=bash
# Sourced by scripts/test.sh: starts the services tests need on a machine with no
# display, sound server or session bus (as CI has), in a private runtime folder,
# and stops them on exit. Each service is optional: a test that needs one checks
# the environment variable set here and skips with a clear message if it is absent.
#
# Services: PulseAudio with a null sink (WZP_TEST_PULSE=1, PULSE_SERVER set); Xvfb
# (DISPLAY); a session bus with an unlocked gnome-keyring (DBUS_SESSION_BUS_ADDRESS);
# a notification server, dunst, on that bus and display (WZP_TEST_NOTIFY=1).

HARNESS_PIDS=()
HARNESS_DIR=""

harness_init() {
  HARNESS_DIR=$(mktemp -d /tmp/wzp-harness.XXXXXX)
  chmod 700 "$HARNESS_DIR"
  export XDG_RUNTIME_DIR="$HARNESS_DIR"
}

# User-space PulseAudio with a null sink (its monitor is the default source).
harness_start_pulse() {
  command -v pulseaudio >/dev/null 2>&1 || { echo "harness: pulseaudio not installed; audio device tests will skip"; return 0; }
  pulseaudio --daemonize=no --exit-idle-time=-1 -n \
    --load=module-native-protocol-unix \
    --load="module-null-sink sink_name=nullsink" \
    --load=module-always-sink \
    --log-target=file:"$HARNESS_DIR/pulse.log" >/dev/null 2>&1 &
  HARNESS_PIDS+=("$!")
  for _ in $(seq 1 50); do
    if pactl info >/dev/null 2>&1; then
      pactl set-default-source nullsink.monitor >/dev/null 2>&1 || true
      export PULSE_SERVER="unix:$XDG_RUNTIME_DIR/pulse/native"
      export WZP_TEST_PULSE=1
      echo "harness: PulseAudio null sink up ($PULSE_SERVER)"
      return 0
    fi
    sleep 0.1
  done
  echo "harness: PulseAudio did not start (see $HARNESS_DIR/pulse.log); audio device tests will skip"
}

# Xvfb on a free display (it writes the number to fd 5 once ready); exports DISPLAY.
# $1: where its output goes (default: the harness folder).
harness_start_xvfb() {
  local log=${1:-$HARNESS_DIR/xvfb.log}
  Xvfb -displayfd 5 -screen 0 1280x900x24 -nolisten tcp 5>"$HARNESS_DIR/display" >"$log" 2>&1 &
  HARNESS_PIDS+=("$!")
  for _ in $(seq 1 100); do [ -s "$HARNESS_DIR/display" ] && break; sleep 0.1; done
  [ -s "$HARNESS_DIR/display" ] || { echo "harness: Xvfb did not start (see $log)" >&2; return 1; }
  DISPLAY=":$(head -n1 "$HARNESS_DIR/display")"
  export DISPLAY
}

# A private session D-Bus with an unlocked gnome-keyring (the Secret Service that
# keyring 3 uses); exports DBUS_SESSION_BUS_ADDRESS. Set HOME to a private folder
# first: the keyring file goes under it. $1: keyring password (throwaway).
harness_start_keyring() {
  dbus-daemon --session --address="unix:path=$XDG_RUNTIME_DIR/bus" --nofork --nopidfile >"$HARNESS_DIR/dbus.log" 2>&1 &
  HARNESS_PIDS+=("$!")
  export DBUS_SESSION_BUS_ADDRESS="unix:path=$XDG_RUNTIME_DIR/bus"
  for _ in $(seq 1 50); do [ -S "$XDG_RUNTIME_DIR/bus" ] && break; sleep 0.1; done
  printf '%s' "${1:-harness-keyring}" | gnome-keyring-daemon --foreground --unlock --components=secrets >"$HARNESS_DIR/keyring.log" 2>&1 &
  HARNESS_PIDS+=("$!")
  # Wait for the daemon started here to own the Secret Service name before using it,
  # asking the bus without calling the name: a call before then makes the bus start a
  # second, locked daemon through D-Bus activation, which waits forever for a password
  # nobody types ("another secret service is running", then a hung secret-tool).
  for _ in $(seq 1 100); do
    dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true && break
    sleep 0.1
  done
  for _ in $(seq 1 50); do
    timeout 10 secret-tool store --label=probe service wzp-harness-probe username probe <<<"ok" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "harness: the Secret Service did not come up (see $HARNESS_DIR/keyring.log)" >&2
  return 1
}

# dunst, a freedesktop notification server, on the session bus and X display started
# above (harness_start_xvfb, harness_start_keyring); exports WZP_TEST_NOTIFY=1 once it
# answers. $1: the "dmenu" command dunst runs for its context menu (`dunstctl context`):
# it gets one line per action of the notifications shown ("#Label (summary) [id,key]")
# and prints the one to invoke, so a test can pick a given action of a real server.
# $2: where its log goes (default: the harness folder).
harness_start_dunst() {
  command -v dunst >/dev/null 2>&1 || { echo "harness: dunst not installed; notification checks will skip"; return 0; }
  local log=${2:-$HARNESS_DIR/dunst.log}
  printf '[global]\n    dmenu = %s\n' "${1:-/bin/false}" >"$HARNESS_DIR/dunstrc"
  dunst -config "$HARNESS_DIR/dunstrc" >"$log" 2>&1 &
  HARNESS_PIDS+=("$!")
  # Waits for the name without calling it: a call would make the bus start another dunst
  # through D-Bus activation (with the default configuration), which would then own it.
  for _ in $(seq 1 50); do
    if dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications 2>/dev/null | grep -q true; then
      export WZP_TEST_NOTIFY=1
      echo "harness: dunst (notification server) up"
      return 0
    fi
    sleep 0.1
  done
  echo "harness: dunst did not start (see $log); notification checks will skip"
}

harness_stop() {
  for pid in "${HARNESS_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${HARNESS_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  [ -n "$HARNESS_DIR" ] && rm -rf "$HARNESS_DIR"
}
