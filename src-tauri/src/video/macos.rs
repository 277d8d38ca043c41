//! The macOS native child: an `NSView` added to the window's content view above the
//! `WKWebView`, its pointer given to wgpu, which makes a `CAMetalLayer` in it (through
//! raw-window-metal, which also keeps the layer's size and Retina scale in step with the
//! view). AppKit places views in points, which are the UI's CSS pixels, with the origin
//! at the bottom left unless the parent view is flipped. AppKit objects live on the main
//! thread only, as GTK's do on Linux.
//! Compile-checked only: unverified at run time until a macOS build runs it.

use std::cell::RefCell;
use std::ptr::NonNull;

use objc2::MainThreadMarker;
use objc2::rc::Retained;
use objc2_app_kit::{NSAutoresizingMaskOptions, NSView, NSWindow, NSWindowOrderingMode};
use objc2_foundation::{NSPoint, NSRect, NSSize};
use raw_window_handle::{
    AppKitDisplayHandle, AppKitWindowHandle, RawDisplayHandle, RawWindowHandle,
};
use tauri::Manager as _;
use wzp_render::RendererOptions;

use super::{Layout, MadeSurface, SurfaceSource};

/// The view the child was added to, and the child.
struct Child {
    parent: Retained<NSView>,
    view: Retained<NSView>,
}

impl Child {
    /// Main thread (it is only reached through `CHILD`).
    fn place(&self, at: Option<((i32, i32), (i32, i32))>) {
        let Some(((x, y), (w, h))) = at else {
            self.view.setHidden(true);
            return;
        };
        let (x, y, w, h) = (
            f64::from(x.max(0)),
            f64::from(y.max(0)),
            f64::from(w.max(1)),
            f64::from(h.max(1)),
        );
        // The UI measures from the top, an unflipped parent from the bottom. The bottom
        // margin is the one left to grow as the window is resized, so the child keeps its
        // place under the top edge until the UI reports the next layout.
        let (bottom, mask) = if self.parent.isFlipped() {
            (y, NSAutoresizingMaskOptions::ViewMaxYMargin)
        } else {
            let height = self.parent.bounds().size.height;
            (height - y - h, NSAutoresizingMaskOptions::ViewMinYMargin)
        };
        self.view.setAutoresizingMask(mask);
        self.view
            .setFrame(NSRect::new(NSPoint::new(x, bottom), NSSize::new(w, h)));
        self.view.setHidden(false);
    }
}

thread_local! {
    /// The video child, on the main thread.
    static CHILD: RefCell<Option<Child>> = const { RefCell::new(None) };
}

/// Handle to the native child, usable from any thread.
pub struct Native {
    app: tauri::AppHandle,
}

/// The wgpu instance and a surface on the child. Main thread only (raw-window-metal
/// refuses other threads).
fn make_surface() -> MadeSurface {
    let view = CHILD.with(|c| c.borrow().as_ref().map(|c| NonNull::from(&*c.view).cast()));
    let view = view.ok_or("the video child is gone")?;
    let instance = RendererOptions::default().instance();
    let target = wgpu::SurfaceTargetUnsafe::RawHandle {
        raw_display_handle: Some(RawDisplayHandle::AppKit(AppKitDisplayHandle::new())),
        raw_window_handle: RawWindowHandle::AppKit(AppKitWindowHandle::new(view)),
    };
    // SAFETY: `view` points to the NSView retained in `CHILD` on this (the main) thread
    // for the life of the app: it is only hidden, never released, so it outlives the
    // surface, which is dropped with the render thread as the app ends.
    #[allow(unsafe_code)]
    let surface = unsafe { instance.create_surface_unsafe(target) }
        .map_err(|e| format!("cannot make a wgpu surface on the video child: {e}"))?;
    tracing::info!("video surface made");
    Ok((instance, surface))
}

impl Native {
    /// Makes the child (hidden) on top of the window's content; the wgpu surface on it
    /// comes with the first video tile ([`SurfaceSource`]), as on Linux. Main thread only.
    pub fn create(window: &tauri::WebviewWindow) -> Result<(Self, SurfaceSource), String> {
        let mtm =
            MainThreadMarker::new().ok_or("the video child must be made on the main thread")?;
        let ns_window = NonNull::new(window.ns_window().map_err(|e| e.to_string())?)
            .ok_or("the app window has no NSWindow")?;
        // SAFETY: tauri hands out the live NSWindow of this window (autoreleased, so valid
        // at least until this main-thread call returns); it is only borrowed here.
        #[allow(unsafe_code)]
        let ns_window: &NSWindow = unsafe { ns_window.cast().as_ref() };
        // wry makes its own content view holding the WKWebView; the child goes there,
        // above the webview.
        let parent = ns_window
            .contentView()
            .ok_or("the app window has no content view")?;
        let frame = NSRect::new(NSPoint::new(0.0, 0.0), NSSize::new(1.0, 1.0));
        let view = NSView::initWithFrame(mtm.alloc::<NSView>(), frame);
        view.setWantsLayer(true);
        view.setHidden(true);
        parent.addSubview_positioned_relativeTo(&view, NSWindowOrderingMode::Above, None);
        CHILD.with(|c| *c.borrow_mut() = Some(Child { parent, view }));
        tracing::info!("video child view ready");
        let app = window.app_handle().clone();
        let source = super::surface_on_main_thread(app.clone(), make_surface);
        Ok((Self { app }, source))
    }

    /// Moves and sizes the child (points, the UI's logical pixels), or hides it.
    pub fn place(&self, layout: Option<&Layout>) {
        let at = layout.map(|l| (l.origin, l.logical_size));
        let r = self.app.run_on_main_thread(move || {
            CHILD.with(|c| {
                if let Some(child) = c.borrow().as_ref() {
                    child.place(at);
                }
            });
        });
        if let Err(e) = r {
            tracing::warn!(error = %e, "cannot place the video child");
        }
    }
}
