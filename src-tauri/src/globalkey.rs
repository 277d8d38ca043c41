//! Push-to-talk while the app's window is in the background.
//!
//! The UI sees the push-to-talk key only while its window has the keyboard focus. To
//! talk while another application is in front (a game, a document), the key's state is
//! read from the system instead: on X11 by polling the server's keymap
//! (`XQueryKeymap`) every [`POLL`]. Polling reads one key and takes nothing away from
//! the application in front: a grab (`XGrabKey`, what global-shortcut libraries use)
//! would swallow the key in every other application for the whole call, which is wrong
//! for a key people also type with.
//!
//! The key is the one the settings store: a `KeyboardEvent.code` ("KeyT", "Space",
//! "F8"), which names a physical key whatever the layout. X11 servers with the evdev
//! keymap (every current Linux desktop and Xvfb) number physical keys as the kernel's
//! evdev code plus 8, so [`x11_keycode`] maps code to keycode with a fixed table and
//! no layout lookup.
//!
//! Split as the rest of the app: [`x11_keycode`] and [`KeyEdge`] are pure and
//! unit-tested; [`KeyWatch`] is the polling thread around them, which reports each
//! change through a callback (the app turns it into [`PTT_EVENT`] for the UI, which
//! decides about the microphone as it does for the window's own key events).
//! On Windows the key is read with `GetAsyncKeyState` (the physical key's scan code
//! turned into the current layout's virtual key with `MapVirtualKeyW`, so "KeyT" is the
//! key where T is on a US keyboard, as on X11), and on macOS with
//! `CGEventSourceKeyState` (macOS key codes already name physical positions). Both poll
//! the same way as X11. Those two are compile-checked for their targets but have not run
//! on a Windows or macOS machine (docs/ARCHITECTURE.md); macOS may ask the user to allow
//! "Input Monitoring" for the app first.
//! Not available on Wayland without X11 (no way for a client to read global key state
//! there); [`KeyWatch::start`] says so.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::Result;

/// Name of the event carrying the key's state (`true`: held).
pub const PTT_EVENT: &str = "ptt-key";

/// How often the key is read: 20 ms, one audio frame, so the first word is not cut.
pub const POLL: Duration = Duration::from_millis(20);

/// The X11 keycode of a `KeyboardEvent.code`, or `None` for a key not in the table.
#[must_use]
pub fn x11_keycode(code: &str) -> Option<u8> {
    evdev_code(code).map(|c| c + 8)
}

/// The Linux evdev code (input-event-codes.h) of the physical key a
/// `KeyboardEvent.code` names.
fn evdev_code(code: &str) -> Option<u8> {
    const LETTERS: [u8; 26] = [
        30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17,
        45, 21, 44,
    ];
    if let Some(l) = code.strip_prefix("Key") {
        let mut c = l.chars();
        if let (Some(ch @ 'A'..='Z'), None) = (c.next(), c.next()) {
            return LETTERS.get(usize::from(ch as u8 - b'A')).copied();
        }
        return None;
    }
    if let Some(d) = code.strip_prefix("Digit") {
        return match d.parse::<u8>() {
            Ok(0) => Some(11),
            Ok(n @ 1..=9) => Some(n + 1),
            _ => None,
        };
    }
    if let Some(n) = code.strip_prefix('F').and_then(|n| n.parse::<u8>().ok()) {
        return match n {
            1..=10 => Some(58 + n),
            11 => Some(87),
            12 => Some(88),
            13..=24 => Some(170 + n),
            _ => None,
        };
    }
    if let Some(d) = code
        .strip_prefix("Numpad")
        .and_then(|n| n.parse::<u8>().ok())
    {
        const KP: [u8; 10] = [82, 79, 80, 81, 75, 76, 77, 71, 72, 73];
        return KP.get(usize::from(d)).copied();
    }
    Some(match code {
        "Minus" => 12,
        "Equal" => 13,
        "BracketLeft" => 26,
        "BracketRight" => 27,
        "Semicolon" => 39,
        "Quote" => 40,
        "Backquote" => 41,
        "Backslash" => 43,
        "Comma" => 51,
        "Period" => 52,
        "Slash" => 53,
        "NumpadMultiply" => 55,
        "Space" => 57,
        "CapsLock" => 58,
        "NumLock" => 69,
        "ScrollLock" => 70,
        "NumpadSubtract" => 74,
        "NumpadAdd" => 78,
        "NumpadDecimal" => 83,
        "IntlBackslash" => 86,
        "NumpadDivide" => 98,
        "PrintScreen" => 99,
        "Home" => 102,
        "ArrowUp" => 103,
        "PageUp" => 104,
        "ArrowLeft" => 105,
        "ArrowRight" => 106,
        "End" => 107,
        "ArrowDown" => 108,
        "PageDown" => 109,
        "Insert" => 110,
        "Delete" => 111,
        "Pause" => 119,
        "ContextMenu" => 127,
        _ => return None,
    })
}

