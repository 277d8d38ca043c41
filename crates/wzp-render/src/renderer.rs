//! The GPU side: device, pipeline, per-tile frame textures, drawing a [`Scene`],
//! offscreen readback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{RenderError, Result};
use crate::frame::{I420Planes, Plane, plane_bytes_needed};
use crate::image::RgbaImage;
use crate::layout::{Rect, Scene, Size, TileId};
use crate::surface::SurfaceState;

/// Format of the offscreen target: plain 8-bit RGBA, not sRGB, so that the bytes read
/// back are exactly what the shader wrote.
pub const OFFSCREEN_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// Bytes of one tile's uniforms (destination and source rectangles, and the colour
/// conversion's range and matrix: four `vec4<f32>`).
const TILE_UNIFORM_BYTES: u64 = 64;

/// How the renderer picks its adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RendererOptions {
    /// Backends to search. The `WGPU_BACKEND` environment variable (for example
    /// `vulkan` or `gl`) overrides it, so a machine can be steered without a rebuild.
    pub backends: wgpu::Backends,
    /// Low power (an integrated GPU) is plenty for scaling a few video tiles and saves
    /// the battery; a discrete GPU is not needed.
    pub power_preference: wgpu::PowerPreference,
    /// Only accept a software adapter (as tests can, to get the same pixels everywhere).
    pub force_fallback_adapter: bool,
}

impl Default for RendererOptions {
    fn default() -> Self {
        Self {
            backends: wgpu::Backends::all(),
            power_preference: wgpu::PowerPreference::LowPower,
            force_fallback_adapter: false,
        }
    }
}

impl RendererOptions {
    /// The wgpu instance these options describe, with no display handle attached.
    ///
    /// Use it to make a surface from raw window handles before calling
    /// [`Renderer::for_surface`]. It is created without a display handle on purpose:
    /// an instance that holds one refuses surfaces whose display handle is not the
    /// very same object (seen with Tauri/GTK on X11).
    #[must_use]
    pub fn instance(&self) -> wgpu::Instance {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = self.backends;
        wgpu::Instance::new(desc.with_env())
    }
}

/// The three textures and their bind group for one tile's frames. Kept while the
/// size stays the same, so a steady stream only writes texels.
struct FrameTextures {
    size: Size,
    color: crate::color::ColorSpace,
    y: wgpu::Texture,
    u: wgpu::Texture,
    v: wgpu::Texture,
    bind_group: wgpu::BindGroup,
}

/// Per-tile uniforms of one draw, one slot per tile at the device's dynamic-offset
/// alignment; grown when a scene has more tiles than it holds.
struct UniformSlots {
    buffer: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    stride: u64,
    capacity: usize,
}

/// The offscreen colour target and its readback buffer, kept while the size stays
/// the same.
struct OffscreenTarget {
    size: Size,
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    readback: wgpu::Buffer,
    padded_bytes_per_row: u32,
}

/// Renders I420 frames as tiles into an offscreen texture or a window surface.
///
/// One per video view. It owns the device and queue, one pipeline per target format,
/// and three `R8Unorm` textures per tile; frames are uploaded as they are decoded
/// ([`Renderer::upload`]) and a [`Scene`] says where each tile goes when drawing.
/// Decoding is not done here. All methods take `&mut self`: one owner (the render
/// thread), no locks inside.
pub struct Renderer {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    adapter_info: wgpu::AdapterInfo,
    shader: wgpu::ShaderModule,
    pipeline_layout: wgpu::PipelineLayout,
    tile_layout: wgpu::BindGroupLayout,
    frame_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    pipelines: HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
    uniforms: UniformSlots,
    frames: HashMap<TileId, FrameTextures>,
    offscreen: Option<OffscreenTarget>,
    pub(crate) surface: Option<SurfaceState>,
    gpu_error: Arc<Mutex<Option<String>>>,
    device_lost: Arc<Mutex<Option<String>>>,
    scratch: Vec<u8>,
    draws: Vec<(TileId, u32)>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("adapter", &self.adapter_info.name)
            .field("backend", &self.adapter_info.backend)
            .field("tiles", &self.frames.len())
            .field("surface", &self.surface.is_some())
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer with no window, drawing into a texture that can be read back
    /// ([`Renderer::render_offscreen`]). For tests, benchmarks and screenshots.
    /// Blocks while the adapter and device are opened.
    ///
    /// # Errors
    /// [`RenderError::NoAdapter`] when no backend has an adapter (on a Linux machine
    /// without a GPU: install Mesa's lavapipe), [`RenderError::DeviceRequest`] when the
    /// adapter refuses a device.
    pub fn offscreen(options: &RendererOptions) -> Result<Self> {
        let instance = options.instance();
        let adapter = pollster::block_on(request_adapter(&instance, options, None))?;
        pollster::block_on(Self::from_adapter(&adapter))
    }

