//! WZP video renderer: decoded I420 frames to pixels on the GPU.
//!
//! Owns the last mile of video: three `R8Unorm` textures per tile, a WGSL shader that
//! converts BT.601 limited-range YUV to RGB (see [`bt601_limited_to_rgb`] for the
//! matrix), the call-grid layout with a mirrored self-view, and drawing into either a
//! window surface or an offscreen texture whose pixels can be read back. It never
//! decodes (wzp-video does) and never touches the network.
//!
//! The render loop, as the app drives it on its render thread:
//!
//! ```no_run
//! use wzp_render::{GridOptions, Renderer, RendererOptions, Scene, SelfViewOptions, Size, TileId};
//! # fn frames() -> Vec<(TileId, wzp_video::I420Frame)> { Vec::new() }
//! let mut renderer = Renderer::offscreen(&RendererOptions::default())?;
//! // (a window: Renderer::for_window(window, size, &options), then present())
//! let me = TileId(0);
//! let target = Size::new(1280, 720);
//! for (id, frame) in frames() {
//!     renderer.upload(id, &frame)?; // the newest decoded frame of each stream
//! }
//! let scene = Scene::call(
//!     target,
//!     &[TileId(1), TileId(2)],
//!     GridOptions::default(),
//!     Some((me, Size::new(640, 360), SelfViewOptions::default())),
//! );
//! let image = renderer.render_offscreen(&scene, target)?; // or renderer.present(&scene)
//! assert_eq!(image.width(), 1280);
//! # Ok::<(), wzp_render::RenderError>(())
//! ```
//!
//! A participant without video gets a placeholder tile: [`placeholder_frame`] makes
//! a disc in their colour with their [`initials`], uploaded like any frame.
//!
//! The layout ([`grid`], [`self_view`], [`fit`]) is plain functions over sizes and
//! rectangles, tested without a GPU. Tiles can also be placed at explicit pixel
//! rectangles ([`Placement::at`]), which is what the app does when the web UI decides
//! where each video goes.

#![forbid(unsafe_code)]

mod color;
mod error;
mod frame;
mod image;
mod layout;
mod placeholder;
mod renderer;
mod surface;

pub use color::{ColorSpace, bt601_limited_to_rgb};
pub use error::{RenderError, Result};
pub use frame::{I420Planes, MAX_FRAME_DIMENSION, Plane, check_frame_dimensions};
pub use image::RgbaImage;
pub use layout::{
    Corner, Fit, Fitted, GridOptions, GridShape, Placement, Rect, Rgb, Scene, SelfViewOptions,
    Size, TileId, UvRect, fit, grid, grid_cells, grid_shape, self_view,
};
pub use placeholder::{initials, placeholder_color, placeholder_frame};
pub use renderer::{OFFSCREEN_FORMAT, Renderer, RendererOptions, padded_bytes_per_row};
pub use surface::{PresentOutcome, SkipReason};
/// The wgpu this crate is built against, so callers making surfaces use the same one.
pub use wgpu;
