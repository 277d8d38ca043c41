#!/usr/bin/env bash
# Desktop app end-to-end test (see e2e.mjs for the flow). Starts and stops everything it
# needs in a private folder (ui/e2e/common.sh, scripts/harness.sh): Xvfb, a session dbus,
# an unlocked gnome-keyring (the Secret Service keyring 3 uses), dunst (the notification
# server) with dbus-monitor logging the bus, tauri-driver (installed
# into the target folder on first use) with WebKitWebDriver. Screenshots and logs:
# $E2E_OUT (default target-dir/e2e-out). The X display and the WebDriver ports are picked
# free at run time, so a stale lock or a busy port does not break it.
#
# Usage (from the repository root, after scripts/setup.sh):
#   ui/e2e/run.sh
# Env: CARGO_TARGET_DIR (default ./target), E2E_OUT, E2E_SKIP_BUILD=1 (use the binaries
# already built).
set -euo pipefail
# shellcheck source=ui/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_init e2e-out wzp-desktop wzp-cli
APP="$TARGET/debug/wzp-desktop"
WZP="$TARGET/debug/wzp"
export WZP_DATA_DIR="$HARNESS_DIR/data" WZP_KEYRING_SERVICE="org.wzp.desktop.e2e"
# No camera here: the app's "camera" is a test pattern (preview, self-view, sent video).
export WZP_APP_VIDEO_IN="pattern:320x192@15"

harness_start_xvfb "$OUT/xvfb.log"
harness_start_keyring e2e-keyring
# A notification server; its context menu picks the action named in $E2E_NOTIFY_PICK
# (ui/e2e/notify-pick.sh), and every message on the session bus is logged, so the test
# sees what the app asked the server to show and close.
export E2E_NOTIFY_PICK="$HARNESS_DIR/notify-pick" E2E_NOTIFY_MENU="$OUT/notify-menu.log"
harness_start_dunst "$ROOT/ui/e2e/notify-pick.sh" "$OUT/dunst.log"
if [ -n "${WZP_TEST_NOTIFY:-}" ]; then
  dbus-monitor --session >"$OUT/dbus-monitor.log" 2>&1 &
  HARNESS_PIDS+=("$!")
  export E2E_DBUS_LOG="$OUT/dbus-monitor.log"
fi
e2e_start_driver

echo "== e2e: running (screenshots in $OUT)"
APP="$APP" WZP_CLI="$WZP" E2E_OUT="$OUT" node ui/e2e/e2e.mjs 2>&1 | tee "$OUT/e2e.log"
