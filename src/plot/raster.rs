//! A tiny rasterizer (anti-aliased lines, discs and rectangles, bitmap text) and PNG output.

use super::font::{ADVANCE, GLYPH_H, GLYPH_ROWS, GLYPH_W, glyph, pixel};
use super::{Anchor, Color, Item, Scene, TEXT, text_width};
use crate::error::{Error, Result};

/// An RGB image with a clip rectangle.
struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
    /// Drawing is limited to pixels whose center lies in `(x0, y0, x1, y1)`.
    clip: (f64, f64, f64, f64),
}

impl Canvas {
    fn new(w: u32, h: u32, background: Color) -> Canvas {
        let (w, h) = (w as usize, h as usize);
        let mut px = Vec::with_capacity(w * h * 3);
        for _ in 0..w * h {
            px.extend([background.r, background.g, background.b]);
        }
        Canvas { w, h, px, clip: (0.0, 0.0, w as f64, h as f64) }
    }

    fn no_clip(&self) -> (f64, f64, f64, f64) {
        (0.0, 0.0, self.w as f64, self.h as f64)
    }

    /// Pixel bounds `[x0, x1) x [y0, y1)` of a box, intersected with the image and the clip.
    fn bounds(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> (usize, usize, usize, usize) {
        let (cx0, cy0, cx1, cy1) = self.clip;
        let lo = |v: f64, c: f64| v.max(c - 0.5).floor().max(0.0) as usize;
        let hi = |v: f64, c: f64, n: usize| (v.min(c + 0.5).ceil().max(0.0) as usize).min(n);
        (lo(x0, cx0), lo(y0, cy0), hi(x1, cx1, self.w), hi(y1, cy1, self.h))
    }

    /// Blends `color` at coverage `alpha` into pixel (`x`, `y`), inside the clip.
    fn blend(&mut self, x: usize, y: usize, color: Color, alpha: f64) {
        if alpha <= 0.0 || x >= self.w || y >= self.h {
            return;
        }
        let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
        let (x0, y0, x1, y1) = self.clip;
        if cx < x0 || cx > x1 || cy < y0 || cy > y1 {
            return;
        }
        let a = alpha.min(1.0);
        let i = (y * self.w + x) * 3;
        for (k, c) in [color.r, color.g, color.b].into_iter().enumerate() {
            let old = self.px[i + k] as f64;
            self.px[i + k] = (old + (c as f64 - old) * a).round().clamp(0.0, 255.0) as u8;
        }
    }

    /// Fills a rectangle, with partial coverage on fractional edges.
    fn fill_rect(&mut self, x: f64, y: f64, w: f64, h: f64, color: Color, opacity: f64) {
        if !(w > 0.0 && h > 0.0) {
            return;
        }
        let (x1, y1) = (x + w, y + h);
        let (bx0, by0, bx1, by1) = self.bounds(x, y, x1, y1);
        for py in by0..by1 {
            let cov_y = (y1.min(py as f64 + 1.0) - y.max(py as f64)).clamp(0.0, 1.0);
            for px in bx0..bx1 {
                let cov_x = (x1.min(px as f64 + 1.0) - x.max(px as f64)).clamp(0.0, 1.0);
                self.blend(px, py, color, cov_x * cov_y * opacity);
            }
        }
    }

    /// Strokes a polyline of the given width with round joins and caps. Coverage is the
    /// maximum over segments, so joins are not blended twice.
    fn polyline(&mut self, points: &[(f64, f64)], color: Color, width: f64) {
        let pts: Vec<(f64, f64)> =
            points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        if pts.is_empty() {
            return;
        }
        let half = width / 2.0;
        let m = half + 1.0;
        let fold = |f: fn(f64, f64) -> f64, init: f64, g: fn(&(f64, f64)) -> f64| {
            pts.iter().map(g).fold(init, f)
        };
        let bx = self.bounds(
            fold(f64::min, f64::INFINITY, |p| p.0) - m,
            fold(f64::min, f64::INFINITY, |p| p.1) - m,
            fold(f64::max, f64::NEG_INFINITY, |p| p.0) + m,
            fold(f64::max, f64::NEG_INFINITY, |p| p.1) + m,
        );
        let (bx0, by0, bx1, by1) = bx;
        if bx1 <= bx0 || by1 <= by0 {
            return;
        }
        let bw = bx1 - bx0;
        let mut cov = vec![0f32; bw * (by1 - by0)];
        let segments: Vec<((f64, f64), (f64, f64))> = if pts.len() == 1 {
            vec![(pts[0], pts[0])]
        } else {
            pts.windows(2).map(|w| (w[0], w[1])).collect()
        };
        for (a, b) in segments {
            let (sx0, sy0, sx1, sy1) =
                self.bounds(a.0.min(b.0) - m, a.1.min(b.1) - m, a.0.max(b.0) + m, a.1.max(b.1) + m);
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len2 = dx * dx + dy * dy;
            for py in sy0.max(by0)..sy1.min(by1) {
                for px in sx0.max(bx0)..sx1.min(bx1) {
                    let (cx, cy) = (px as f64 + 0.5, py as f64 + 0.5);
                    let t = if len2 > 0.0 {
                        (((cx - a.0) * dx + (cy - a.1) * dy) / len2).clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    let (qx, qy) = (a.0 + t * dx - cx, a.1 + t * dy - cy);
                    let d = (qx * qx + qy * qy).sqrt();
                    let c = (half + 0.5 - d).clamp(0.0, 1.0) as f32;
                    let slot = &mut cov[(py - by0) * bw + (px - bx0)];
                    *slot = slot.max(c);
                }
            }
        }
        for py in by0..by1 {
            for px in bx0..bx1 {
                let c = cov[(py - by0) * bw + (px - bx0)];
                if c > 0.0 {
                    self.blend(px, py, color, c as f64);
                }
            }
        }
    }

    /// Fills a disc.
    fn circle(&mut self, cx: f64, cy: f64, r: f64, color: Color, opacity: f64) {
        let m = r + 1.0;
        let (bx0, by0, bx1, by1) = self.bounds(cx - m, cy - m, cx + m, cy + m);
        for py in by0..by1 {
            for px in bx0..bx1 {
                let (dx, dy) = (px as f64 + 0.5 - cx, py as f64 + 0.5 - cy);
                let d = (dx * dx + dy * dy).sqrt();
                self.blend(px, py, color, (r + 0.5 - d).clamp(0.0, 1.0) * opacity);
            }
        }
    }

    /// Sets one square font pixel of side `s` at integer position (`x`, `y`).
    fn font_pixel(&mut self, x: i64, y: i64, s: u32, color: Color) {
        for dy in 0..s as i64 {
            for dx in 0..s as i64 {
                let (px, py) = (x + dx, y + dy);
                if px >= 0 && py >= 0 {
                    self.blend(px as usize, py as usize, color, 1.0);
                }
            }
        }
    }

    /// Draws text with the bitmap font; see [`Item::Text`].
    #[allow(clippy::too_many_arguments)]
    fn text(
        &mut self,
        x: f64,
        y: f64,
        s: &str,
        scale: u32,
        anchor: Anchor,
        vertical: bool,
        bold: bool,
    ) {
        let width = text_width(s, scale);
        let start = match anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => width / 2.0,
            Anchor::End => width,
        };
        let sc = scale as i64;
        // Top-left of the text box (horizontal), or bottom-left (vertical, reading upwards).
        let across =
            ((if vertical { x } else { y }) - (GLYPH_H * scale) as f64 / 2.0).round() as i64;
        let along0 = if vertical { (y + start).round() as i64 } else { (x - start).round() as i64 };
        for (i, c) in s.chars().enumerate() {
            let g = glyph(c);
            for col in 0..GLYPH_W {
                for row in 0..GLYPH_ROWS {
                    if !pixel(&g, col, row) {
                        continue;
                    }
                    let u = (i as i64 * ADVANCE as i64 + col as i64) * sc;
                    let v = row as i64 * sc;
                    let (px, py) = if vertical {
                        (across + v, along0 - u - sc)
                    } else {
                        (along0 + u, across + v)
                    };
                    self.font_pixel(px, py, scale, TEXT);
                    if bold {
                        let (bx, by) = if vertical { (px, py - 1) } else { (px + 1, py) };
                        self.font_pixel(bx, by, scale, TEXT);
                    }
                }
            }
        }
    }
}

/// Rasterizes a scene and encodes it as PNG (8-bit RGB).
pub(crate) fn render(scene: &Scene) -> Result<Vec<u8>> {
    let mut canvas = Canvas::new(scene.width, scene.height, Color::WHITE);
    for item in &scene.items {
        match item {
            Item::Rect { x, y, w, h, fill, opacity, stroke } => {
                canvas.fill_rect(*x, *y, *w, *h, *fill, *opacity);
                if let Some(c) = stroke {
                    canvas.fill_rect(*x, *y, *w, 1.0, *c, 1.0);
                    canvas.fill_rect(*x, y + h - 1.0, *w, 1.0, *c, 1.0);
                    canvas.fill_rect(*x, y + 1.0, 1.0, h - 2.0, *c, 1.0);
                    canvas.fill_rect(x + w - 1.0, y + 1.0, 1.0, h - 2.0, *c, 1.0);
                }
            }
            Item::Polyline { points, color, width } => canvas.polyline(points, *color, *width),
            Item::Circle { cx, cy, r, fill, opacity } => {
                canvas.circle(*cx, *cy, *r, *fill, *opacity)
            }
            Item::Text { x, y, text, scale, anchor, vertical, bold } => {
                canvas.text(*x, *y, text, *scale, *anchor, *vertical, *bold)
            }
            Item::Clip(clip) => canvas.clip = clip.unwrap_or(canvas.no_clip()),
        }
    }
    encode(&canvas)
}

fn encode(canvas: &Canvas) -> Result<Vec<u8>> {
    let err = |e: png::EncodingError| Error::Plot(format!("PNG encoding: {e}"));
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, canvas.w as u32, canvas.h as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(err)?;
        writer.write_image_data(&canvas.px).map_err(err)?;
        writer.finish().map_err(err)?;
    }
    Ok(out)
}
