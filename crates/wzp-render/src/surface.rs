//! Drawing into a window: surface configuration, resize, and the acquire/present
//! cycle with its recoverable failures.
//!
//! The surface is made by the caller, either through wgpu's safe
//! [`wgpu::SurfaceTarget`] (anything with window and display handles: a winit
//! window, a Tauri `Window`) or from raw handles with
//! [`wgpu::Instance::create_surface_unsafe`] (the native X11 child window the app
//! puts under a video tile). The raw path needs `unsafe`, and the caller is the one
//! who knows the window outlives the surface, so it stays in the caller: this crate
//! forbids `unsafe` (the workspace sets `unsafe_code = "forbid"`, which no module can
//! relax).

use crate::error::{RenderError, Result};
use crate::layout::{Scene, Size};
use crate::renderer::{Renderer, RendererOptions, request_adapter};

/// What one [`Renderer::present`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresentOutcome {
    /// A frame was drawn and handed to the compositor.
    Presented,
    /// Nothing was drawn this time; call again on the next frame.
    Skipped(SkipReason),
}

/// Why a present was skipped. None of these is an error: the window is minimised,
/// hidden, or changed size under us, and the next call usually succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The surface has a zero side (a minimised window, a collapsed tile).
    ZeroSize,
    /// Acquiring the next texture timed out.
    Timeout,
    /// The window is occluded.
    Occluded,
    /// The surface was out of date even after reconfiguring; it has been
    /// reconfigured again for the next call.
    Outdated,
}

/// A configured window surface.
pub(crate) struct SurfaceState {
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    /// Format the shader writes: the surface format without sRGB encoding, so pixel
    /// values are the same as offscreen.
    view_format: wgpu::TextureFormat,
}

impl SurfaceState {
    fn size(&self) -> Size {
        Size::new(self.config.width, self.config.height)
    }

    fn configure(&self, device: &wgpu::Device) {
        if !self.size().is_empty() {
            self.surface.configure(device, &self.config);
        }
    }
}

impl Renderer {
    /// A renderer drawing into a window given by safe handles (anything
    /// `HasWindowHandle + HasDisplayHandle + Send + Sync + 'static`, such as a winit
    /// window or a Tauri `Window` in an `Arc`). `size` is the window's inner size in
    /// physical pixels. Blocks while the adapter and device are opened.
    ///
    /// # Errors
    /// [`RenderError::CreateSurface`], and as [`Renderer::for_surface`].
    pub fn for_window(
        target: impl Into<wgpu::SurfaceTarget<'static>>,
        size: Size,
        options: &RendererOptions,
    ) -> Result<Self> {
        let instance = options.instance();
        let surface = instance.create_surface(target)?;
        Self::for_surface(&instance, surface, size, options)
    }

    /// A renderer drawing into a surface the caller made from `instance` (which must be
    /// [`RendererOptions::instance`] of the same options), typically with
    /// `create_surface_unsafe` from the raw handles of a native child window. `size` is
    /// the surface size in physical pixels; zero is allowed (nothing is drawn until
    /// [`Renderer::resize`]). Blocks while the adapter and device are opened.
    ///
    /// # Errors
    /// [`RenderError::NoAdapter`] when no adapter can present to the surface,
    /// [`RenderError::DeviceRequest`], [`RenderError::SurfaceUnsupported`] when the
    /// surface offers no format, [`RenderError::BadTargetSize`] for a size above the
    /// device's limit.
    pub fn for_surface(
        instance: &wgpu::Instance,
        surface: wgpu::Surface<'static>,
        size: Size,
        options: &RendererOptions,
    ) -> Result<Self> {
        let adapter = pollster::block_on(request_adapter(instance, options, Some(&surface)))?;
        let mut renderer = pollster::block_on(Self::from_adapter(&adapter))?;
        let unsupported = || RenderError::SurfaceUnsupported {
            adapter: renderer.adapter_info().name.clone(),
        };
        let caps = surface.get_capabilities(&adapter);
        let mut config = surface
            .get_default_config(&adapter, size.width, size.height)
            .ok_or_else(unsupported)?;
        // Prefer a plain 8-bit format: the shader's output is already gamma-encoded.
        let plain = caps.formats.iter().copied().find(|f| {
            matches!(
                f,
                wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Rgba8Unorm
            )
        });
        config.format = plain.unwrap_or(config.format);
        let view_format = config.format.remove_srgb_suffix();
        config.view_formats = if view_format == config.format {
            Vec::new()
        } else {
            vec![view_format]
        };
        if caps.alpha_modes.contains(&wgpu::CompositeAlphaMode::Opaque) {
            config.alpha_mode = wgpu::CompositeAlphaMode::Opaque;
        }
        config.present_mode = wgpu::PresentMode::Fifo;
        tracing::info!(
            format = ?config.format,
            view_format = ?view_format,
            alpha = ?config.alpha_mode,
            width = size.width,
            height = size.height,
            "wzp-render: surface"
        );
        let state = SurfaceState {
            surface,
            config,
            view_format,
        };
        if !size.is_empty() {
            renderer.check_target_size(size)?;
        }
        state.configure(&renderer.device);
        renderer.surface = Some(state);
        renderer.check_device()?;
        Ok(renderer)
    }

