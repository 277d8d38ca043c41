//! The push-to-talk key read system-wide, against a real X server: the test starts its
//! own Xvfb, presses and releases keys there through XTest (as a keyboard would, so the
//! server's keymap changes), and checks what the watch reports.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wzp_desktop::globalkey::{KeyWatch, x11_keycode};
use x11_dl::xlib::{Display, Xlib};
use x11_dl::xtest::Xf86vmode as XTest;

/// An Xvfb on a free display number, killed on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Self {
        // -displayfd: the server picks a free display and writes its number to fd 1.
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "320x240x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (scripts/setup.sh installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let display = format!(":{}", line.trim());
        assert!(display.len() > 1, "Xvfb gave no display number");
        Self { child, display }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A keyboard on the test's X server.
struct Keyboard {
    xlib: Xlib,
    xtest: XTest,
    dpy: *mut Display,
}

impl Keyboard {
    fn open(display: &str) -> Self {
        let xlib = Xlib::open().unwrap();
        let xtest = XTest::open().expect("libXtst");
        let name = std::ffi::CString::new(display).unwrap();
        // SAFETY: a NUL-terminated display name; checked below.
        let dpy = unsafe { (xlib.XOpenDisplay)(name.as_ptr()) };
        assert!(!dpy.is_null(), "cannot open {display}");
        Self { xlib, xtest, dpy }
    }

    fn key(&self, keycode: u8, down: bool) {
        // SAFETY: `dpy` is open; XTest takes any keycode the server knows.
        unsafe {
            (self.xtest.XTestFakeKeyEvent)(self.dpy, u32::from(keycode), i32::from(down), 0);
            (self.xlib.XSync)(self.dpy, 0);
        }
    }
}

impl Drop for Keyboard {
    fn drop(&mut self) {
        // SAFETY: opened in `open`, closed once.
        unsafe { (self.xlib.XCloseDisplay)(self.dpy) };
    }
}

fn next(rx: &mpsc::Receiver<bool>) -> Option<bool> {
    rx.recv_timeout(Duration::from_secs(2)).ok()
}

#[test]
fn the_watch_reports_the_key_pressed_and_released_on_the_x_server_and_no_other() {
    let x = Xvfb::start();
    let kb = Keyboard::open(&x.display);
    let (tx, rx) = mpsc::channel();
    let watch = KeyWatch::start_on(Some(&x.display), "KeyT", move |held| {
        let _ = tx.send(held);
    })
    .expect("watch");
    let t = x11_keycode("KeyT").unwrap();
    let y = x11_keycode("KeyY").unwrap();
    // Another key: nothing.
    kb.key(y, true);
    kb.key(y, false);
    assert_eq!(rx.recv_timeout(Duration::from_millis(300)).ok(), None);
    // The key: held, then released, each reported once.
    kb.key(t, true);
    assert_eq!(next(&rx), Some(true));
    std::thread::sleep(Duration::from_millis(100));
    kb.key(t, false);
    assert_eq!(next(&rx), Some(false));
    assert_eq!(rx.recv_timeout(Duration::from_millis(200)).ok(), None);
    // Held when the watch stops: the release is reported, so nothing stays open.
    kb.key(t, true);
    assert_eq!(next(&rx), Some(true));
    drop(watch);
    assert_eq!(next(&rx), Some(false));
    kb.key(t, false);
}

#[test]
fn a_display_that_is_not_there_is_said_in_words() {
    let e = KeyWatch::start_on(Some(":4097"), "KeyT", |_| {}).map(|_| ());
    let msg = format!("{e:?}");
    assert!(msg.contains("cannot connect to the X11 display"), "{msg}");
}