/// How Windows names a physical key for [`KeyWatch`]: a set-1 scan code (turned into
/// the current layout's virtual key at run time), or a virtual key that is the same in
/// every layout (function, navigation and keypad keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WinKey {
    /// A scan code (`MapVirtualKeyW(.., MAPVK_VSC_TO_VK_EX)` gives the virtual key).
    Scan(u8),
    /// A virtual-key code.
    Virtual(u8),
}

/// The Windows key of a `KeyboardEvent.code`. The main block's set-1 scan codes are the
/// evdev codes (both come from the PC/XT keyboard), so the X11 table serves for those.
#[must_use]
pub fn windows_key(code: &str) -> Option<WinKey> {
    if let Some(n) = code.strip_prefix('F').and_then(|n| n.parse::<u8>().ok()) {
        return (1..=24).contains(&n).then(|| WinKey::Virtual(0x6F + n));
    }
    if let Some(d) = code
        .strip_prefix("Numpad")
        .and_then(|n| n.parse::<u8>().ok())
    {
        return (d <= 9).then(|| WinKey::Virtual(0x60 + d));
    }
    let vk = match code {
        "Space" => 0x20,
        "CapsLock" => 0x14,
        "NumLock" => 0x90,
        "ScrollLock" => 0x91,
        "NumpadMultiply" => 0x6A,
        "NumpadAdd" => 0x6B,
        "NumpadSubtract" => 0x6D,
        "NumpadDecimal" => 0x6E,
        "NumpadDivide" => 0x6F,
        "PrintScreen" => 0x2C,
        "Pause" => 0x13,
        "Insert" => 0x2D,
        "Delete" => 0x2E,
        "Home" => 0x24,
        "End" => 0x23,
        "PageUp" => 0x21,
        "PageDown" => 0x22,
        "ArrowLeft" => 0x25,
        "ArrowUp" => 0x26,
        "ArrowRight" => 0x27,
        "ArrowDown" => 0x28,
        "ContextMenu" => 0x5D,
        _ => return evdev_code(code).filter(|&c| c <= 86).map(WinKey::Scan),
    };
    Some(WinKey::Virtual(vk))
}

