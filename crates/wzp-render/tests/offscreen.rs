//! GPU tests: known I420 colours and patterns drawn offscreen and read back.
//!
//! They run on whatever adapter wgpu finds; on CI and on developer machines without a
//! GPU that is Mesa's lavapipe (Vulkan) or llvmpipe (GL). No adapter at all is a test
//! failure with a message saying what to install, never a silent skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use wzp_render::{
    Corner, Fit, GridOptions, I420Planes, Placement, Plane, Rect, RenderError, Renderer,
    RendererOptions, RgbaImage, Scene, SelfViewOptions, Size, TileId, bt601_limited_to_rgb, grid,
    self_view,
};
use wzp_video::I420Frame;

/// One renderer for all tests (opening a device on a software rasteriser takes a
/// while); the mutex also keeps uploads and draws of parallel tests apart.
fn renderer() -> MutexGuard<'static, Renderer> {
    static RENDERER: OnceLock<Mutex<Renderer>> = OnceLock::new();
    RENDERER
        .get_or_init(|| {
            let r = Renderer::offscreen(&RendererOptions::default()).unwrap_or_else(|e| {
                panic!(
                    "wzp-render GPU tests need a wgpu adapter and found none: {e}\n\
                     On Debian/Ubuntu without a GPU install Mesa's lavapipe: \
                     apt-get install mesa-vulkan-drivers libvulkan1 (scripts/setup.sh does)."
                )
            });
            eprintln!("wzp-render tests on {:?}", r.adapter_info());
            Mutex::new(r)
        })
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// BT.601 limited-range YUV of a few colours.
const RED: (u8, u8, u8) = (81, 90, 240);
const GREEN: (u8, u8, u8) = (145, 54, 34);
const BLUE: (u8, u8, u8) = (41, 240, 110);
const WHITE: (u8, u8, u8) = (235, 128, 128);
const BLACK: (u8, u8, u8) = (16, 128, 128);

const TOLERANCE: u8 = 3;

fn rgb((y, u, v): (u8, u8, u8)) -> [u8; 3] {
    bt601_limited_to_rgb(y, u, v)
}

fn bg() -> [u8; 3] {
    let b = Scene::DEFAULT_BACKGROUND;
    [b.r, b.g, b.b]
}

fn solid(width: u32, height: u32, (y, u, v): (u8, u8, u8)) -> I420Frame {
    let (l, c) = ((width * height) as usize, (width * height / 4) as usize);
    I420Frame::from_planes(width, height, vec![y; l], vec![u; c], vec![v; c]).unwrap()
}

/// Red top left, green top right, blue bottom left, white bottom right.
fn quadrants(width: u32, height: u32) -> I420Frame {
    let mut f = I420Frame::new(width, height).unwrap();
    let colour = |x: u32, y: u32, w: u32, h: u32| match (x < w / 2, y < h / 2) {
        (true, true) => RED,
        (false, true) => GREEN,
        (true, false) => BLUE,
        (false, false) => WHITE,
    };
    let (yp, up, vp) = f.planes_mut();
    for y in 0..height {
        for x in 0..width {
            yp[(y * width + x) as usize] = colour(x, y, width, height).0;
        }
    }
    let (cw, ch) = (width / 2, height / 2);
    for y in 0..ch {
        for x in 0..cw {
            let (_, u, v) = colour(x, y, cw, ch);
            up[(y * cw + x) as usize] = u;
            vp[(y * cw + x) as usize] = v;
        }
    }
    f
}

#[track_caller]
fn assert_px(img: &RgbaImage, x: u32, y: u32, want: [u8; 3]) {
    let p = img.pixel(x, y).expect("pixel inside the image");
    let ok = p[..3]
        .iter()
        .zip(want)
        .all(|(a, b)| a.abs_diff(b) <= TOLERANCE);
    assert!(
        ok,
        "pixel ({x},{y}) is {p:?}, want {want:?} within {TOLERANCE}"
    );
    assert_eq!(p[3], 255, "pixel ({x},{y}) alpha");
}

fn one_tile(id: TileId, rect: Rect) -> Scene {
    Scene {
        tiles: vec![Placement::at(id, rect)],
        ..Scene::new()
    }
}

#[test]
fn solid_colours_convert_with_bt601_limited_range() {
    let mut r = renderer();
    let size = Size::new(64, 48);
    let id = TileId(100);
    for colour in [RED, GREEN, BLUE, WHITE, BLACK] {
        r.upload(id, &solid(64, 48, colour)).unwrap();
        let img = r
            .render_offscreen(&one_tile(id, Rect::full(size)), size)
            .unwrap();
        assert_eq!((img.width(), img.height(), img.stride()), (64, 48, 256));
        for (x, y) in [(32, 24), (0, 0), (63, 47), (10, 40)] {
            assert_px(&img, x, y, rgb(colour));
        }
    }
    // The reference itself: these are the primaries.
    assert!(rgb(RED)[0] >= 253 && rgb(RED)[1] <= 2 && rgb(RED)[2] <= 2);
    assert_eq!(rgb(WHITE), [255, 255, 255]);
}

