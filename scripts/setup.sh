#!/usr/bin/env bash
# Installs what building and testing WZP Desktop needs on a Debian machine.
# Idempotent: installs only what is missing, and runs apt-get update at most once.
# Usage: scripts/setup.sh   (as root, or with sudo available)
set -euo pipefail

# Debian packages the workspace needs today. Later parts of the project (audio,
# video, the Tauri app) add theirs here.
APT_PACKAGES=(
  build-essential   # cc for crates with C parts
  pkg-config
  ca-certificates
  git
  cmake                # wzp-audio: opusic-sys builds the bundled libopus 1.6 with cmake
  libasound2-dev       # wzp-audio: cpal's ALSA host (linked even when PulseAudio is used)
  pulseaudio           # wzp-audio device tests: user-space null sink started by scripts/harness.sh
  pulseaudio-utils     # pactl, used by scripts/harness.sh to wait for PulseAudio
  libasound2-plugins   # ALSA "default" -> PulseAudio, for cpal's ALSA host under the harness
  nasm                 # wzp-video: openh264-sys2 assembles its SIMD kernels with nasm (plain C without it: much slower)
  mesa-vulkan-drivers  # wzp-render: lavapipe, the software Vulkan adapter its GPU tests and benches run on without a GPU
  libvulkan1           # wzp-render: the Vulkan loader wgpu opens lavapipe through
  libwebkit2gtk-4.1-dev  # desktop app (src-tauri): Tauri 2's webview on Linux
  libgtk-3-dev           # desktop app: GTK 3 window, and the native child the video tiles draw into
  libayatana-appindicator3-dev  # desktop app: tray icon
  librsvg2-dev           # desktop app: Tauri icons
  libsoup-3.0-dev        # desktop app: WebKitGTK's HTTP stack
  libjavascriptcoregtk-4.1-dev  # desktop app: WebKitGTK's JS engine
  libxdo-dev             # desktop app: Tauri's menu accelerators on X11
  libssl-dev             # desktop app: Tauri's build dependencies
  file                   # desktop app: the Tauri CLI inspects binaries with it
  libdbus-1-dev          # desktop app: keyring 3's Secret Service backend (dbus)
  dbus                   # desktop app tests: a private session bus for the secret store
  gnome-keyring          # desktop app tests: a Secret Service on that bus
  libsecret-tools        # desktop app tests: secret-tool, to check the seed landed in the store
  xvfb                   # desktop app end-to-end test: a virtual X display
  xauth                  # desktop app end-to-end test: xvfb-run needs it
  imagemagick            # desktop app end-to-end test: screenshots and pixel checks
  webkit2gtk-driver      # desktop app end-to-end test: WebKitWebDriver, driven through tauri-driver
)

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The desktop app's web UI is built by Vite and tested by Vitest (node >= 18, npm).
# A machine that already has node (e.g. from NodeSource, whose nodejs bundles npm)
# keeps it; otherwise Debian's nodejs and npm are installed.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing node and npm (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq
  sudo_if_needed apt-get install -y -qq --no-install-recommends nodejs npm
fi

if ! command -v cargo >/dev/null 2>&1; then
  # The Rust toolchain comes from rustup; source its env if it is installed but not on PATH.
  if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  else
    echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) and rerun" >&2
    exit 1
  fi
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done
