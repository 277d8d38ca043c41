//! Remote video drawn by wgpu (wzp-render) into a native child of the app window.
//!
//! A transparent webview over a wgpu surface on the same window stays black on X11, so
//! the video region is a real native child window placed over the area the web UI
//! reserves for it (see docs/ARCHITECTURE.md, "Desktop app"). The UI reports that
//! area and each tile's rectangle (`getBoundingClientRect`, through the `video_layout`
//! command) whenever its layout changes; frames never cross the webview IPC.
//!
//! Threads: decoded frames arrive on the engine's decoder thread ([`HubSink`]) and go
//! through a small bounded channel to the render thread, which owns the
//! [`wzp_render::Renderer`]; a frame that finds the channel full is dropped (the next
//! one replaces it anyway). Window-system calls (making and placing the child, making
//! the wgpu surface on it) run on the main thread.
//!
//! Each OS has one small module behind the same interface: `Native::create(window)`
//! makes the child (hidden) and a [`SurfaceSource`], and `Native::place(layout)` moves,
//! sizes, shows or hides it. Linux/X11 (`linux.rs`, a GTK `DrawingArea`) is built and
//! tested here. Windows (`windows.rs`, a child HWND) and macOS (`macos.rs`, a child
//! `NSView` in which wgpu makes a `CAMetalLayer`) are only compile-checked here (with
//! `cargo check --target`) and unverified at run time until a Windows or macOS build runs
//! them. Elsewhere [`VideoView::attach`] reports that video is not shown, and calls
//! still carry audio and video.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux::Native;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
use macos::Native;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows::Native;

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use serde::Deserialize;
use wzp_engine::VideoSink;
use wzp_proto::ParticipantId;
use wzp_render::{Placement, Rect, Renderer, Scene, Size, TileId};
use wzp_video::I420Frame;

/// A rectangle as the UI reports it (CSS pixels, relative to the window's content).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct UiRect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl UiRect {
    fn is_usable(&self) -> bool {
        [self.x, self.y, self.width, self.height]
            .iter()
            .all(|v| v.is_finite() && v.abs() < 100_000.0)
            && self.width >= 1.0
            && self.height >= 1.0
    }
}

/// One tile: whose video, where (window coordinates, CSS pixels).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct UiTile {
    /// The participant (relay-assigned id).
    pub participant: u16,
    /// Where.
    pub rect: UiRect,
}

/// Where the video area and its tiles are.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The area's origin in the window (logical pixels, as GTK and AppKit place views).
    pub origin: (i32, i32),
    /// The area's origin in physical pixels (as Win32 places child windows), rounded
    /// from the reported position, not from `origin`, so it is off by less than one.
    pub physical_origin: (i32, i32),
    /// The area's size in logical pixels.
    pub logical_size: (i32, i32),
    /// The area's size in physical pixels (the surface).
    pub size: Size,
    /// Tiles inside it.
    pub tiles: Vec<Placement>,
}

/// Converts what the UI reported into a layout: scales by the window's scale factor,
/// makes tile rectangles relative to the area, and drops unusable rectangles. An area
/// scrolled partly above or left of the window is cut to its visible part (a native
/// child cannot sit at a negative position; its tiles then start above it and are
/// clipped), and our own tile (participant 0, the self-view) is mirrored.
/// Returns `None` when the area itself is unusable or out of sight (the video is then
/// hidden).
#[must_use]
pub fn layout_from_ui(area: UiRect, tiles: &[UiTile], scale: f64) -> Option<Layout> {
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    };
    if !area.is_usable() {
        return None;
    }
    let (x, y) = (area.x.max(0.0), area.y.max(0.0));
    let area = UiRect {
        x,
        y,
        width: area.width - (x - area.x),
        height: area.height - (y - area.y),
    };
    if !area.is_usable() {
        return None;
    }
    let px = |v: f64| (v * scale).round();
    let size = Size::new(px(area.width) as u32, px(area.height) as u32);
    if size.is_empty() {
        return None;
    }
    let tiles = tiles
        .iter()
        .filter(|t| t.rect.is_usable())
        .map(|t| {
            Placement::at(
                TileId(u64::from(t.participant)),
                Rect::new(
                    px(t.rect.x - area.x) as f32,
                    px(t.rect.y - area.y) as f32,
                    px(t.rect.width) as f32,
                    px(t.rect.height) as f32,
                ),
            )
            .mirrored(t.participant == wzp_engine::LOCAL.0)
        })
        .collect();
    Some(Layout {
        origin: (area.x.round() as i32, area.y.round() as i32),
        physical_origin: (px(area.x) as i32, px(area.y) as i32),
        logical_size: (area.width.round() as i32, area.height.round() as i32),
        size,
        tiles,
    })
}