#[test]
fn quadrants_stay_in_place_when_scaled_up() {
    let mut r = renderer();
    let id = TileId(101);
    r.upload(id, &quadrants(64, 48)).unwrap();
    let size = Size::new(128, 96);
    let img = r
        .render_offscreen(&one_tile(id, Rect::full(size)), size)
        .unwrap();
    assert_px(&img, 32, 24, rgb(RED));
    assert_px(&img, 96, 24, rgb(GREEN));
    assert_px(&img, 32, 72, rgb(BLUE));
    assert_px(&img, 96, 72, rgb(WHITE));
    // Odd target width: rows are padded to 256 bytes on the GPU and unpadded here.
    let odd = Size::new(70, 30);
    let img = r
        .render_offscreen(&one_tile(id, Rect::full(odd)), odd)
        .unwrap();
    assert_eq!(img.as_bytes().len(), 70 * 30 * 4);
    // A 4:3 frame in 70x30 is 40 wide, pillarboxed from x = 15 to 55.
    assert_px(&img, 16, 1, rgb(RED));
    assert_px(&img, 54, 28, rgb(WHITE));
    assert_px(&img, 69, 29, bg());
    assert_px(&img, 13, 0, bg());
}

#[test]
fn two_tiles_sit_side_by_side_with_letterbox_bars() {
    let mut r = renderer();
    let (a, b) = (TileId(102), TileId(103));
    r.upload(a, &solid(64, 48, RED)).unwrap();
    r.upload(b, &solid(64, 48, BLUE)).unwrap();
    // 320x90 in two 160x90 cells; a 4:3 frame is 120 wide there, 20 px bars each side.
    let size = Size::new(320, 90);
    let scene = Scene {
        tiles: grid(
            size,
            &[a, b],
            GridOptions {
                gap: 0.0,
                fit: Fit::Contain,
            },
        ),
        ..Scene::new()
    };
    let img = r.render_offscreen(&scene, size).unwrap();
    assert_px(&img, 80, 45, rgb(RED));
    assert_px(&img, 22, 45, rgb(RED));
    assert_px(&img, 240, 45, rgb(BLUE));
    for x in [2, 17, 143, 159, 160, 177, 303, 318] {
        assert_px(&img, x, 45, bg());
    }
}

#[test]
fn self_view_is_a_mirrored_picture_in_picture() {
    let mut r = renderer();
    let (remote, me) = (TileId(104), TileId(105));
    r.upload(remote, &solid(64, 48, BLACK)).unwrap();
    r.upload(me, &quadrants(64, 48)).unwrap();
    let size = Size::new(128, 96);
    let options = SelfViewOptions {
        corner: Corner::BottomRight,
        width_fraction: 0.5,
        max_height_fraction: 1.0,
        margin: 0.0,
        mirror: true,
    };
    let pip = self_view(me, size, r.frame_size(me).unwrap(), options);
    assert_eq!(pip.rect, Rect::new(64.0, 48.0, 64.0, 48.0));
    let scene = Scene {
        tiles: vec![Placement::at(remote, Rect::full(size)), pip],
        ..Scene::new()
    };
    let img = r.render_offscreen(&scene, size).unwrap();
    // The remote tile shows around the self-view.
    assert_px(&img, 32, 24, rgb(BLACK));
    assert_px(&img, 100, 20, rgb(BLACK));
    // Mirrored: the left half of the self-view shows the camera's right half.
    assert_px(&img, 80, 60, rgb(GREEN));
    assert_px(&img, 112, 60, rgb(RED));
    assert_px(&img, 80, 84, rgb(WHITE));
    assert_px(&img, 112, 84, rgb(BLUE));

    let unmirrored = Scene {
        tiles: vec![pip.mirrored(false)],
        ..Scene::new()
    };
    let img = r.render_offscreen(&unmirrored, size).unwrap();
    assert_px(&img, 80, 60, rgb(RED));
    assert_px(&img, 112, 60, rgb(GREEN));
    assert_px(&img, 32, 24, bg());
}

