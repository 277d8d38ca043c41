//! The Linux/X11 native child: a GTK `DrawingArea` in an `Overlay` above the webview,
//! forced to the screen's opaque depth-24 visual (with the window's depth-32 ARGB
//! visual, wgpu presents without errors but nothing shows), its X window handed to
//! wgpu. GTK objects live on the main thread only; the rest of the app reaches them
//! through `run_on_main_thread`.

use std::cell::RefCell;

use gtk::prelude::*;
use raw_window_handle::{HasDisplayHandle as _, RawWindowHandle, XlibWindowHandle};
use tauri::Manager as _;
use wzp_render::RendererOptions;

use super::{Layout, MadeSurface, SurfaceSource};

thread_local! {
    /// The video child, on the main thread.
    static CHILD: RefCell<Option<gtk::DrawingArea>> = const { RefCell::new(None) };
}

/// Handle to the native child, usable from any thread.
pub struct Native {
    app: tauri::AppHandle,
}

/// The wgpu instance and a surface on the video child's X window `xid`. Main thread only.
fn make_surface(app: &tauri::AppHandle, xid: std::os::raw::c_ulong) -> MadeSurface {
    let window = app
        .get_webview_window("main")
        .ok_or("the main window is gone")?;
    let raw_display = window
        .display_handle()
        .map_err(|e| format!("no display handle: {e}"))?
        .as_raw();
    let instance = RendererOptions::default().instance();
    let target = wgpu::SurfaceTargetUnsafe::RawHandle {
        raw_display_handle: Some(raw_display),
        raw_window_handle: RawWindowHandle::Xlib(XlibWindowHandle::new(xid)),
    };
    // SAFETY: `xid` is the X window of the DrawingArea kept in `CHILD` for the life
    // of the main window (it is only hidden, never destroyed, while the app runs),
    // and the display is the app's own Xlib display, open until the app exits.
    // The surface is dropped with the render thread, which ends when the app does.
    #[allow(unsafe_code)]
    let surface = unsafe { instance.create_surface_unsafe(target) }
        .map_err(|e| format!("cannot make a wgpu surface on the video child: {e}"))?;
    tracing::info!(xid, "video surface made");
    Ok((instance, surface))
}

impl Native {
    /// Builds the child (hidden); the wgpu surface on it comes with the first video
    /// tile ([`SurfaceSource`]). Main thread only.
    pub fn create(window: &tauri::WebviewWindow) -> Result<(Self, SurfaceSource), String> {
        let gtk_window = window
            .gtk_window()
            .map_err(|e| format!("no GTK window: {e}"))?;
        let vbox = window
            .default_vbox()
            .map_err(|e| format!("no GTK box: {e}"))?;
        // The webview's box moves into an overlay, so the video child can sit on top.
        gtk_window.remove(&vbox);
        let overlay = gtk::Overlay::new();
        overlay.add(&vbox);
        gtk_window.add(&overlay);
        let da = gtk::DrawingArea::new();
        da.set_halign(gtk::Align::Start);
        da.set_valign(gtk::Align::Start);
        da.set_size_request(1, 1);
        if let Some(visual) = WidgetExt::screen(&gtk_window).and_then(|s| s.system_visual()) {
            da.set_visual(Some(&visual));
        }
        // wgpu draws this window; GTK must not paint over it.
        da.connect_draw(|_, _| gtk::glib::Propagation::Stop);
        overlay.add_overlay(&da);
        overlay.show_all();
        da.realize();
        let gdk_window = da.window().ok_or("the video child has no GDK window")?;
        if !gdk_window.ensure_native() {
            return Err("the video child could not get a native window".into());
        }
        let xid = gdk_window
            .downcast::<gdkx11::X11Window>()
            .map_err(|_| "video in the window needs X11 (this session is not X11)".to_string())?
            .xid();
        da.hide();
        CHILD.with(|c| *c.borrow_mut() = Some(da));
        tracing::info!(xid, "video child window ready");
        // The wgpu instance and surface are made when the first video tile is laid out,
        // not at start: creating the instance opens every installed Vulkan driver
        // (about 10 MB of RSS and 0.06-0.3 s on the main thread at start-up here, see
        // docs/BENCHMARKS.md), which an idle app or one that never shows video does not
        // need. The render thread asks the main thread for them (Xlib and the display
        // are the main thread's) and then opens the adapter and device itself.
        let app = window.app_handle().clone();
        let main = app.clone();
        let source = super::surface_on_main_thread(app, move || make_surface(&main, xid));
        Ok((
            Self {
                app: window.app_handle().clone(),
            },
            source,
        ))
    }

    /// Moves and sizes the child (GTK places widgets in logical pixels), or hides it.
    pub fn place(&self, layout: Option<&Layout>) {
        let at = layout.map(|l| (l.origin, l.logical_size));
        let r = self.app.run_on_main_thread(move || {
            CHILD.with(|c| {
                if let Some(da) = c.borrow().as_ref() {
                    match at {
                        Some(((x, y), (w, h))) => {
                            da.set_margin_start(x.max(0));
                            da.set_margin_top(y.max(0));
                            da.set_size_request(w.max(1), h.max(1));
                            da.show();
                        }
                        None => da.hide(),
                    }
                }
            });
        });
        if let Err(e) = r {
            tracing::warn!(error = %e, "cannot place the video child");
        }
    }
}