/// The macOS virtual key code (`kVK_*` in Carbon's Events.h: physical positions on an
/// ANSI keyboard, whatever the layout) of a `KeyboardEvent.code`.
#[must_use]
pub fn mac_keycode(code: &str) -> Option<u16> {
    // kVK_ANSI_A .. kVK_ANSI_Z.
    const LETTERS: [u16; 26] = [
        0x00, 0x0B, 0x08, 0x02, 0x0E, 0x03, 0x05, 0x04, 0x22, 0x26, 0x28, 0x25, 0x2E, 0x2D, 0x1F,
        0x23, 0x0C, 0x0F, 0x01, 0x11, 0x20, 0x09, 0x0D, 0x07, 0x10, 0x06,
    ];
    // kVK_ANSI_0 .. kVK_ANSI_9, and the keypad's.
    const DIGITS: [u16; 10] = [0x1D, 0x12, 0x13, 0x14, 0x15, 0x17, 0x16, 0x1A, 0x1C, 0x19];
    const KEYPAD: [u16; 10] = [0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5B, 0x5C];
    // kVK_F1 .. kVK_F20.
    const FKEYS: [u16; 20] = [
        0x7A, 0x78, 0x63, 0x76, 0x60, 0x61, 0x62, 0x64, 0x65, 0x6D, 0x67, 0x6F, 0x69, 0x6B, 0x71,
        0x6A, 0x40, 0x4F, 0x50, 0x5A,
    ];
    if let Some(l) = code.strip_prefix("Key") {
        let mut c = l.chars();
        return match (c.next(), c.next()) {
            (Some(ch @ 'A'..='Z'), None) => LETTERS.get(usize::from(ch as u8 - b'A')).copied(),
            _ => None,
        };
    }
    let index = |prefix: &str| {
        code.strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
    };
    if let Some(d) = index("Digit") {
        return DIGITS.get(d).copied();
    }
    if let Some(d) = index("Numpad") {
        return KEYPAD.get(d).copied();
    }
    if let Some(n) = index("F") {
        return n.checked_sub(1).and_then(|i| FKEYS.get(i)).copied();
    }
    Some(match code {
        "Minus" => 0x1B,
        "Equal" => 0x18,
        "BracketLeft" => 0x21,
        "BracketRight" => 0x1E,
        "Semicolon" => 0x29,
        "Quote" => 0x27,
        "Backquote" => 0x32,
        "Backslash" => 0x2A,
        "Comma" => 0x2B,
        "Period" => 0x2F,
        "Slash" => 0x2C,
        "IntlBackslash" => 0x0A,
        "Space" => 0x31,
        "CapsLock" => 0x39,
        "NumpadMultiply" => 0x43,
        "NumpadAdd" => 0x45,
        "NumpadSubtract" => 0x4E,
        "NumpadDecimal" => 0x41,
        "NumpadDivide" => 0x4B,
        "Insert" => 0x72,
        "Delete" => 0x75,
        "Home" => 0x73,
        "End" => 0x77,
        "PageUp" => 0x74,
        "PageDown" => 0x79,
        "ArrowLeft" => 0x7B,
        "ArrowRight" => 0x7C,
        "ArrowDown" => 0x7D,
        "ArrowUp" => 0x7E,
        _ => return None,
    })
}

/// Reads whether the watched key is down now; one per platform (`platform::key_reader`).
type KeyReader = Box<dyn FnMut() -> bool + Send>;

/// Polls `down` every [`POLL`] on a new thread until `stop`, reporting each change; a
/// key still held when the watch stops is reported released, so the microphone is
/// never left open.
fn poll_thread(
    stop: Arc<AtomicBool>,
    on_change: Box<dyn Fn(bool) + Send>,
    mut down: KeyReader,
) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ptt-key".into())
        .spawn(move || {
            let mut edge = KeyEdge::default();
            while !stop.load(Ordering::Relaxed) {
                if let Some(held) = edge.update(down()) {
                    on_change(held);
                }
                std::thread::sleep(POLL);
            }
            if edge.update(false) == Some(false) {
                on_change(false);
            }
        })
        .map_err(|e| crate::error::AppError::Internal(format!("cannot start the key watch: {e}")))
}

/// The error for a key the system-wide watch cannot read.
fn unwatchable(code: &str) -> crate::error::AppError {
    crate::error::AppError::GlobalKeys(format!(
        "the key {code} cannot be watched outside the window; choose a letter, digit, F-key or punctuation key"
    ))
}

/// Whether `keycode`'s bit is set in an X11 keymap (32 bytes, one bit per keycode).
#[must_use]
pub fn is_down(keymap: &[u8; 32], keycode: u8) -> bool {
    keymap[usize::from(keycode / 8)] & (1 << (keycode % 8)) != 0
}