/// Messages to the render thread.
pub enum Msg {
    /// A decoded frame.
    Frame(ParticipantId, I420Frame),
    /// A new layout (area size and tiles).
    Layout(Layout),
    /// The call ended or the view is hidden: forget all frames.
    Clear,
}

/// The app's video view: the channel to its render thread, and the native child.
pub struct VideoView {
    tx: SyncSender<Msg>,
    #[cfg(any(target_os = "linux", windows, target_os = "macos"))]
    native: Option<Native>,
    /// Why video cannot be shown, if it cannot.
    unavailable: Option<String>,
}

/// Frames queued for the render thread at most; more are dropped (a 720p frame is
/// 1.4 MB, and the newest frame replaces an older one anyway).
const QUEUE: usize = 4;

/// Our own picture (self-view, camera preview) wider than this is halved before it goes
/// to the render thread: its tile is small, and a full 720p copy at 30 fps cost about
/// 24 MB of the in-call memory (docs/BENCHMARKS.md, desktop app run D).
const SELF_VIEW_MAX_WIDTH: u32 = 640;

impl VideoView {
    /// Creates the native child in the main window and starts the render thread.
    /// Must run on the main thread (Tauri's `setup`). Never fails: when video cannot
    /// be shown the reason is kept and logged, and calls go on without it.
    pub fn attach(window: &tauri::WebviewWindow) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        #[cfg(any(target_os = "linux", windows, target_os = "macos"))]
        let (native, source, unavailable) = match Native::create(window) {
            Ok((native, source)) => (Some(native), Some(source), None),
            Err(why) => {
                tracing::warn!(%why, "video will not be shown in the window");
                (None, None, Some(why))
            }
        };
        #[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
        let (source, unavailable) = {
            let _ = window;
            (
                None,
                Some("video in the window is only built for Linux, Windows and macOS".to_string()),
            )
        };
        spawn_render_thread(rx, source);
        Self {
            tx,
            #[cfg(any(target_os = "linux", windows, target_os = "macos"))]
            native,
            unavailable,
        }
    }

    /// Why video is not shown, if it is not.
    #[must_use]
    pub fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// A sink for a call's decoded video.
    #[must_use]
    pub fn sink(&self) -> HubSink {
        HubSink {
            tx: self.tx.clone(),
        }
    }

    /// A sink for our own picture (self-view, camera preview): like [`VideoView::sink`],
    /// but a picture wider than [`SELF_VIEW_MAX_WIDTH`] is halved first.
    #[must_use]
    pub fn self_sink(&self) -> SelfSink {
        SelfSink(self.sink())
    }

    /// Places the area and its tiles (main thread only), or hides it (`None`).
    pub fn set_layout(&self, layout: Option<Layout>) {
        #[cfg(any(target_os = "linux", windows, target_os = "macos"))]
        if let Some(n) = &self.native {
            n.place(layout.as_ref());
        }
        let msg = match layout {
            Some(l) => Msg::Layout(l),
            None => Msg::Clear,
        };
        // Layouts are rare and must not be lost: block briefly if the queue is full.
        if self.tx.send(msg).is_err() {
            tracing::warn!("the video render thread has stopped");
        }
    }
}

/// The engine-side sink: forwards frames to the render thread, never blocking the
/// decoder (a full queue drops the frame).
pub struct HubSink {
    tx: SyncSender<Msg>,
}

impl HubSink {
    /// Hands a frame the caller owns to the render thread (a full queue drops it; a
    /// view that is gone, as the app closes, drops it quietly).
    fn send(&self, from: ParticipantId, frame: I420Frame) {
        match self.tx.try_send(Msg::Frame(from, frame)) {
            Ok(()) | Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
    }
}

impl VideoSink for HubSink {
    fn frame(&mut self, from: ParticipantId, frame: &I420Frame) -> wzp_engine::Result<()> {
        self.send(from, frame.clone());
        Ok(())
    }

