//! The tray icon: its tooltip and title say whether a call runs and whether the
//! microphone is muted; its menu has Mute/Unmute, Hang up and Quit.
//!
//! The UI owns the call state, so it tells the tray what to show (`tray_set`, with the
//! words from ui/src/strings.ts), and the tray's Mute and Hang up go back to the UI as a
//! `tray-action` event, which runs the same code as the buttons and shortcuts. Quit
//! hangs up a running call and exits. Where the desktop has no tray (no
//! StatusNotifier host, as under Xvfb) the icon is simply not shown.

use std::sync::Mutex;

use serde::Deserialize;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Emitter as _, Manager as _, Wry};

use crate::error::{AppError, Result};

/// Event sent to the UI when a tray menu entry asks for a call action
/// (`"mute"` or `"hang_up"`).
pub const TRAY_ACTION: &str = "tray-action";

/// The words the tray shows (from the UI's strings, so they can be translated there).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrayLabels {
    /// Tooltip with no call.
    pub idle: String,
    /// Tooltip in a call, microphone on.
    pub in_call: String,
    /// Tooltip in a call, microphone muted.
    pub muted: String,
    /// Menu: mute.
    pub mute: String,
    /// Menu: unmute.
    pub unmute: String,
    /// Menu: hang up.
    pub hang_up: String,
    /// Menu: quit.
    pub quit: String,
}

impl Default for TrayLabels {
    fn default() -> Self {
        // Only until the UI sends its strings (it does at start-up).
        Self {
            idle: "WZP".into(),
            in_call: "WZP".into(),
            muted: "WZP".into(),
            mute: "Mute".into(),
            unmute: "Unmute".into(),
            hang_up: "Hang up".into(),
            quit: "Quit".into(),
        }
    }
}

/// What the tray shows for a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    /// Tooltip (and title, shown beside the icon where the desktop supports it).
    pub tooltip: String,
    /// Text of the mute entry.
    pub mute_text: String,
    /// Mute and Hang up work only in a call.
    pub call_actions: bool,
}

/// The tray's texts for a call state.
#[must_use]
pub fn view(labels: &TrayLabels, in_call: bool, muted: bool) -> TrayView {
    let tooltip = match (in_call, muted) {
        (false, _) => &labels.idle,
        (true, false) => &labels.in_call,
        (true, true) => &labels.muted,
    };
    TrayView {
        tooltip: tooltip.clone(),
        mute_text: if in_call && muted {
            labels.unmute.clone()
        } else {
            labels.mute.clone()
        },
        call_actions: in_call,
    }
}

/// The tray icon and the menu entries that change.
pub struct Tray {
    icon: TrayIcon<Wry>,
    mute: MenuItem<Wry>,
    hang_up: MenuItem<Wry>,
    quit: MenuItem<Wry>,
    labels: Mutex<TrayLabels>,
}

impl Tray {
    /// Makes the tray icon with the app's window icon.
    pub fn create(app: &AppHandle) -> Result<Self> {
        let e = |e: tauri::Error| AppError::Internal(format!("tray icon: {e}"));
        let labels = TrayLabels::default();
        let mute = MenuItem::with_id(app, "mute", &labels.mute, false, None::<&str>).map_err(e)?;
        let hang_up =
            MenuItem::with_id(app, "hang_up", &labels.hang_up, false, None::<&str>).map_err(e)?;
        let quit = MenuItem::with_id(app, "quit", &labels.quit, true, None::<&str>).map_err(e)?;
        let menu = Menu::with_items(app, &[&mute, &hang_up, &quit]).map_err(e)?;
        let mut builder = TrayIconBuilder::with_id("main")
            .menu(&menu)
            .tooltip(&labels.idle)
            .on_menu_event(|app, event| on_menu(app, event.id().as_ref()));
        if let Some(icon) = app.default_window_icon() {
            builder = builder.icon(icon.clone());
        }
        let icon = builder.build(app).map_err(e)?;
        Ok(Self {
            icon,
            mute,
            hang_up,
            quit,
            labels: Mutex::new(labels),
        })
    }

    /// Shows a call state (and new words, if given).
    pub fn set(&self, labels: Option<TrayLabels>, in_call: bool, muted: bool) -> Result<()> {
        let e = |e: tauri::Error| AppError::Internal(format!("tray icon: {e}"));
        let mut l = self
            .labels
            .lock()
            .map_err(|_| AppError::Internal("tray lock poisoned".into()))?;
        if let Some(new) = labels {
            self.hang_up.set_text(&new.hang_up).map_err(e)?;
            self.quit.set_text(&new.quit).map_err(e)?;
            *l = new;
        }
        let v = view(&l, in_call, muted);
        self.mute.set_text(&v.mute_text).map_err(e)?;
        self.mute.set_enabled(v.call_actions).map_err(e)?;
        self.hang_up.set_enabled(v.call_actions).map_err(e)?;
        self.icon.set_tooltip(Some(&v.tooltip)).map_err(e)?;
        // Beside the icon on Linux panels: only while in a call, so the state is visible
        // without opening the menu.
        let title = v.call_actions.then_some(v.tooltip.as_str());
        self.icon.set_title(title).map_err(e)?;
        Ok(())
    }
}

fn on_menu(app: &AppHandle, id: &str) {
    match id {
        "mute" | "hang_up" => {
            if let Err(e) = app.emit(TRAY_ACTION, id) {
                tracing::warn!(error = %e, "cannot send the tray action to the UI");
            }
        }
        "quit" => {
            if let Some(state) = app.try_state::<crate::AppState>() {
                // Tell the relay and the others; the process ends right after.
                let _ = state.calls.with_call(wzp_engine::Call::hang_up);
            }
            tracing::info!("quit from the tray");
            app.exit(0);
        }
        other => tracing::debug!(id = other, "unknown tray menu entry"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_call_and_mute_state() {
        let l = TrayLabels {
            idle: "idle".into(),
            in_call: "in call".into(),
            muted: "muted".into(),
            mute: "Mute".into(),
            unmute: "Unmute".into(),
            hang_up: "Hang up".into(),
            quit: "Quit".into(),
        };
        let idle = view(&l, false, true);
        assert_eq!(
            (
                idle.tooltip.as_str(),
                idle.mute_text.as_str(),
                idle.call_actions
            ),
            ("idle", "Mute", false)
        );
        let on = view(&l, true, false);
        assert_eq!(
            (on.tooltip.as_str(), on.mute_text.as_str(), on.call_actions),
            ("in call", "Mute", true)
        );
        let muted = view(&l, true, true);
        assert_eq!(
            (muted.tooltip.as_str(), muted.mute_text.as_str()),
            ("muted", "Unmute")
        );
    }
}