    pub(crate) async fn from_adapter(adapter: &wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        tracing::info!(
            adapter = %info.name,
            backend = ?info.backend,
            device_type = ?info.device_type,
            driver = %info.driver_info,
            "wzp-render: opening device"
        );
        let desc = wgpu::DeviceDescriptor {
            label: Some("wzp-render"),
            // Ask for the least (what GL and old GPUs have) with the adapter's real
            // texture size limits, so it opens everywhere and 4096 frames still fit.
            required_limits: wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits()),
            ..Default::default()
        };
        let (device, queue) =
            adapter
                .request_device(&desc)
                .await
                .map_err(|source| RenderError::DeviceRequest {
                    adapter: info.name.clone(),
                    source,
                })?;
        Ok(Self::from_device(device, queue, info))
    }

    fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter_info: wgpu::AdapterInfo,
    ) -> Self {
        // wgpu's default handler panics on any validation error; record it instead and
        // hand it back as RenderError::Gpu from the next call.
        let gpu_error = Arc::new(Mutex::new(None::<String>));
        let sink = Arc::clone(&gpu_error);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            tracing::error!(error = %e, "wzp-render: GPU error");
            let mut slot = sink.lock().unwrap_or_else(PoisonError::into_inner);
            slot.get_or_insert_with(|| e.to_string());
        }));
        let device_lost = Arc::new(Mutex::new(None::<String>));
        let sink = Arc::clone(&device_lost);
        device.set_device_lost_callback(move |reason, message| {
            tracing::error!(?reason, %message, "wzp-render: device lost");
            let mut slot = sink.lock().unwrap_or_else(PoisonError::into_inner);
            *slot = Some(format!("{reason:?}: {message}"));
        });

        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("wzp-render yuv"),
            source: wgpu::ShaderSource::Wgsl(include_str!("yuv.wgsl").into()),
        });
        let tile_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("wzp-render tile"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                // The vertex stage places the tile; the fragment stage reads its colour space.
                visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(TILE_UNIFORM_BYTES),
                },
                count: None,
            }],
        });
        let texture_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let frame_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("wzp-render frame"),
            entries: &[
                texture_entry(0),
                texture_entry(1),
                texture_entry(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("wzp-render"),
            bind_group_layouts: &[Some(&tile_layout), Some(&frame_layout)],
            immediate_size: 0,
        });
        // Bilinear: scales the picture to the tile and upsamples chroma in one go.
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("wzp-render bilinear"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let uniforms = UniformSlots::new(&device, &tile_layout, 4);
        Self {
            device,
            queue,
            adapter_info,
            shader,
            pipeline_layout,
            tile_layout,
            frame_layout,
            sampler,
            pipelines: HashMap::new(),
            uniforms,
            frames: HashMap::new(),
            offscreen: None,
            surface: None,
            gpu_error,
            device_lost,
            scratch: Vec::new(),
            draws: Vec::new(),
        }
    }

    /// Which adapter is drawing (name, backend, software or not), for logs and bug
    /// reports.
    #[must_use]
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.adapter_info
    }

    /// Stores the newest frame of tile `id`, replacing the previous one. Textures are
    /// reused while the size is unchanged and recreated when it changes.
    ///
    /// # Errors
    /// [`RenderError::BadDimensions`] for a frame larger than this GPU's texture limit
    /// (other frame checks happen when the [`I420Planes`] is built);
    /// [`RenderError::DeviceLost`] / [`RenderError::Gpu`] if the device has failed.
    pub fn upload<'a>(&mut self, id: TileId, frame: impl Into<I420Planes<'a>>) -> Result<()> {
        self.check_device()?;
        let frame = frame.into();
        let size = Size::new(frame.width(), frame.height());
        let max = self.device.limits().max_texture_dimension_2d;
        if size.width > max || size.height > max {
            return Err(RenderError::BadDimensions {
                width: size.width,
                height: size.height,
                reason: "larger than this GPU's max_texture_dimension_2d",
            });
        }
        let reuse = self.frames.get(&id).is_some_and(|t| t.size == size);
        if !reuse {
            tracing::debug!(
                tile = id.0,
                width = size.width,
                height = size.height,
                "wzp-render: new frame textures"
            );
            let textures = self.create_frame_textures(size);
            self.frames.insert(id, textures);
        }
        if let Some(t) = self.frames.get_mut(&id) {
            t.color = frame.color();
            let (cw, ch) = (size.width / 2, size.height / 2);
            write_plane(&self.queue, &t.y, frame.y(), size.width, size.height);
            write_plane(&self.queue, &t.u, frame.u(), cw, ch);
            write_plane(&self.queue, &t.v, frame.v(), cw, ch);
        }
        Ok(())
    }

    /// Forgets tile `id` and frees its textures (a participant left, the camera
    /// stopped). Returns whether it was there.
    pub fn remove(&mut self, id: TileId) -> bool {
        self.frames.remove(&id).is_some()
    }

    /// Size of the last frame uploaded for `id`, if any; useful for a layout that
    /// depends on it, such as [`crate::self_view`].
    #[must_use]
    pub fn frame_size(&self, id: TileId) -> Option<Size> {
        self.frames.get(&id).map(|t| t.size)
    }

    /// Draws `scene` into the offscreen target of `size` and waits for the GPU, without
    /// reading back. For measuring draw cost; tests use
    /// [`Renderer::render_offscreen`].
    ///
    /// # Errors
    /// [`RenderError::BadTargetSize`] for a zero or too large size, GPU errors.
    pub fn draw_offscreen(&mut self, scene: &Scene, size: Size) -> Result<()> {
        self.check_device()?;
        let target = self.offscreen_target(size)?;
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("wzp-render offscreen"),
            });
        self.encode_scene(&mut encoder, &target.view, OFFSCREEN_FORMAT, size, scene);
        self.queue.submit([encoder.finish()]);
        self.offscreen = Some(target);
        self.wait_idle()?;
        self.check_device()
    }

    /// Draws `scene` into an offscreen texture of `size` and reads the pixels back.
    ///
    /// # Errors
    /// [`RenderError::BadTargetSize`] for a zero or too large size,
    /// [`RenderError::Readback`] if mapping the buffer fails, GPU errors.
    pub fn render_offscreen(&mut self, scene: &Scene, size: Size) -> Result<RgbaImage> {
        self.check_device()?;
        let target = self.offscreen_target(size)?;
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("wzp-render offscreen"),
            });
        self.encode_scene(&mut encoder, &target.view, OFFSCREEN_FORMAT, size, scene);
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &target.texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &target.readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(target.padded_bytes_per_row),
                    rows_per_image: Some(size.height),
                },
            },
            extent(size),
        );
        self.queue.submit([encoder.finish()]);
        let image = self.read_back(&target);
        self.offscreen = Some(target);
        self.check_device()?;
        image
    }

    /// Blocks until the GPU has finished all submitted work.
    ///
    /// # Errors
    /// [`RenderError::Gpu`] if polling the device fails.
    pub fn wait_idle(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| RenderError::Gpu(e.to_string()))
    }

    /// Fails with the first asynchronous GPU error or device loss seen so far.
    pub(crate) fn check_device(&self) -> Result<()> {
        if let Some(m) = self
            .device_lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Err(RenderError::DeviceLost(m));
        }
        if let Some(m) = self
            .gpu_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            return Err(RenderError::Gpu(m));
        }
        Ok(())
    }

    fn create_frame_textures(&self, size: Size) -> FrameTextures {
        let make = |label, w, h| {
            self.device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: extent(Size::new(w, h)),
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::R8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        };
        let y = make("wzp-render y", size.width, size.height);
        let u = make("wzp-render u", size.width / 2, size.height / 2);
        let v = make("wzp-render v", size.width / 2, size.height / 2);
        let view = |t: &wgpu::Texture| t.create_view(&wgpu::TextureViewDescriptor::default());
        let (yv, uv, vv) = (view(&y), view(&u), view(&v));
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("wzp-render frame"),
            layout: &self.frame_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&yv),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&uv),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&vv),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        });
        FrameTextures {
            size,
            color: crate::color::ColorSpace::default(),
            y,
            u,
            v,
            bind_group,
        }
    }

    /// Checks a target size against the device.
    pub(crate) fn check_target_size(&self, size: Size) -> Result<()> {
        let max = self.device.limits().max_texture_dimension_2d;
        let bad = |reason| {
            Err(RenderError::BadTargetSize {
                width: size.width,
                height: size.height,
                reason,
            })
        };
        if size.is_empty() {
            return bad("zero size");
        }
        if size.width > max || size.height > max {
            return bad("larger than the device's max_texture_dimension_2d");
        }
        Ok(())
    }

    /// The offscreen target for `size`, reused when the size is unchanged. Taken out of
    /// `self` while drawing (so the scene can borrow the rest) and put back after.
    fn offscreen_target(&mut self, size: Size) -> Result<OffscreenTarget> {
        self.check_target_size(size)?;
        if let Some(t) = self.offscreen.take() {
            if t.size == size {
                return Ok(t);
            }
        }
        tracing::debug!(
            width = size.width,
            height = size.height,
            "wzp-render: new offscreen target"
        );
        let texture = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("wzp-render offscreen"),
            size: extent(size),
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: OFFSCREEN_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let padded_bytes_per_row = padded_bytes_per_row(size.width);
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wzp-render readback"),
            size: u64::from(padded_bytes_per_row) * u64::from(size.height),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        Ok(OffscreenTarget {
            size,
            texture,
            view,
            readback,
            padded_bytes_per_row,
        })
    }

    fn read_back(&self, target: &OffscreenTarget) -> Result<RgbaImage> {
        let (tx, rx) = std::sync::mpsc::channel();
        target
            .readback
            .map_async(wgpu::MapMode::Read, .., move |r| {
                // The receiver only goes away if read_back already returned.
                let _ = tx.send(r);
            });
        self.wait_idle()?;
        match rx.try_recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(RenderError::Readback(e.to_string())),
            Err(_) => return Err(RenderError::Readback("buffer map never completed".into())),
        }
        let size = target.size;
        let row = size.width as usize * 4;
        let mut data = Vec::with_capacity(row * size.height as usize);
        {
            let mapped = target
                .readback
                .get_mapped_range(..)
                .map_err(|e| RenderError::Readback(e.to_string()))?;
            for chunk in mapped
                .chunks(target.padded_bytes_per_row as usize)
                .take(size.height as usize)
            {
                data.extend_from_slice(&chunk[..row]);
            }
        }
        target.readback.unmap();
        RgbaImage::from_raw(size.width, size.height, data)
            .ok_or_else(|| RenderError::Readback("short readback".into()))
    }

    /// The pipeline drawing into `format`, built on first use.
    fn ensure_pipeline(&mut self, format: wgpu::TextureFormat) {
        if self.pipelines.contains_key(&format) {
            return;
        }
        tracing::debug!(?format, "wzp-render: building pipeline");
        let pipeline = self
            .device
            .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("wzp-render yuv"),
                layout: Some(&self.pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &self.shader,
                    entry_point: Some("vs_main"),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &self.shader,
                    entry_point: Some("fs_main"),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format,
                        blend: Some(wgpu::BlendState::REPLACE),
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            });
        self.pipelines.insert(format, pipeline);
    }

    /// Records one render pass: clear to the background, then every placement whose
    /// frame is present, in order.
    pub(crate) fn encode_scene(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        view: &wgpu::TextureView,
        format: wgpu::TextureFormat,
        target: Size,
        scene: &Scene,
    ) {
        self.ensure_pipeline(format);
        // Uniforms for every drawable placement, one aligned slot each.
        self.draws.clear();
        self.scratch.clear();
        let (tw, th) = (target.width as f32, target.height as f32);
        for p in &scene.tiles {
            let Some(frame) = self.frames.get(&p.id) else {
                tracing::trace!(tile = p.id.0, "wzp-render: no frame yet, tile skipped");
                continue;
            };
            let fitted = p.resolve(frame.size);
            if !fitted.dst.is_drawable() {
                continue;
            }
            let Rect {
                x,
                y,
                width,
                height,
            } = fitted.dst;
            let c = frame.color.shader_params();
            let values = [
                x / tw * 2.0 - 1.0,
                1.0 - y / th * 2.0,
                (x + width) / tw * 2.0 - 1.0,
                1.0 - (y + height) / th * 2.0,
                fitted.src.u0,
                fitted.src.v0,
                fitted.src.u1,
                fitted.src.v1,
                c[0],
                c[1],
                c[2],
                c[3],
                c[4],
                c[5],
                c[6],
                c[7],
            ];
            let slot = self.draws.len() as u64 * self.uniforms.stride;
            self.scratch.resize(slot as usize, 0);
            for v in values {
                self.scratch.extend_from_slice(&v.to_le_bytes());
            }
            // Dynamic offsets are u32; a scene never has anywhere near 4 GiB of tiles.
            self.draws
                .push((p.id, u32::try_from(slot).unwrap_or(u32::MAX)));
        }
        if self.draws.len() > self.uniforms.capacity {
            self.uniforms = UniformSlots::new(
                &self.device,
                &self.tile_layout,
                self.draws.len().next_power_of_two(),
            );
        }
        if !self.scratch.is_empty() {
            self.queue
                .write_buffer(&self.uniforms.buffer, 0, &self.scratch);
        }

        let bg = scene.background;
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("wzp-render scene"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color {
                        r: f64::from(bg.r) / 255.0,
                        g: f64::from(bg.g) / 255.0,
                        b: f64::from(bg.b) / 255.0,
                        a: 1.0,
                    }),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        let Some(pipeline) = self.pipelines.get(&format) else {
            return;
        };
        pass.set_pipeline(pipeline);
        for (id, offset) in &self.draws {
            if let Some(frame) = self.frames.get(id) {
                pass.set_bind_group(0, &self.uniforms.bind_group, &[*offset]);
                pass.set_bind_group(1, &frame.bind_group, &[]);
                pass.draw(0..6, 0..1);
            }
        }
    }
}