/// Turns polled states into changes: `Some(held)` when the key went down or up.
#[derive(Debug, Default)]
pub struct KeyEdge {
    held: bool,
}

impl KeyEdge {
    /// The key's state now; a change comes back once.
    pub fn update(&mut self, down: bool) -> Option<bool> {
        (down != self.held).then(|| {
            self.held = down;
            down
        })
    }
}

/// A thread reading one key's state until dropped.
pub struct KeyWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for KeyWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWatch").finish_non_exhaustive()
    }
}

impl KeyWatch {
    /// Starts watching `code` (a `KeyboardEvent.code`); `on_change(held)` runs on the
    /// watch's thread at each press and release. Fails with
    /// [`crate::error::AppError::GlobalKeys`]
    /// where the key cannot be read system-wide (no X11 display, a key outside the
    /// table, another platform).
    pub fn start(code: &str, on_change: impl Fn(bool) + Send + 'static) -> Result<Self> {
        Self::start_on(None, code, on_change)
    }

    /// [`KeyWatch::start`] on the named X11 display (`None`: `$DISPLAY`); elsewhere the
    /// display is ignored.
    pub fn start_on(
        display: Option<&str>,
        code: &str,
        on_change: impl Fn(bool) + Send + 'static,
    ) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let reader = platform::key_reader(display, code)?;
        let thread = poll_thread(stop.clone(), Box::new(on_change), reader)?;
        tracing::info!(key = code, "push-to-talk key watched system-wide");
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for KeyWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // Ends within one poll interval.
            let _ = t.join();
        }
    }
}

// The FFI calls into Xlib (loaded at run time by x11-dl) are this module's only unsafe
// code; each says why it is sound.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod platform {
    use std::ffi::CString;
    use std::os::raw::c_char;

    use x11_dl::xlib::{Display, Xlib};

    use super::{KeyReader, is_down, unwatchable, x11_keycode};
    use crate::error::{AppError, Result};

    /// An X11 connection of the watch's own (Xlib connections are not shared between
    /// threads without XInitThreads, which is the process's choice, not ours).
    struct Conn {
        xlib: Xlib,
        dpy: *mut Display,
    }

    // SAFETY: the connection is created on the starting thread and then used and
    // closed by the watch thread alone; it is never used from two threads at once.
    unsafe impl Send for Conn {}

    impl Conn {
        fn open(display: Option<&str>) -> Result<Self> {
            if display.is_none() && std::env::var_os("DISPLAY").is_none() {
                return Err(AppError::GlobalKeys(
                    "this desktop session has no X11 display (on Wayland, the key works only while the app's window has the focus)".into(),
                ));
            }
            let name = display
                .map(CString::new)
                .transpose()
                .map_err(|_| AppError::GlobalKeys("a display name has no NUL bytes".into()))?;
            let xlib =
                Xlib::open().map_err(|e| AppError::GlobalKeys(format!("cannot load Xlib: {e}")))?;
            // SAFETY: a NUL-terminated name, or NULL (then Xlib reads $DISPLAY); `name`
            // outlives the call; the result is checked.
            let dpy = unsafe {
                (xlib.XOpenDisplay)(name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()))
            };
            if dpy.is_null() {
                return Err(AppError::GlobalKeys(
                    "cannot connect to the X11 display".into(),
                ));
            }
            Ok(Self { xlib, dpy })
        }

        fn keymap(&self) -> [u8; 32] {
            let mut keys = [0 as c_char; 32];
            // SAFETY: `dpy` is open; XQueryKeymap writes exactly 32 bytes.
            unsafe { (self.xlib.XQueryKeymap)(self.dpy, keys.as_mut_ptr()) };
            keys.map(|b| b as u8)
        }
    }

    impl Drop for Conn {
        fn drop(&mut self) {
            // SAFETY: opened in `open`, closed once here.
            unsafe { (self.xlib.XCloseDisplay)(self.dpy) };
        }
    }

    pub(super) fn key_reader(display: Option<&str>, code: &str) -> Result<KeyReader> {
        let keycode = x11_keycode(code).ok_or_else(|| unwatchable(code))?;
        let conn = Conn::open(display)?;
        Ok(Box::new(move || is_down(&conn.keymap(), keycode)))
    }
}

