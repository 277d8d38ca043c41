//! Where tiles go: a call grid, explicit rectangles from the UI, and the self-view.
//!
//! Sans-IO and GPU-free: plain functions from sizes to rectangles, so the layout rules
//! are unit-tested without an adapter. The renderer applies [`fit`] at draw time with
//! the size of the frame it actually holds, so a participant whose resolution changes
//! mid-call (the rate ladder does that) keeps the right aspect without a new layout.

/// Identifies one video stream on screen: a participant, or the local camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId(pub u64);

/// A size in whole pixels (frames, targets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Size {
    /// Shorthand for `Size { width, height }`.
    #[must_use]
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// True when either side is zero (nothing to draw into or from).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }
}

/// A rectangle in target pixels: origin at the top-left, y down, as the DOM's
/// `getBoundingClientRect()` gives it. Fractional values are fine.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width (a rectangle with a width or height <= 0 draws nothing).
    pub width: f32,
    /// Height.
    pub height: f32,
}

impl Rect {
    /// Shorthand for `Rect { x, y, width, height }`.
    #[must_use]
    pub const fn new(x: f32, y: f32, width: f32, height: f32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// The whole of a target.
    #[must_use]
    pub fn full(target: Size) -> Self {
        Self::new(0.0, 0.0, target.width as f32, target.height as f32)
    }

    /// True when it has a positive, finite area (the only rectangles that get drawn;
    /// anything else from the UI is skipped rather than trusted).
    #[must_use]
    pub fn is_drawable(&self) -> bool {
        [self.x, self.y, self.width, self.height]
            .iter()
            .all(|v| v.is_finite())
            && self.width > 0.0
            && self.height > 0.0
    }

    /// Centre point `(x, y)`.
    #[must_use]
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }
}

/// How a frame fills its rectangle when the aspect ratios differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fit {
    /// The whole picture, centred, with background bars on two sides (letterbox or
    /// pillarbox). Nothing of the sender's picture is hidden.
    #[default]
    Contain,
    /// The rectangle filled, the picture centred and cropped on two sides.
    Cover,
}

/// The part of a frame that is sampled, in texture coordinates (0..1, origin top-left).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UvRect {
    /// Left edge (0 = the frame's left).
    pub u0: f32,
    /// Top edge.
    pub v0: f32,
    /// Right edge (1 = the frame's right).
    pub u1: f32,
    /// Bottom edge.
    pub v1: f32,
}

impl UvRect {
    /// The whole frame.
    pub const FULL: Self = Self {
        u0: 0.0,
        v0: 0.0,
        u1: 1.0,
        v1: 1.0,
    };

    /// The same region flipped left to right (swapped `u0`/`u1`), which is how a
    /// mirrored self-view is drawn.
    #[must_use]
    pub fn mirrored(self) -> Self {
        Self {
            u0: self.u1,
            u1: self.u0,
            ..self
        }
    }
}

/// Result of [`fit`]: where the picture lands and which part of it is shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fitted {
    /// Destination in target pixels (inside the cell for [`Fit::Contain`], the cell for
    /// [`Fit::Cover`]).
    pub dst: Rect,
    /// Source region of the frame.
    pub src: UvRect,
}

/// Fits a frame of size `frame` into `cell`.
///
/// A frame with a zero side, or a cell that is not drawable, gives the cell with the
/// full frame (the renderer skips non-drawable rectangles anyway).
#[must_use]
pub fn fit(frame: Size, cell: Rect, how: Fit) -> Fitted {
    let whole = Fitted {
        dst: cell,
        src: UvRect::FULL,
    };
    if frame.is_empty() || !cell.is_drawable() {
        return whole;
    }
    let frame_aspect = frame.width as f32 / frame.height as f32;
    let cell_aspect = cell.width / cell.height;
    match how {
        Fit::Contain => {
            let (w, h) = if frame_aspect > cell_aspect {
                (cell.width, cell.width / frame_aspect)
            } else {
                (cell.height * frame_aspect, cell.height)
            };
            Fitted {
                dst: Rect::new(
                    cell.x + (cell.width - w) / 2.0,
                    cell.y + (cell.height - h) / 2.0,
                    w,
                    h,
                ),
                src: UvRect::FULL,
            }
        }
        Fit::Cover => {
            let src = if frame_aspect > cell_aspect {
                // Frame wider than the cell: crop left and right.
                let shown = cell_aspect / frame_aspect;
                let m = (1.0 - shown) / 2.0;
                UvRect {
                    u0: m,
                    v0: 0.0,
                    u1: 1.0 - m,
                    v1: 1.0,
                }
            } else {
                let shown = frame_aspect / cell_aspect;
                let m = (1.0 - shown) / 2.0;
                UvRect {
                    u0: 0.0,
                    v0: m,
                    u1: 1.0,
                    v1: 1.0 - m,
                }
            };
            Fitted { dst: cell, src }
        }
    }
}