    /// Follows a window or tile resize (physical pixels). A zero side pauses drawing
    /// until the next non-zero resize.
    ///
    /// # Errors
    /// [`RenderError::NoSurface`] on an offscreen renderer, [`RenderError::BadTargetSize`]
    /// above the device's limit (the old size stays).
    pub fn resize(&mut self, size: Size) -> Result<()> {
        if self.surface.is_none() {
            return Err(RenderError::NoSurface);
        }
        if !size.is_empty() {
            self.check_target_size(size)?;
        }
        if let Some(state) = self.surface.as_mut() {
            if state.size() == size {
                return Ok(());
            }
            tracing::debug!(
                width = size.width,
                height = size.height,
                "wzp-render: surface resize"
            );
            state.config.width = size.width;
            state.config.height = size.height;
            state.configure(&self.device);
        }
        self.check_device()
    }

    /// Current surface size, or `None` for an offscreen renderer.
    #[must_use]
    pub fn surface_size(&self) -> Option<Size> {
        self.surface.as_ref().map(SurfaceState::size)
    }

    /// Draws `scene` into the next surface texture and presents it.
    ///
    /// An outdated or lost surface is reconfigured and tried once more in the same
    /// call; a timeout, an occluded window or a zero size skip the frame. None of
    /// these panics.
    ///
    /// # Errors
    /// [`RenderError::NoSurface`] on an offscreen renderer, [`RenderError::SurfaceLost`]
    /// when reconfiguring does not bring a lost surface back (recreate it from the
    /// window), [`RenderError::SurfaceValidation`], GPU errors.
    pub fn present(&mut self, scene: &Scene) -> Result<PresentOutcome> {
        self.check_device()?;
        let state = self.surface.take().ok_or(RenderError::NoSurface)?;
        let result = self.present_into(&state, scene);
        self.surface = Some(state);
        let outcome = result?;
        self.check_device()?;
        Ok(outcome)
    }

    fn present_into(&mut self, state: &SurfaceState, scene: &Scene) -> Result<PresentOutcome> {
        if state.size().is_empty() {
            return Ok(PresentOutcome::Skipped(SkipReason::ZeroSize));
        }
        let mut retried = false;
        loop {
            let (frame, suboptimal) = match state.surface.get_current_texture() {
                wgpu::CurrentSurfaceTexture::Success(frame) => (frame, false),
                wgpu::CurrentSurfaceTexture::Suboptimal(frame) => (frame, true),
                wgpu::CurrentSurfaceTexture::Timeout => {
                    return Ok(PresentOutcome::Skipped(SkipReason::Timeout));
                }
                wgpu::CurrentSurfaceTexture::Occluded => {
                    return Ok(PresentOutcome::Skipped(SkipReason::Occluded));
                }
                wgpu::CurrentSurfaceTexture::Outdated => {
                    tracing::debug!("wzp-render: surface outdated, reconfiguring");
                    state.configure(&self.device);
                    if retried {
                        return Ok(PresentOutcome::Skipped(SkipReason::Outdated));
                    }
                    retried = true;
                    continue;
                }
                wgpu::CurrentSurfaceTexture::Lost => {
                    tracing::warn!("wzp-render: surface lost, reconfiguring");
                    if retried {
                        return Err(RenderError::SurfaceLost);
                    }
                    state.configure(&self.device);
                    retried = true;
                    continue;
                }
                wgpu::CurrentSurfaceTexture::Validation => {
                    return Err(RenderError::SurfaceValidation);
                }
            };
            let view = frame.texture.create_view(&wgpu::TextureViewDescriptor {
                format: Some(state.view_format),
                ..Default::default()
            });
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("wzp-render surface"),
                });
            self.encode_scene(&mut encoder, &view, state.view_format, state.size(), scene);
            self.queue.submit([encoder.finish()]);
            self.queue.present(frame);
            if suboptimal {
                tracing::debug!("wzp-render: surface suboptimal, reconfiguring");
                state.configure(&self.device);
            }
            return Ok(PresentOutcome::Presented);
        }
    }
}