// Windows: two user32 calls, declared here rather than through a bindings crate (they
// are all this module needs). Compile-checked for x86_64-pc-windows-msvc, not yet run.
#[cfg(windows)]
#[allow(unsafe_code)]
mod platform {
    use super::{KeyReader, WinKey, unwatchable, windows_key};
    use crate::error::Result;

    /// `MapVirtualKeyW`'s scan code to virtual key, telling left and right apart.
    const MAPVK_VSC_TO_VK_EX: u32 = 3;

    #[link(name = "user32")]
    unsafe extern "system" {
        fn GetAsyncKeyState(vkey: i32) -> i16;
        fn MapVirtualKeyW(code: u32, map_type: u32) -> u32;
    }

    pub(super) fn key_reader(_display: Option<&str>, code: &str) -> Result<KeyReader> {
        let key = windows_key(code).ok_or_else(|| unwatchable(code))?;
        Ok(Box::new(move || {
            let vk = match key {
                WinKey::Virtual(vk) => u32::from(vk),
                // Looked up at each poll: the user may switch layouts during a call.
                // SAFETY: a plain lookup with two integers; no pointers.
                WinKey::Scan(sc) => unsafe { MapVirtualKeyW(u32::from(sc), MAPVK_VSC_TO_VK_EX) },
            };
            // SAFETY: reads the key's state; any value is accepted (0 is "no such key").
            // The high bit is set while the key is down, whichever window has the focus.
            vk != 0 && unsafe { GetAsyncKeyState(vk as i32) } < 0
        }))
    }
}

// macOS: one CoreGraphics call. Compile-checked for aarch64-apple-darwin, not yet run.
#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
mod platform {
    use super::{KeyReader, mac_keycode, unwatchable};
    use crate::error::Result;

    /// `kCGEventSourceStateCombinedSessionState`: the keyboard as the login session sees it.
    const COMBINED_SESSION_STATE: i32 = 0;

    #[link(name = "CoreGraphics", kind = "framework")]
    unsafe extern "C" {
        fn CGEventSourceKeyState(state: i32, key: u16) -> bool;
    }

    pub(super) fn key_reader(_display: Option<&str>, code: &str) -> Result<KeyReader> {
        let key = mac_keycode(code).ok_or_else(|| unwatchable(code))?;
        // SAFETY: reads one key's state from two integers; no pointers.
        Ok(Box::new(move || unsafe {
            CGEventSourceKeyState(COMBINED_SESSION_STATE, key)
        }))
    }
}

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
mod platform {
    use super::KeyReader;
    use crate::error::{AppError, Result};

