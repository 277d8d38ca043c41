//! Renderer cost on whatever adapter wgpu finds (on CI machines: lavapipe, on the CPU).
//!
//! `cargo bench -p wzp-render --bench render`
//!
//! - `offscreen_720p_upload_draw_readback`: one 1280x720 frame uploaded, drawn full
//!   target, and read back to the CPU (what a screenshot or a pixel test costs).
//! - `four_tiles_upload_draw`: four 640x360 frames uploaded and drawn as a 2x2 call
//!   grid into a 1280x720 target, waiting for the GPU but not reading back (what one
//!   displayed frame of a 4-person call costs, minus the present).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use wzp_render::{
    GridOptions, Placement, Rect, Renderer, RendererOptions, Scene, Size, TileId, grid,
};
use wzp_video::I420Frame;

fn pattern(width: u32, height: u32, seed: u8) -> I420Frame {
    let mut f = I420Frame::new(width, height).unwrap();
    let (y, u, v) = f.planes_mut();
    for (i, p) in y.iter_mut().enumerate() {
        *p = (i as u8).wrapping_mul(3).wrapping_add(seed);
    }
    u.fill(90u8.wrapping_add(seed));
    v.fill(200);
    f
}

fn bench(c: &mut Criterion) {
    let mut r =
        Renderer::offscreen(&RendererOptions::default()).expect("a wgpu adapter (lavapipe on CI)");
    eprintln!("adapter: {:?}", r.adapter_info());
    let hd = Size::new(1280, 720);

    let frame = pattern(1280, 720, 0);
    let one = Scene {
        tiles: vec![Placement::at(TileId(0), Rect::full(hd))],
        ..Scene::new()
    };
    c.bench_function("offscreen_720p_upload_draw_readback", |b| {
        b.iter(|| {
            r.upload(TileId(0), &frame).unwrap();
            r.render_offscreen(&one, hd).unwrap()
        });
    });

    let ids = [TileId(1), TileId(2), TileId(3), TileId(4)];
    let frames: Vec<I420Frame> = (0..4u8).map(|i| pattern(640, 360, i * 40)).collect();
    let four = Scene {
        tiles: grid(hd, &ids, GridOptions::default()),
        ..Scene::new()
    };
    c.bench_function("four_tiles_upload_draw", |b| {
        b.iter(|| {
            for (id, f) in ids.iter().zip(&frames) {
                r.upload(*id, f).unwrap();
            }
            r.draw_offscreen(&four, hd).unwrap();
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