/// One tile to draw: which frame, into which rectangle, and how.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// The frame to draw (uploaded with [`crate::Renderer::upload`]). A placement whose
    /// frame has not arrived yet draws nothing, and the background shows.
    pub id: TileId,
    /// The cell in target pixels; the picture is fitted into it at draw time.
    pub rect: Rect,
    /// Letterbox or crop.
    pub fit: Fit,
    /// Flip left to right (the self-view, so that it moves like a mirror).
    pub mirror: bool,
}

impl Placement {
    /// A tile at an explicit rectangle (for example the pixel rect of a DOM element),
    /// letterboxed, not mirrored.
    #[must_use]
    pub fn at(id: TileId, rect: Rect) -> Self {
        Self {
            id,
            rect,
            fit: Fit::Contain,
            mirror: false,
        }
    }

    /// The same placement with another fit.
    #[must_use]
    pub fn with_fit(self, fit: Fit) -> Self {
        Self { fit, ..self }
    }

    /// The same placement, mirrored or not.
    #[must_use]
    pub fn mirrored(self, mirror: bool) -> Self {
        Self { mirror, ..self }
    }

    /// Where the picture of a `frame`-sized frame lands and what part of it is sampled,
    /// mirroring included.
    #[must_use]
    pub fn resolve(&self, frame: Size) -> Fitted {
        let f = fit(frame, self.rect, self.fit);
        if self.mirror {
            Fitted {
                src: f.src.mirrored(),
                ..f
            }
        } else {
            f
        }
    }
}

/// Columns and rows of a call grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridShape {
    /// Tiles per row.
    pub cols: u32,
    /// Rows.
    pub rows: u32,
}

/// The grid a calling app uses for `count` tiles: 1 fills the target, 2 side by side,
/// 3-4 in 2x2, 5-6 in 3x2, 7-9 in 3x3, 10-12 in 4x3, 13-16 in 4x4, and so on
/// (`cols = ceil(sqrt(n))`). On a portrait target (taller than wide) rows and
/// columns swap, so two tiles stack.
#[must_use]
pub fn grid_shape(count: usize, target: Size) -> GridShape {
    if count == 0 {
        return GridShape { cols: 0, rows: 0 };
    }
    let n = u32::try_from(count).unwrap_or(u32::MAX);
    let mut cols = 1u32;
    while cols.saturating_mul(cols) < n {
        cols += 1;
    }
    let rows = n.div_ceil(cols);
    if target.height > target.width {
        GridShape {
            cols: rows,
            rows: cols,
        }
    } else {
        GridShape { cols, rows }
    }
}

/// Options for [`grid`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridOptions {
    /// Space between cells and around the edge, in pixels.
    pub gap: f32,
    /// How each frame fills its cell.
    pub fit: Fit,
}

impl Default for GridOptions {
    /// 8 px gaps and letterboxing: every participant's whole picture is visible.
    fn default() -> Self {
        Self {
            gap: 8.0,
            fit: Fit::Contain,
        }
    }
}