#[test]
fn explicit_rect_and_cover_fit() {
    let mut r = renderer();
    let id = TileId(106);
    r.upload(id, &quadrants(64, 48)).unwrap();
    let size = Size::new(64, 48);
    // A tile placed where the UI says, not where the grid would.
    let img = r
        .render_offscreen(&one_tile(id, Rect::new(10.0, 8.0, 32.0, 24.0)), size)
        .unwrap();
    assert_px(&img, 18, 14, rgb(RED));
    assert_px(&img, 34, 26, rgb(WHITE));
    for (x, y) in [(5, 5), (50, 40), (45, 20), (20, 35)] {
        assert_px(&img, x, y, bg());
    }
    // Cover: a 4:3 frame in a 48x48 square is cropped left and right, not barred.
    let square = Size::new(48, 48);
    let scene = Scene {
        tiles: vec![Placement::at(id, Rect::full(square)).with_fit(Fit::Cover)],
        ..Scene::new()
    };
    let img = r.render_offscreen(&scene, square).unwrap();
    assert_px(&img, 1, 24 - 13, rgb(RED));
    assert_px(&img, 46, 24 - 13, rgb(GREEN));
    assert_px(&img, 1, 24 + 13, rgb(BLUE));
}

#[test]
fn textures_follow_frame_size_changes() {
    let mut r = renderer();
    let id = TileId(107);
    let size = Size::new(32, 24);
    let scene = one_tile(id, Rect::full(size));
    r.upload(id, &solid(64, 48, RED)).unwrap();
    assert_px(&r.render_offscreen(&scene, size).unwrap(), 16, 12, rgb(RED));
    r.upload(id, &solid(64, 48, GREEN)).unwrap(); // same size: textures reused
    assert_px(
        &r.render_offscreen(&scene, size).unwrap(),
        16,
        12,
        rgb(GREEN),
    );
    r.upload(id, &solid(16, 12, BLUE)).unwrap(); // new size: textures recreated
    assert_eq!(r.frame_size(id), Some(Size::new(16, 12)));
    assert_px(
        &r.render_offscreen(&scene, size).unwrap(),
        16,
        12,
        rgb(BLUE),
    );
    assert!(r.remove(id));
    assert_eq!(r.frame_size(id), None);
    // A tile without a frame leaves the background.
    assert_px(&r.render_offscreen(&scene, size).unwrap(), 16, 12, bg());
}

#[test]
fn strided_planes_render_like_packed_ones() {
    let mut r = renderer();
    let id = TileId(108);
    let (w, h, pad) = (16usize, 12usize, 7usize);
    // Padding bytes hold a colour that would show if they were sampled.
    let mut y = vec![255u8; (w + pad) * h];
    let mut u = vec![0u8; (w / 2 + pad) * (h / 2)];
    let mut v = vec![0u8; (w / 2 + pad) * (h / 2)];
    for row in 0..h {
        y[row * (w + pad)..row * (w + pad) + w].fill(GREEN.0);
    }
    for row in 0..h / 2 {
        let s = row * (w / 2 + pad);
        u[s..s + w / 2].fill(GREEN.1);
        v[s..s + w / 2].fill(GREEN.2);
    }
    let planes = I420Planes::new(
        16,
        12,
        Plane {
            data: &y,
            stride: w + pad,
        },
        Plane {
            data: &u,
            stride: w / 2 + pad,
        },
        Plane {
            data: &v,
            stride: w / 2 + pad,
        },
    )
    .unwrap();
    r.upload(id, planes).unwrap();
    let size = Size::new(32, 24);
    let img = r
        .render_offscreen(&one_tile(id, Rect::full(size)), size)
        .unwrap();
    for (x, yy) in [(0, 0), (31, 0), (31, 23), (16, 12)] {
        assert_px(&img, x, yy, rgb(GREEN));
    }
}

#[test]
fn bad_targets_and_surface_calls_are_errors_not_panics() {
    let mut r = renderer();
    let scene = Scene::new();
    for size in [Size::new(0, 10), Size::new(10, 0), Size::new(1 << 20, 4)] {
        let e = r.render_offscreen(&scene, size).unwrap_err();
        assert!(
            matches!(e, RenderError::BadTargetSize { .. }),
            "{size:?}: {e}"
        );
    }
    assert!(matches!(r.present(&scene), Err(RenderError::NoSurface)));
    assert!(matches!(
        r.resize(Size::new(8, 8)),
        Err(RenderError::NoSurface)
    ));
    assert_eq!(r.surface_size(), None);
    // Rectangles from the UI that make no sense draw nothing.
    r.upload(TileId(109), &solid(4, 4, RED)).unwrap();
    let junk = Scene {
        tiles: vec![
            Placement::at(TileId(109), Rect::new(f32::NAN, 0.0, 4.0, 4.0)),
            Placement::at(TileId(109), Rect::new(0.0, 0.0, -4.0, 4.0)),
            Placement::at(TileId(109), Rect::new(1e9, 1e9, 4.0, 4.0)),
        ],
        ..Scene::new()
    };
    let img = r.render_offscreen(&junk, Size::new(8, 8)).unwrap();
    assert_px(&img, 2, 2, bg());
    // Still healthy afterwards.
    r.draw_offscreen(&junk, Size::new(8, 8)).unwrap();
}