impl UniformSlots {
    fn new(device: &wgpu::Device, layout: &wgpu::BindGroupLayout, capacity: usize) -> Self {
        let align = u64::from(device.limits().min_uniform_buffer_offset_alignment.max(1));
        let stride = TILE_UNIFORM_BYTES.div_ceil(align) * align;
        let capacity = capacity.max(1);
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wzp-render tiles"),
            size: stride * capacity as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("wzp-render tiles"),
            layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(TILE_UNIFORM_BYTES),
                }),
            }],
        });
        Self {
            buffer,
            bind_group,
            stride,
            capacity,
        }
    }
}

/// Asks `instance` for an adapter, optionally one that can present to `surface`.
pub(crate) async fn request_adapter(
    instance: &wgpu::Instance,
    options: &RendererOptions,
    surface: Option<&wgpu::Surface<'_>>,
) -> Result<wgpu::Adapter> {
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: options.power_preference,
            force_fallback_adapter: options.force_fallback_adapter,
            compatible_surface: surface,
            ..Default::default()
        })
        .await
        .map_err(|source| RenderError::NoAdapter {
            backends: format!("{:?}", options.backends.with_env()),
            source,
        })
}

fn write_plane(
    queue: &wgpu::Queue,
    texture: &wgpu::Texture,
    plane: Plane<'_>,
    width: u32,
    rows: u32,
) {
    let need = plane_bytes_needed(plane.stride, width as usize, rows as usize);
    // I420Planes checked the stride and the length; a stride above u32 cannot pass
    // the 4096 size limit with a real allocation, but refuse it quietly all the same.
    let (Some(data), Ok(stride)) = (plane.data.get(..need), u32::try_from(plane.stride)) else {
        return;
    };
    queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(stride),
            rows_per_image: Some(rows),
        },
        extent(Size::new(width, rows)),
    );
}

fn extent(size: Size) -> wgpu::Extent3d {
    wgpu::Extent3d {
        width: size.width,
        height: size.height,
        depth_or_array_layers: 1,
    }
}

/// Bytes per row of a texture-to-buffer copy of an RGBA8 image `width` wide: wgpu
/// needs each row to start at a multiple of 256 bytes.
#[must_use]
pub fn padded_bytes_per_row(width: u32) -> u32 {
    let align = wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    (width * 4).div_ceil(align) * align
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readback_rows_are_256_byte_aligned() {
        assert_eq!(padded_bytes_per_row(64), 256);
        assert_eq!(padded_bytes_per_row(65), 512);
        assert_eq!(padded_bytes_per_row(1280), 5120);
        assert_eq!(padded_bytes_per_row(1), 256);
    }
}