    fn finish(&mut self) -> wzp_engine::Result<()> {
        let _ = self.tx.try_send(Msg::Clear);
        Ok(())
    }
}

/// The sink for our own picture ([`VideoView::self_sink`]).
pub struct SelfSink(HubSink);

impl VideoSink for SelfSink {
    fn frame(&mut self, from: ParticipantId, frame: &I420Frame) -> wzp_engine::Result<()> {
        // The halved copy is handed over as it is: one allocation per frame, not two.
        match (frame.width() > SELF_VIEW_MAX_WIDTH)
            .then(|| frame.half())
            .flatten()
        {
            Some(small) => {
                self.0.send(from, small);
                Ok(())
            }
            None => self.0.frame(from, frame),
        }
    }

    fn finish(&mut self) -> wzp_engine::Result<()> {
        self.0.finish()
    }
}

/// Makes the renderer on the render thread (opening the adapter and device blocks, so
/// not on the main thread), with the surface the platform makes for it.
pub type SurfaceSource = Box<dyn FnOnce(Size) -> Result<Renderer, String> + Send>;

/// The wgpu instance and a surface on the native child, as a platform makes them.
#[cfg(any(target_os = "linux", windows, target_os = "macos"))]
type MadeSurface = Result<(wgpu::Instance, wgpu::Surface<'static>), String>;

/// The [`SurfaceSource`] every platform uses: the render thread asks the main thread
/// to run `make` (the window system's handles belong to it; AppKit refuses other
/// threads) and waits for the surface, then opens the adapter and device itself, which
/// blocks and so stays off the main thread.
#[cfg(any(target_os = "linux", windows, target_os = "macos"))]
fn surface_on_main_thread(
    app: tauri::AppHandle,
    make: impl FnOnce() -> MadeSurface + Send + 'static,
) -> SurfaceSource {
    Box::new(move |size| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        app.run_on_main_thread(move || {
            let _ = tx.send(make());
        })
        .map_err(|e| format!("cannot reach the main thread: {e}"))?;
        let (instance, surface) = rx
            .recv()
            .map_err(|_| "the main thread did not make the video surface".to_string())??;
        Renderer::for_surface(
            &instance,
            surface,
            size,
            &wzp_render::RendererOptions::default(),
        )
        .map_err(|e| e.to_string())
    })
}

fn spawn_render_thread(rx: Receiver<Msg>, source: Option<SurfaceSource>) {
    let spawned = std::thread::Builder::new()
        .name("wzp-video-render".into())
        .spawn(move || render_loop(rx, source));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the video render thread");
    }
}

/// The render thread's state: one owner, no locks.
struct RenderState {
    source: Option<SurfaceSource>,
    renderer: Option<Renderer>,
    layout: Option<Layout>,
    uploaded: std::collections::BTreeSet<TileId>,
    dirty: bool,
    presented: u64,
}

impl RenderState {
    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Frame(from, frame) => {
                let id = TileId(u64::from(from.0));
                if let Some(r) = self.renderer.as_mut() {
                    match r.upload(id, &frame) {
                        Ok(()) => {
                            self.uploaded.insert(id);
                            self.dirty = true;
                        }
                        Err(e) => tracing::debug!(error = %e, "video frame not uploaded"),
                    }
                }
            }
            Msg::Layout(l) => {
                // The renderer (and the wgpu instance and surface) is made
                // for the first layout with a tile, not for the empty ones the UI
                // reports outside calls.
                if self.renderer.is_none() && !l.tiles.is_empty() {
                    if let Some(make) = self.source.take() {
                        match make(l.size) {
                            Ok(r) => {
                                tracing::info!(adapter = %r.adapter_info().name, "video renderer ready");
                                self.renderer = Some(r);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "no video renderer; video is not shown");
                            }
                        }
                    }
                }
                if let Some(r) = self.renderer.as_mut() {
                    if let Err(e) = r.resize(l.size) {
                        tracing::debug!(error = %e, "video resize failed");
                    }
                }
                self.layout = Some(l);
                self.dirty = true;
            }
            Msg::Clear => {
                if let Some(r) = self.renderer.as_mut() {
                    for id in std::mem::take(&mut self.uploaded) {
                        r.remove(id);
                    }
                }
                self.dirty = true;
            }
        }
    }

    fn draw(&mut self) {
        let (Some(r), Some(l)) = (self.renderer.as_mut(), self.layout.as_ref()) else {
            return;
        };
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let scene = Scene {
            background: Scene::DEFAULT_BACKGROUND,
            tiles: l.tiles.clone(),
        };
        match r.present(&scene) {
            Ok(_) => {
                self.presented += 1;
                if self.presented % 300 == 1 {
                    tracing::debug!(presented = self.presented, "video frames presented");
                }
            }
            Err(e) => tracing::warn!(error = %e, "video present failed"),
        }
    }
}

