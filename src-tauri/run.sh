#!/usr/bin/env bash
# Builds and launches WZP Desktop: installs what is missing (scripts/setup.sh), builds
# the web UI (ui/, Vite) and the Tauri app (debug profile; pass --release first for an
# optimised build), then starts it. Other arguments go to the app.
# The embedded relay is one click away in the app ("Host on this computer").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
profile=debug
if [ "${1:-}" = "--release" ]; then profile=release; shift; fi
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  (cd ui && npm ci --no-audit --no-fund >&2)
fi
(cd ui && npm run build >&2)
if [ "$profile" = release ]; then
  cargo build --release -p wzp-desktop >&2
else
  cargo build -p wzp-desktop >&2
fi
exec "${CARGO_TARGET_DIR:-target}/$profile/wzp-desktop" "$@"
