#!/usr/bin/env bash
# The main job: builds and runs the `wzp` command (the desktop app takes this
# over once it exists). Arguments go to `wzp`; with none, it prints its help.
# Example: scripts/run.sh packet decode 02000000000000010000001400000000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
cargo build --quiet --release -p wzp-cli
if [ $# -eq 0 ]; then set -- --help; fi
exec target/release/wzp "$@"
