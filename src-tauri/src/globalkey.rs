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
//! Not available on Wayland without X11 (no way for a client to read global key state
//! there), nor yet on Windows and macOS (`GetAsyncKeyState`, `CGEventSourceKeyState`:
//! not written, as nothing here can build or run them); [`KeyWatch::start`] says so.

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
        let thread = platform::spawn(display, code, stop.clone(), Box::new(on_change))?;
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
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::JoinHandle;

    use x11_dl::xlib::{Display, Xlib};

    use super::{KeyEdge, POLL, is_down, x11_keycode};
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

    pub(super) fn spawn(
        display: Option<&str>,
        code: &str,
        stop: Arc<AtomicBool>,
        on_change: Box<dyn Fn(bool) + Send>,
    ) -> Result<JoinHandle<()>> {
        let keycode = x11_keycode(code).ok_or_else(|| {
            AppError::GlobalKeys(format!(
                "the key {code} cannot be watched outside the window; choose a letter, digit, F-key or punctuation key"
            ))
        })?;
        let conn = Conn::open(display)?;
        std::thread::Builder::new()
            .name("ptt-key".into())
            .spawn(move || {
                let mut edge = KeyEdge::default();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(held) = edge.update(is_down(&conn.keymap(), keycode)) {
                        on_change(held);
                    }
                    std::thread::sleep(POLL);
                }
                if edge.update(false) == Some(false) {
                    on_change(false);
                }
                drop(conn);
            })
            .map_err(|e| AppError::Internal(format!("cannot start the key watch: {e}")))
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::thread::JoinHandle;

    use crate::error::{AppError, Result};

    pub(super) fn spawn(
        _display: Option<&str>,
        _code: &str,
        _stop: Arc<AtomicBool>,
        _on_change: Box<dyn Fn(bool) + Send>,
    ) -> Result<JoinHandle<()>> {
        Err(AppError::GlobalKeys(
            "push-to-talk in the background is not available on this system yet".into(),
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
    fn a_key_outside_the_table_is_refused_in_words() {
        let e = KeyWatch::start("Fn", |_| {}).map(|_| ());
        assert!(matches!(e, Err(AppError::GlobalKeys(_))), "{e:?}");
    }
}
