//! What the device tests share.

/// Whether the test harness's PulseAudio null sink runs (scripts/harness.sh sets
/// `WZP_TEST_PULSE`); says so and returns false when it does not, so the test skips.
pub fn pulse() -> bool {
    if std::env::var_os("WZP_TEST_PULSE").is_none() {
        println!(
            "SKIPPED: WZP_TEST_PULSE is not set (no PulseAudio null sink); run through scripts/test.sh"
        );
        return false;
    }
    true
}
