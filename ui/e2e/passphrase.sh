#!/usr/bin/env bash
# End-to-end test of the identity on a computer with no secret store (see passphrase.mjs):
# the app under Xvfb through tauri-driver + WebKitWebDriver, with no session bus at all,
# so keyring finds no Secret Service and the app must offer the passphrase file.
#
# Usage (from the repository root, after scripts/setup.sh): ui/e2e/passphrase.sh
# Env: CARGO_TARGET_DIR (default ./target), E2E_OUT (default target-dir/e2e-passphrase),
# E2E_SKIP_BUILD=1 (use the binaries already built).
set -euo pipefail
# shellcheck source=ui/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_init e2e-passphrase wzp-desktop
APP="$TARGET/debug/wzp-desktop"
# No session bus: DBUS_SESSION_BUS_ADDRESS unset, and the harness's private, empty
# XDG_RUNTIME_DIR (libdbus would otherwise find $XDG_RUNTIME_DIR/bus).
unset DBUS_SESSION_BUS_ADDRESS
export WZP_DATA_DIR="$HARNESS_DIR/data" WZP_KEYRING_SERVICE="org.wzp.desktop.e2e-passphrase"

harness_start_xvfb "$OUT/xvfb.log"
e2e_start_driver

echo "== e2e (passphrase file): running (screenshots in $OUT)"
APP="$APP" E2E_OUT="$OUT" node ui/e2e/passphrase.mjs 2>&1 | tee "$OUT/e2e.log"