#[test]
fn many_tiles_grow_the_uniform_slots() {
    let mut r = renderer();
    let ids: Vec<TileId> = (200..216).map(TileId).collect();
    let colours = [RED, GREEN, BLUE, WHITE];
    for (i, id) in ids.iter().enumerate() {
        r.upload(*id, &solid(8, 6, colours[i % 4])).unwrap();
    }
    let size = Size::new(128, 96);
    let placements = grid(
        size,
        &ids,
        GridOptions {
            gap: 0.0,
            fit: Fit::Contain,
        },
    );
    let scene = Scene {
        tiles: placements.clone(),
        ..Scene::new()
    };
    let img = r.render_offscreen(&scene, size).unwrap();
    for (i, p) in placements.iter().enumerate() {
        let (cx, cy) = p.rect.center();
        assert_px(&img, cx as u32, cy as u32, rgb(colours[i % 4]));
    }
}

#[test]
fn no_backend_means_a_clear_no_adapter_error() {
    if std::env::var_os("WGPU_BACKEND").is_some() {
        return; // the variable would override the empty backend set
    }
    let options = RendererOptions {
        backends: wzp_render::wgpu::Backends::empty(),
        ..RendererOptions::default()
    };
    let e = Renderer::offscreen(&options).unwrap_err();
    assert!(matches!(e, RenderError::NoAdapter { .. }), "{e}");
    assert!(e.to_string().contains("mesa-vulkan-drivers"), "{e}");
}

#[test]
fn renderer_can_move_to_a_render_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Renderer>();
}

#[test]
fn a_placeholder_tile_shows_the_disc_colour_and_white_initials() {
    let color = wzp_render::placeholder_color("aa:bb:cc");
    let frame = wzp_render::placeholder_frame("AL", color, 160, 96).unwrap();
    let mut r = renderer();
    let id = TileId(900);
    r.upload(id, &frame).unwrap();
    let size = Size::new(160, 96);
    let scene = Scene {
        tiles: vec![Placement::at(id, Rect::full(size))],
        ..Scene::new()
    };
    let img = r.render_offscreen(&scene, size).unwrap();
    r.remove(id);
    let px = |x: u32, y: u32| {
        let p = img.pixel(x, y).unwrap();
        [p[0], p[1], p[2]]
    };
    let near = |a: [u8; 3], b: [u8; 3], tol: u8| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tol);
    // The disc, just inside its top edge (radius 0.36 x 96 = 34 px around the centre).
    assert!(
        near(px(80, 48 - 30), color, 6),
        "{:?} vs {color:?}",
        px(80, 48 - 30)
    );
    // Some white text pixels in the middle.
    let white = (30..66)
        .flat_map(|y| (50..110).map(move |x| (x, y)))
        .filter(|&(x, y)| px(x, y).iter().all(|&c| c > 230))
        .count();
    assert!(white > 40, "white text pixels: {white}");
}

#[test]
fn bt709_and_full_range_frames_convert_with_their_own_matrix() {
    // BT.709 limited-range red, and a full-range mid grey-blue, each compared with the
    // CPU reference for its colour space (and not the BT.601 one).
    let cases = [
        (wzp_render::ColorSpace::Bt709Limited, (63u8, 102u8, 240u8)),
        (wzp_render::ColorSpace::Bt601Full, (100, 170, 110)),
        (wzp_render::ColorSpace::Bt709Full, (180, 90, 200)),
    ];
    let mut r = renderer();
    for (i, (cs, (y, u, v))) in cases.into_iter().enumerate() {
        let frame = solid(64, 48, (y, u, v));
        let planes = I420Planes::from(&frame).with_color(cs);
        let id = TileId(800 + i as u64);
        r.upload(id, planes).unwrap();
        let size = Size::new(64, 48);
        let scene = Scene {
            tiles: vec![Placement::at(id, Rect::full(size))],
            ..Scene::new()
        };
        let img = r.render_offscreen(&scene, size).unwrap();
        r.remove(id);
        let p = img.pixel(32, 24).unwrap();
        let want = cs.to_rgb(y, u, v);
        let got = [p[0], p[1], p[2]];
        assert!(
            got.iter()
                .zip(want)
                .all(|(a, b)| a.abs_diff(b) <= TOLERANCE),
            "{cs:?}: got {got:?}, want {want:?}"
        );
        if cs != wzp_render::ColorSpace::Bt601Limited {
            assert_ne!(want, rgb((y, u, v)), "{cs:?} differs from BT.601 limited");
        }
    }
}