/// The cells of a grid of `count` tiles over `target`, in reading order. A last row
/// that is not full is centred, as calling apps do.
#[must_use]
pub fn grid_cells(target: Size, count: usize, gap: f32) -> Vec<Rect> {
    let shape = grid_shape(count, target);
    if count == 0 {
        return Vec::new();
    }
    let gap = if gap.is_finite() { gap.max(0.0) } else { 0.0 };
    let (cols, rows) = (shape.cols as f32, shape.rows as f32);
    let w = ((target.width as f32 - gap * (cols + 1.0)) / cols).max(0.0);
    let h = ((target.height as f32 - gap * (rows + 1.0)) / rows).max(0.0);
    let cols_n = shape.cols as usize;
    let mut cells = Vec::with_capacity(count);
    for i in 0..count {
        let row = i / cols_n;
        let col = i % cols_n;
        let in_this_row = (count - row * cols_n).min(cols_n);
        let shift = (cols_n - in_this_row) as f32 * (w + gap) / 2.0;
        cells.push(Rect::new(
            gap + col as f32 * (w + gap) + shift,
            gap + row as f32 * (h + gap),
            w,
            h,
        ));
    }
    cells
}

/// A call grid: one placement per id, in order, over the whole target.
#[must_use]
pub fn grid(target: Size, ids: &[TileId], options: GridOptions) -> Vec<Placement> {
    grid_cells(target, ids.len(), options.gap)
        .into_iter()
        .zip(ids)
        .map(|(rect, &id)| Placement::at(id, rect).with_fit(options.fit))
        .collect()
}

/// A corner of the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Corner {
    /// Top left.
    TopLeft,
    /// Top right.
    TopRight,
    /// Bottom left.
    BottomLeft,
    /// Bottom right, where most calling apps put the self-view.
    #[default]
    BottomRight,
}

/// Options for [`self_view`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelfViewOptions {
    /// Which corner.
    pub corner: Corner,
    /// Width of the picture-in-picture as a fraction of the target width.
    pub width_fraction: f32,
    /// Cap on its height as a fraction of the target height (for wide, short targets).
    pub max_height_fraction: f32,
    /// Distance from the two edges of the corner, in pixels.
    pub margin: f32,
    /// Mirror it, as people expect to see themselves.
    pub mirror: bool,
}

impl Default for SelfViewOptions {
    /// Bottom right, a quarter of the width (at most a third of the height), 16 px in,
    /// mirrored.
    fn default() -> Self {
        Self {
            corner: Corner::BottomRight,
            width_fraction: 0.25,
            max_height_fraction: 1.0 / 3.0,
            margin: 16.0,
            mirror: true,
        }
    }
}

/// The self-view as a small picture-in-picture in a corner, sized to the local
/// camera's aspect (`frame`) so it has no bars. Put it last in the scene so it is
/// drawn over the grid.
#[must_use]
pub fn self_view(id: TileId, target: Size, frame: Size, options: SelfViewOptions) -> Placement {
    let (tw, th) = (target.width as f32, target.height as f32);
    let aspect = if frame.is_empty() {
        16.0 / 9.0
    } else {
        frame.width as f32 / frame.height as f32
    };
    let mut w = tw * options.width_fraction.clamp(0.0, 1.0);
    let mut h = w / aspect;
    let max_h = th * options.max_height_fraction.clamp(0.0, 1.0);
    if h > max_h {
        h = max_h;
        w = h * aspect;
    }
    let m = if options.margin.is_finite() {
        options.margin.max(0.0)
    } else {
        0.0
    };
    let x = match options.corner {
        Corner::TopLeft | Corner::BottomLeft => m,
        Corner::TopRight | Corner::BottomRight => tw - m - w,
    };
    let y = match options.corner {
        Corner::TopLeft | Corner::TopRight => m,
        Corner::BottomLeft | Corner::BottomRight => th - m - h,
    };
    Placement::at(id, Rect::new(x, y, w, h)).mirrored(options.mirror)
}

/// An sRGB colour with 8-bit channels, written to the target as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rgb {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
}

impl Rgb {
    /// Shorthand for `Rgb { r, g, b }`.
    #[must_use]
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }
}

/// Everything drawn in one frame: a background and tiles, drawn in order (later ones
/// on top).
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// Colour of everything no picture covers: gaps, letterbox bars, empty tiles.
    pub background: Rgb,
    /// The tiles, back to front.
    pub tiles: Vec<Placement>,
}

impl Scene {
    /// The default background: a dark grey that reads as "no video" without being black.
    pub const DEFAULT_BACKGROUND: Rgb = Rgb::new(24, 24, 28);

    /// An empty scene on the default background.
    #[must_use]
    pub fn new() -> Self {
        Self {
            background: Self::DEFAULT_BACKGROUND,
            tiles: Vec::new(),
        }
    }

