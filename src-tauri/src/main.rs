//! The `wzp-desktop` binary: see the library for everything.
// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    wzp_desktop::run();
}
