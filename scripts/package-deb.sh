#!/usr/bin/env bash
# Builds the desktop app's release .deb: Tauri's bundler (release profile), then the package
# recompressed with xz -9, the way Debian's own packages are compressed. Tauri's bundler
# writes gzip members; the files, modes and control fields stay exactly the same (checked
# below), only the compression changes: 13.7 MB -> 9.8 MB on 2026-11-26 (docs/BENCHMARKS.md,
# "Desktop app (release build)"). dpkg has read xz members since 1.15.6 (Debian 7, 2013).
#
# Usage (from anywhere): scripts/package-deb.sh   -> prints the .deb's path on its last line
# Env: CARGO_TARGET_DIR (default ./target). Slow: a release build. Not for CI.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

(cd "$ROOT/ui" && { [ -d node_modules ] || npm ci --no-audit --no-fund; })
# tauri.conf.json's beforeBuildCommand builds the UI (it runs from the repository root).
(cd "$ROOT/src-tauri" && ../ui/node_modules/.bin/tauri build --ci --bundles deb) >&2

DEB=$(find "$TARGET/release/bundle/deb" -maxdepth 1 -name '*.deb' -printf '%T@ %p\n' | sort -rn | head -n1 | cut -d' ' -f2-)
[ -n "$DEB" ] || { echo "no .deb under $TARGET/release/bundle/deb" >&2; exit 1; }
if ar t "$DEB" | grep -q '^data\.tar\.xz$'; then
  echo "$DEB is already xz-compressed" >&2
  echo "$DEB"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -R "$DEB" "$tmp/root"
dpkg-deb --root-owner-group -Zxz -z9 -b "$tmp/root" "$tmp/new.deb" >/dev/null
# The same package: control fields, and every file with its mode and size (dpkg-deb also
# lists the directories, and writes paths as ./path where Tauri writes path).
listing() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { p = $6; sub(/^\.\//, "", p); print $1, $3, p }' | sort; }
diff <(dpkg-deb -f "$DEB") <(dpkg-deb -f "$tmp/new.deb") >&2
diff <(listing "$DEB") <(listing "$tmp/new.deb") >&2
before=$(stat -c %s "$DEB")
mv "$tmp/new.deb" "$DEB"
echo "recompressed with xz: $before -> $(stat -c %s "$DEB") bytes" >&2
echo "$DEB"