    /// A grid of `ids` over `target`, with the self-view (if any) in a corner on top.
    #[must_use]
    pub fn call(
        target: Size,
        ids: &[TileId],
        grid_options: GridOptions,
        self_tile: Option<(TileId, Size, SelfViewOptions)>,
    ) -> Self {
        let mut tiles = grid(target, ids, grid_options);
        if let Some((id, frame, options)) = self_tile {
            tiles.push(self_view(id, target, frame, options));
        }
        Self {
            background: Self::DEFAULT_BACKGROUND,
            tiles,
        }
    }
}

impl Default for Scene {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HD: Size = Size::new(1280, 720);

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-3
    }

    fn rect_close(a: Rect, b: Rect) -> bool {
        close(a.x, b.x) && close(a.y, b.y) && close(a.width, b.width) && close(a.height, b.height)
    }

    #[test]
    fn grid_shapes_follow_calling_app_rules() {
        let shapes: Vec<(u32, u32)> = (0..=17)
            .map(|n| {
                let s = grid_shape(n, HD);
                (s.cols, s.rows)
            })
            .collect();
        assert_eq!(
            shapes,
            vec![
                (0, 0),
                (1, 1),
                (2, 1),
                (2, 2),
                (2, 2),
                (3, 2),
                (3, 2),
                (3, 3),
                (3, 3),
                (3, 3),
                (4, 3),
                (4, 3),
                (4, 3),
                (4, 4),
                (4, 4),
                (4, 4),
                (4, 4),
                (5, 4),
            ]
        );
        // Portrait: two tiles stack, five are 2 wide and 3 high.
        let portrait = Size::new(720, 1280);
        assert_eq!(grid_shape(2, portrait), GridShape { cols: 1, rows: 2 });
        assert_eq!(grid_shape(5, portrait), GridShape { cols: 2, rows: 3 });
    }

    #[test]
    fn one_tile_fills_and_two_sit_side_by_side() {
        assert_eq!(grid_cells(HD, 1, 0.0), vec![Rect::full(HD)]);
        let two = grid_cells(HD, 2, 10.0);
        assert!(rect_close(two[0], Rect::new(10.0, 10.0, 625.0, 700.0)));
        assert!(rect_close(two[1], Rect::new(645.0, 10.0, 625.0, 700.0)));
    }

    #[test]
    fn three_tiles_centre_the_last_row() {
        let cells = grid_cells(Size::new(200, 100), 3, 0.0);
        assert!(rect_close(cells[0], Rect::new(0.0, 0.0, 100.0, 50.0)));
        assert!(rect_close(cells[1], Rect::new(100.0, 0.0, 100.0, 50.0)));
        assert!(rect_close(cells[2], Rect::new(50.0, 50.0, 100.0, 50.0)));
        // 7 in 3x3: the last row has one tile, in the middle column.
        let seven = grid_cells(Size::new(300, 300), 7, 0.0);
        assert!(rect_close(seven[6], Rect::new(100.0, 200.0, 100.0, 100.0)));
    }

    #[test]
    fn cells_never_overlap_and_stay_inside() {
        for n in 1..=20 {
            for target in [HD, Size::new(720, 1280), Size::new(333, 77)] {
                let cells = grid_cells(target, n, 6.0);
                assert_eq!(cells.len(), n);
                for (i, a) in cells.iter().enumerate() {
                    assert!(a.x >= 0.0 && a.y >= 0.0, "{n} {target:?} {a:?}");
                    assert!(a.x + a.width <= target.width as f32 + 1e-3);
                    assert!(a.y + a.height <= target.height as f32 + 1e-3);
                    for b in &cells[i + 1..] {
                        let apart = a.x + a.width <= b.x + 1e-3
                            || b.x + b.width <= a.x + 1e-3
                            || a.y + a.height <= b.y + 1e-3
                            || b.y + b.height <= a.y + 1e-3;
                        assert!(apart, "{n} {target:?}: {a:?} overlaps {b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn grid_keeps_ids_in_order() {
        let ids = [TileId(7), TileId(3), TileId(9)];
        let p = grid(HD, &ids, GridOptions::default());
        assert_eq!(p.iter().map(|p| p.id).collect::<Vec<_>>(), ids);
        assert!(p.iter().all(|p| p.fit == Fit::Contain && !p.mirror));
    }

    #[test]
    fn contain_letterboxes_and_pillarboxes() {
        // 4:3 frame in a 16:9 cell: bars left and right.
        let f = fit(
            Size::new(640, 480),
            Rect::new(0.0, 0.0, 160.0, 90.0),
            Fit::Contain,
        );
        assert!(rect_close(f.dst, Rect::new(20.0, 0.0, 120.0, 90.0)));
        assert_eq!(f.src, UvRect::FULL);
        // 16:9 frame in a square cell at an offset: bars top and bottom.
        let f = fit(
            Size::new(1280, 720),
            Rect::new(10.0, 20.0, 160.0, 160.0),
            Fit::Contain,
        );
        assert!(rect_close(f.dst, Rect::new(10.0, 55.0, 160.0, 90.0)));
    }

    #[test]
    fn cover_crops_the_long_side() {
        let cell = Rect::new(0.0, 0.0, 100.0, 100.0);
        let f = fit(Size::new(200, 100), cell, Fit::Cover);
        assert_eq!(f.dst, cell);
        assert!(close(f.src.u0, 0.25) && close(f.src.u1, 0.75));
        assert!(close(f.src.v0, 0.0) && close(f.src.v1, 1.0));
        let f = fit(Size::new(100, 400), cell, Fit::Cover);
        assert!(close(f.src.v0, 0.375) && close(f.src.v1, 0.625));
    }

    #[test]
    fn degenerate_input_does_not_panic() {
        let cell = Rect::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(fit(Size::new(0, 10), cell, Fit::Contain).dst, cell);
        let nan = Rect::new(f32::NAN, 0.0, 10.0, 10.0);
        assert!(!nan.is_drawable());
        assert_eq!(fit(Size::new(4, 4), nan, Fit::Cover).src, UvRect::FULL);
        assert!(!Rect::new(0.0, 0.0, -1.0, 5.0).is_drawable());
        assert!(
            grid_cells(Size::new(0, 0), 4, 8.0)
                .iter()
                .all(|r| !r.is_drawable())
        );
        let p = self_view(
            TileId(1),
            Size::new(0, 0),
            Size::new(0, 0),
            SelfViewOptions::default(),
        );
        assert!(!p.rect.is_drawable());
    }

    #[test]
    fn self_view_sits_in_its_corner_with_the_camera_aspect() {
        let o = SelfViewOptions::default();
        let p = self_view(TileId(0), HD, Size::new(640, 360), o);
        assert!(p.mirror);
        assert!(rect_close(
            p.rect,
            Rect::new(1280.0 - 16.0 - 320.0, 720.0 - 16.0 - 180.0, 320.0, 180.0)
        ));
        let tl = self_view(
            TileId(0),
            HD,
            Size::new(640, 360),
            SelfViewOptions {
                corner: Corner::TopLeft,
                mirror: false,
                ..o
            },
        );
        assert!(rect_close(tl.rect, Rect::new(16.0, 16.0, 320.0, 180.0)));
        assert!(!tl.mirror);
        // A short, wide target caps the height at a third.
        let wide = self_view(TileId(0), Size::new(1200, 150), Size::new(640, 480), o);
        assert!(close(wide.rect.height, 50.0) && close(wide.rect.width, 50.0 * 4.0 / 3.0));
    }

    #[test]
    fn mirroring_swaps_the_horizontal_source_edges() {
        let p = Placement::at(TileId(1), Rect::new(0.0, 0.0, 40.0, 30.0)).mirrored(true);
        let f = p.resolve(Size::new(4, 3));
        assert_eq!(
            f.src,
            UvRect {
                u0: 1.0,
                v0: 0.0,
                u1: 0.0,
                v1: 1.0
            }
        );
    }

    #[test]
    fn call_scene_puts_self_view_last() {
        let s = Scene::call(
            HD,
            &[TileId(1), TileId(2)],
            GridOptions::default(),
            Some((TileId(0), Size::new(640, 360), SelfViewOptions::default())),
        );
        assert_eq!(s.tiles.len(), 3);
        assert_eq!(s.tiles[2].id, TileId(0));
        assert!(s.tiles[2].mirror);
    }
}
