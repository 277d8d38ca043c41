//! The one error type of the crate.

/// Everything that can go wrong in the renderer, as one enum a caller can match on.
///
/// Bad input (a frame with an odd size or a short plane, a zero-sized target) is
/// refused here before it reaches wgpu, whose own validation would panic.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No adapter on any enabled backend. On a Linux machine without a GPU, Mesa's
    /// software rasterisers provide one: lavapipe (Vulkan, Debian package
    /// `mesa-vulkan-drivers` plus `libvulkan1`) or llvmpipe (GL, `libgl1-mesa-dri` and
    /// `libegl1`).
    #[error(
        "no GPU adapter found on backends {backends}: {source} (without a GPU, install Mesa's \
         lavapipe: mesa-vulkan-drivers and libvulkan1; or set WGPU_BACKEND=gl for llvmpipe)"
    )]
    NoAdapter {
        /// The backends that were searched, as wgpu names them.
        backends: String,
        /// What wgpu said.
        #[source]
        source: wgpu::RequestAdapterError,
    },

    /// The adapter was found but refused to open a device.
    #[error("could not open a device on adapter {adapter}: {source}")]
    DeviceRequest {
        /// Name of the adapter that refused.
        adapter: String,
        /// What wgpu said.
        #[source]
        source: wgpu::RequestDeviceError,
    },

    /// A frame whose size cannot be I420 (zero, odd, or larger than the renderer takes).
    #[error("bad frame size {width}x{height}: {reason}")]
    BadDimensions {
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A plane too short for its size and stride, or a stride narrower than the plane.
    #[error("bad {plane} plane: {got} bytes with stride {stride}, need at least {expected}")]
    BadPlane {
        /// `"y"`, `"u"` or `"v"`.
        plane: &'static str,
        /// Bytes given.
        got: usize,
        /// Stride given.
        stride: usize,
        /// Bytes needed for the size and stride (or the plane width, when the stride is
        /// smaller than it).
        expected: usize,
    },

    /// A render target (offscreen texture or surface) of a size the device cannot use.
    #[error("bad target size {width}x{height}: {reason}")]
    BadTargetSize {
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
        /// Why it was refused.
        reason: &'static str,
    },

    /// wgpu could not make a surface from the window handles.
    #[error("could not create a surface: {0}")]
    CreateSurface(#[from] wgpu::CreateSurfaceError),

    /// The adapter cannot present to this surface (no usable format or configuration).
    #[error("adapter {adapter} cannot present to this surface")]
    SurfaceUnsupported {
        /// Name of the adapter.
        adapter: String,
    },

    /// The surface stayed lost after reconfiguring; the caller must recreate it from
    /// its window (and build a new renderer with [`crate::Renderer::for_surface`]).
    #[error("the surface is lost and reconfiguring did not recover it; recreate it")]
    SurfaceLost,

    /// wgpu reported a validation error while acquiring the next surface texture.
    #[error("validation error while acquiring the surface texture")]
    SurfaceValidation,

    /// A surface call on a renderer built with [`crate::Renderer::offscreen`].
    #[error("this renderer has no surface (built with Renderer::offscreen)")]
    NoSurface,

    /// Reading the offscreen image back to the CPU failed.
    #[error("readback failed: {0}")]
    Readback(String),

    /// An error wgpu raised asynchronously (validation, out of memory, internal),
    /// caught instead of letting wgpu's default handler panic.
    #[error("GPU error: {0}")]
    Gpu(String),

    /// The device is gone (driver reset, GPU removed); build a new renderer.
    #[error("GPU device lost: {0}")]
    DeviceLost(String),
}

/// Shorthand used throughout the crate.
pub type Result<T, E = RenderError> = std::result::Result<T, E>;
