// I420 -> RGB for one tile. Three R8Unorm textures (Y full size, U and V at half
// size) are sampled with one bilinear sampler; the chroma planes are upsampled by
// the sampler. See color.rs for the matrix (BT.601, limited range).

struct Tile {
    // Destination corners in clip space: x0, y0 (top left), x1, y1 (bottom right).
    dst: vec4<f32>,
    // Source region in texture coordinates: u0, v0, u1, v1 (u0 > u1 when mirrored).
    src: vec4<f32>,
};

@group(0) @binding(0) var<uniform> tile: Tile;
@group(1) @binding(0) var tex_y: texture_2d<f32>;
@group(1) @binding(1) var tex_u: texture_2d<f32>;
@group(1) @binding(2) var tex_v: texture_2d<f32>;
@group(1) @binding(3) var samp: sampler;

struct VsOut {
    @builtin(position) pos: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// Two triangles covering the tile; no vertex buffer.
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VsOut {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    );
    let c = corners[index];
    var out: VsOut;
    out.pos = vec4<f32>(mix(tile.dst.x, tile.dst.z, c.x), mix(tile.dst.y, tile.dst.w, c.y), 0.0, 1.0);
    out.uv = vec2<f32>(mix(tile.src.x, tile.src.z, c.x), mix(tile.src.y, tile.src.w, c.y));
    return out;
}

// Limited ("studio") range: Y in 16..235, Cb/Cr in 16..240 around 128.
const Y_OFFSET: f32 = 0.0627451;   // 16 / 255
const C_OFFSET: f32 = 0.5019608;   // 128 / 255
const Y_SCALE: f32 = 1.1643836;    // 255 / 219
const C_SCALE: f32 = 1.1383929;    // 255 / 224

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let y = (textureSample(tex_y, samp, in.uv).r - Y_OFFSET) * Y_SCALE;
    let cb = (textureSample(tex_u, samp, in.uv).r - C_OFFSET) * C_SCALE;
    let cr = (textureSample(tex_v, samp, in.uv).r - C_OFFSET) * C_SCALE;
    // BT.601: Kr = 0.299, Kb = 0.114.
    let rgb = vec3<f32>(
        y + 1.402 * cr,
        y - 0.3441363 * cb - 0.7141363 * cr,
        y + 1.772 * cb,
    );
    return vec4<f32>(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}
