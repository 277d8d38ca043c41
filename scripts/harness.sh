# Sourced by scripts/test.sh: starts the services tests need on a machine with no
# display, sound server or session bus (as CI has), in a private runtime folder,
# and stops them on exit. Each service is optional: a test that needs one checks
# the environment variable set here and skips with a clear message if it is absent.
#
# Services: PulseAudio with a null sink (WZP_TEST_PULSE=1, PULSE_SERVER set).

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

harness_stop() {
  for pid in "${HARNESS_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${HARNESS_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  [ -n "$HARNESS_DIR" ] && rm -rf "$HARNESS_DIR"
}