/// The render thread: applies everything queued, then draws once; also redraws every
/// quarter second so an exposed or resized area gets repainted without new frames.
fn render_loop(rx: Receiver<Msg>, source: Option<SurfaceSource>) {
    let mut st = RenderState {
        source,
        renderer: None,
        layout: None,
        uploaded: std::collections::BTreeSet::new(),
        dirty: false,
        presented: 0,
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(m) => st.handle(m),
            Err(RecvTimeoutError::Timeout) => st.dirty = true,
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(m) = rx.try_recv() {
            st.handle(m);
        }
        st.draw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: f64, y: f64, w: f64, h: f64) -> UiRect {
        UiRect {
            x,
            y,
            width: w,
            height: h,
        }
    }

    #[test]
    fn tiles_become_relative_and_scaled() {
        let l = layout_from_ui(
            r(100.0, 50.0, 400.0, 300.0),
            &[UiTile {
                participant: 3,
                rect: r(110.0, 60.0, 200.0, 150.0),
            }],
            2.0,
        );
        let Some(l) = l else { panic!("layout refused") };
        assert_eq!(l.origin, (100, 50));
        assert_eq!(l.physical_origin, (200, 100));
        assert_eq!(l.logical_size, (400, 300));
        assert_eq!(l.size, Size::new(800, 600));
        assert_eq!(l.tiles.len(), 1);
        assert_eq!(l.tiles[0].id, TileId(3));
        assert_eq!(l.tiles[0].rect, Rect::new(20.0, 20.0, 400.0, 300.0));
    }

    #[test]
    fn an_area_scrolled_above_the_window_is_cut_and_the_self_view_mirrored() {
        let tile = |participant, rect| UiTile { participant, rect };
        let l = layout_from_ui(
            r(10.0, -60.0, 400.0, 300.0),
            &[
                tile(4, r(10.0, -60.0, 200.0, 150.0)),
                tile(0, r(210.0, -60.0, 200.0, 150.0)),
            ],
            1.0,
        );
        let Some(l) = l else { panic!("layout refused") };
        assert_eq!(l.origin, (10, 0));
        assert_eq!(l.logical_size, (400, 240));
        assert_eq!(l.tiles[0].rect, Rect::new(0.0, -60.0, 200.0, 150.0));
        assert!(!l.tiles[0].mirror);
        assert!(l.tiles[1].mirror, "the self-view moves like a mirror");
        assert!(
            layout_from_ui(r(0.0, -400.0, 100.0, 300.0), &[], 1.0).is_none(),
            "an area wholly above the window is hidden"
        );
    }

    #[test]
    fn our_own_picture_is_halved_when_wide() {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let mut sink = SelfSink(HubSink { tx });
        let size_of = |rx: &Receiver<Msg>| match rx.try_recv() {
            Ok(Msg::Frame(from, f)) => Some((from.0, f.width(), f.height())),
            _ => None,
        };
        for (w, h, want) in [(1280, 720, (640, 360)), (320, 192, (320, 192))] {
            let Ok(f) = I420Frame::new(w, h) else {
                panic!("frame")
            };
            assert!(sink.frame(wzp_engine::LOCAL, &f).is_ok());
            assert_eq!(size_of(&rx), Some((0, want.0, want.1)));
        }
    }

    #[test]
    fn bad_rects_are_refused_not_trusted() {
        assert!(layout_from_ui(r(0.0, 0.0, 0.0, 10.0), &[], 1.0).is_none());
        assert!(layout_from_ui(r(f64::NAN, 0.0, 10.0, 10.0), &[], 1.0).is_none());
        let l = layout_from_ui(
            r(0.0, 0.0, 100.0, 100.0),
            &[UiTile {
                participant: 1,
                rect: r(0.0, 0.0, f64::INFINITY, 5.0),
            }],
            f64::NAN,
        );
        assert!(matches!(l, Some(l) if l.tiles.is_empty() && l.size == Size::new(100, 100)));
    }
}
