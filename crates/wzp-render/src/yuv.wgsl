// I420 -> RGB for one tile. Three R8Unorm textures (Y full size, U and V at half
// size) are sampled with one bilinear sampler; the chroma planes are upsampled by
// the sampler. The range and matrix come per tile (color.rs, ColorSpace).

struct Tile {
    // Destination corners in clip space: x0, y0 (top left), x1, y1 (bottom right).
    dst: vec4<f32>,
    // Source region in texture coordinates: u0, v0, u1, v1 (u0 > u1 when mirrored).
    src: vec4<f32>,
    // Range: y offset, y scale, chroma scale, unused.
    range: vec4<f32>,
    // Matrix: R from Cr, G from Cb, G from Cr, B from Cb.
    matrix: vec4<f32>,
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

const C_OFFSET: f32 = 0.5019608;   // 128 / 255

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let y = (textureSample(tex_y, samp, in.uv).r - tile.range.x) * tile.range.y;
    let cb = (textureSample(tex_u, samp, in.uv).r - C_OFFSET) * tile.range.z;
    let cr = (textureSample(tex_v, samp, in.uv).r - C_OFFSET) * tile.range.z;
    let rgb = vec3<f32>(
        y + tile.matrix.x * cr,
        y + tile.matrix.y * cb + tile.matrix.z * cr,
        y + tile.matrix.w * cb,
    );
    return vec4<f32>(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}