    pub(super) fn key_reader(_display: Option<&str>, _code: &str) -> Result<KeyReader> {
        Err(AppError::GlobalKeys(
            "push-to-talk in the background is not available on this system".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    #[test]
    fn codes_map_to_the_evdev_keycodes_x11_uses() {
        // Values from a US keyboard under Xorg/Xvfb (`xev`): T 28, A 38, Space 65, F8 74,
        // ` 49, 1 10, 0 19, F12 96, keypad 0 90, Pause 127.
        for (code, kc) in [
            ("KeyT", 28),
            ("KeyA", 38),
            ("KeyQ", 24),
            ("KeyZ", 52),
            ("KeyM", 58),
            ("Space", 65),
            ("F1", 67),
            ("F8", 74),
            ("F10", 76),
            ("F11", 95),
            ("F12", 96),
            ("F13", 191),
            ("Backquote", 49),
            ("Digit1", 10),
            ("Digit0", 19),
            ("Numpad0", 90),
            ("Numpad7", 79),
            ("Pause", 127),
            ("CapsLock", 66),
        ] {
            assert_eq!(x11_keycode(code), Some(kc), "{code}");
        }
        for bad in [
            "", "Key", "KeyAB", "Keya", "F0", "F25", "Digit10", "Numpad10", "Unknown",
        ] {
            assert_eq!(x11_keycode(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_keymap_bit_and_the_edges() {
        let mut map = [0u8; 32];
        map[3] = 1 << 4; // keycode 28
        assert!(is_down(&map, 28));
        assert!(!is_down(&map, 29));
        assert!(!is_down(&map, 255));
        let mut e = KeyEdge::default();
        assert_eq!(e.update(false), None);
        assert_eq!(e.update(true), Some(true));
        assert_eq!(e.update(true), None);
        assert_eq!(e.update(false), Some(false));
    }

    #[test]
    fn windows_keys_are_scan_codes_for_the_main_block_and_virtual_keys_elsewhere() {
        // Set-1 scan codes: T 0x14, A 0x1E, 1 0x02, ` 0x29, / 0x35, the ISO key 0x56.
        for (code, key) in [
            ("KeyT", WinKey::Scan(0x14)),
            ("KeyA", WinKey::Scan(0x1E)),
            ("Digit1", WinKey::Scan(0x02)),
            ("Backquote", WinKey::Scan(0x29)),
            ("Slash", WinKey::Scan(0x35)),
            ("IntlBackslash", WinKey::Scan(0x56)),
            ("Space", WinKey::Virtual(0x20)),
            ("F1", WinKey::Virtual(0x70)),
            ("F8", WinKey::Virtual(0x77)),
            ("F24", WinKey::Virtual(0x87)),
            ("Numpad0", WinKey::Virtual(0x60)),
            ("Numpad9", WinKey::Virtual(0x69)),
            ("ArrowUp", WinKey::Virtual(0x26)),
            ("Pause", WinKey::Virtual(0x13)),
        ] {
            assert_eq!(windows_key(code), Some(key), "{code}");
        }
        for bad in ["", "KeyAB", "F0", "F25", "Numpad10", "Fn", "Unknown"] {
            assert_eq!(windows_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn mac_keycodes_are_the_ansi_positions() {
        // kVK_ANSI_A 0x00, kVK_ANSI_T 0x11, kVK_ANSI_Z 0x06, kVK_ANSI_1 0x12, kVK_ANSI_0
        // 0x1D, kVK_Space 0x31, kVK_F1 0x7A, kVK_F8 0x64, kVK_F12 0x6F, kVK_F20 0x5A,
        // keypad 0 0x52, keypad 9 0x5C, kVK_UpArrow 0x7E.
        for (code, kc) in [
            ("KeyA", 0x00),
            ("KeyT", 0x11),
            ("KeyZ", 0x06),
            ("Digit1", 0x12),
            ("Digit0", 0x1D),
            ("Space", 0x31),
            ("F1", 0x7A),
            ("F8", 0x64),
            ("F12", 0x6F),
            ("F20", 0x5A),
            ("Numpad0", 0x52),
            ("Numpad9", 0x5C),
            ("ArrowUp", 0x7E),
            ("Backquote", 0x32),
        ] {
            assert_eq!(mac_keycode(code), Some(kc), "{code}");
        }
        for bad in [
            "", "KeyAB", "Keya", "F0", "F21", "Digit10", "Numpad10", "Pause",
        ] {
            assert_eq!(mac_keycode(bad), None, "{bad}");
        }
        // Every letter has its own code.
        let mut letters: Vec<u16> = ('A'..='Z')
            .filter_map(|c| mac_keycode(&format!("Key{c}")))
            .collect();
        letters.sort_unstable();
        letters.dedup();
        assert_eq!(letters.len(), 26);
    }

    #[test]
    fn a_key_outside_the_table_is_refused_in_words() {
        let e = KeyWatch::start("Fn", |_| {}).map(|_| ());
        assert!(matches!(e, Err(AppError::GlobalKeys(_))), "{e:?}");
    }
}
