//! Dependency-light charts, saved as SVG or PNG.
//!
//! A [`Figure`] holds [`Panel`]s stacked vertically; a panel holds [`Series`] (lines, scatter
//! points, lines with markers or bars) with a title, axis labels, gridlines, "nice" ticks
//! (steps of 1, 2 or 5 times a power of ten, or decades on a log axis) and a legend when it
//! has more than one series. [`Figure::save`] writes SVG or PNG by the file's extension.
//!
//! The SVG is written by hand (text as `<text>` elements in a monospace font). The PNG comes
//! from a small built-in rasterizer (anti-aliased lines, circles and rectangles) with an
//! embedded 5x7 bitmap font, so it needs no system font; Greek letters common in titles
//! (`τ γ ρ σ μ α β`) have glyphs, other non-ASCII characters show as `?`.
//!
//! Non-finite points (and non-positive values on a log axis) are skipped: a line breaks
//! there. Empty panels and constant data still get a sensible axis.
//!
//! ```
//! use intrain::plot::{Figure, Panel, Series};
//!
//! let fig = Figure::new(800, 500).panel(
//!     Panel::new("Kendall τ = 0.62")
//!         .x_label("score")
//!         .y_label("accuracy")
//!         .series(Series::scatter("archs", vec![(0.1, 0.5), (0.4, 0.7), (0.9, 0.8)])),
//! );
//! let svg = fig.to_svg();
//! assert!(svg.contains("Kendall τ = 0.62"));
//! let png = fig.to_png().expect("valid size");
//! assert_eq!(&png[1..4], b"PNG");
//! ```

mod axes;
mod font;
mod raster;
mod svg;

use std::path::Path;

use crate::error::{Error, Result};
use axes::layout_panel;

/// Largest width or height accepted for a PNG, in pixels.
pub const MAX_PNG_SIDE: u32 = 16384;

/// An opaque RGB color.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Color {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
}

impl Color {
    /// A color from its components.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Color {
        Color { r, g, b }
    }
    /// White.
    pub const WHITE: Color = Color::rgb(255, 255, 255);
    /// Black.
    pub const BLACK: Color = Color::rgb(0, 0, 0);
    /// The colors given to series without one, in order (matplotlib's "tab10").
    pub const PALETTE: [Color; 10] = [
        Color::rgb(0x1f, 0x77, 0xb4),
        Color::rgb(0xff, 0x7f, 0x0e),
        Color::rgb(0x2c, 0xa0, 0x2c),
        Color::rgb(0xd6, 0x27, 0x28),
        Color::rgb(0x94, 0x67, 0xbd),
        Color::rgb(0x8c, 0x56, 0x4b),
        Color::rgb(0xe3, 0x77, 0xc2),
        Color::rgb(0x7f, 0x7f, 0x7f),
        Color::rgb(0xbc, 0xbd, 0x22),
        Color::rgb(0x17, 0xbe, 0xcf),
    ];
    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

const TEXT: Color = Color::rgb(0x22, 0x22, 0x22);
const FRAME: Color = Color::rgb(0x55, 0x55, 0x55);
const GRID: Color = Color::rgb(0xe4, 0xe4, 0xe4);

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesKind {
    /// A polyline through the points in their order.
    Line,
    /// A dot per point.
    Scatter,
    /// A polyline with a dot on each point.
    LineMarkers,
    /// A bar per point, from 0 (or the bottom of a log axis) to y; several bar series of a
    /// panel are grouped side by side.
    Bars,
}

/// One data series of a panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Name shown in the legend (series with an empty name are left out of it).
    pub name: String,
    /// How it is drawn.
    pub kind: SeriesKind,
    /// The `(x, y)` points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
    /// Its color; `None` takes the next one of [`Color::PALETTE`].
    pub color: Option<Color>,
}

impl Series {
    /// A series of the given kind, with the default color.
    pub fn new(name: impl Into<String>, kind: SeriesKind, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), kind, points, color: None }
    }
    /// A [`SeriesKind::Line`] series.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series::new(name, SeriesKind::Line, points)
    }
    /// A [`SeriesKind::Scatter`] series.
    pub fn scatter(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series::new(name, SeriesKind::Scatter, points)
    }
    /// A [`SeriesKind::LineMarkers`] series.
    pub fn line_markers(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series::new(name, SeriesKind::LineMarkers, points)
    }
    /// A [`SeriesKind::Bars`] series.
    pub fn bars(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series::new(name, SeriesKind::Bars, points)
    }
    /// The same series with the given color.
    pub fn with_color(mut self, color: Color) -> Series {
        self.color = Some(color);
        self
    }
}

/// One chart: axes, gridlines and series. Fields are public; the methods are builders.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    /// Title above the plot area (empty: none).
    pub title: String,
    /// Label under the x axis (empty: none).
    pub x_label: String,
    /// Label left of the y axis, written upwards (empty: none).
    pub y_label: String,
    /// The data, drawn in order.
    pub series: Vec<Series>,
    /// Custom x ticks as `(position, label)`; labels that would overlap are thinned out and
    /// long ones shortened to their end. `None`: automatic numeric ticks.
    pub x_ticks: Option<Vec<(f64, String)>>,
    /// Logarithmic y axis (base 10); points with y ≤ 0 are skipped.
    pub y_log: bool,
    /// Fixed x range; `None` (or an invalid range) fits the data.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range; `None` (or an invalid range) fits the data.
    pub y_range: Option<(f64, f64)>,
}

impl Panel {
    /// An empty panel with a title.
    pub fn new(title: impl Into<String>) -> Panel {
        Panel { title: title.into(), ..Panel::default() }
    }
    /// Sets the x axis label.
    pub fn x_label(mut self, label: impl Into<String>) -> Panel {
        self.x_label = label.into();
        self
    }
    /// Sets the y axis label.
    pub fn y_label(mut self, label: impl Into<String>) -> Panel {
        self.y_label = label.into();
        self
    }
    /// Adds a series.
    pub fn series(mut self, series: Series) -> Panel {
        self.series.push(series);
        self
    }
    /// Sets custom x ticks `(position, label)`.
    pub fn x_ticks(mut self, ticks: Vec<(f64, String)>) -> Panel {
        self.x_ticks = Some(ticks);
        self
    }
    /// Makes the y axis logarithmic (or not).
    pub fn y_log(mut self, log: bool) -> Panel {
        self.y_log = log;
        self
    }
    /// Fixes the x range.
    pub fn x_range(mut self, lo: f64, hi: f64) -> Panel {
        self.x_range = Some((lo, hi));
        self
    }
    /// Fixes the y range.
    pub fn y_range(mut self, lo: f64, hi: f64) -> Panel {
        self.y_range = Some((lo, hi));
        self
    }
}

/// A picture of `width` x `height` pixels with panels stacked vertically, sharing the height
/// equally.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Title over all panels (empty: none).
    pub title: String,
    /// Panels, top to bottom.
    pub panels: Vec<Panel>,
    /// Text size as a multiple of the 5x7 font (1 = 6 pixels per character); `None` picks
    /// one from the figure's size (2 for 800 x 600).
    pub text_scale: Option<u32>,
}

impl Figure {
    /// An empty figure of the given size in pixels.
    pub fn new(width: u32, height: u32) -> Figure {
        Figure { width, height, title: String::new(), panels: Vec::new(), text_scale: None }
    }
    /// Sets the figure's title.
    pub fn title(mut self, title: impl Into<String>) -> Figure {
        self.title = title.into();
        self
    }
    /// Adds a panel below the others.
    pub fn panel(mut self, panel: Panel) -> Figure {
        self.panels.push(panel);
        self
    }
    /// The figure as an SVG document.
    pub fn to_svg(&self) -> String {
        svg::render(&layout(self))
    }
    /// The figure as PNG bytes (8-bit RGB). A `Usage` error when the size is 0 or larger than
    /// [`MAX_PNG_SIDE`].
    pub fn to_png(&self) -> Result<Vec<u8>> {
        if self.width == 0
            || self.height == 0
            || self.width > MAX_PNG_SIDE
            || self.height > MAX_PNG_SIDE
        {
            return Err(Error::Plot(format!(
                "plot size {}x{}: each side must be between 1 and {MAX_PNG_SIDE} pixels",
                self.width, self.height
            )));
        }
        raster::render(&layout(self))
    }
    /// Writes the figure to `path`: SVG for a `.svg` extension, PNG for `.png` (any case).
    /// Another extension is a `Plot` error naming the path; a failed write an `Io` error.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let bytes = match ext.as_deref() {
            Some("svg") => self.to_svg().into_bytes(),
            Some("png") => self.to_png()?,
            _ => {
                return Err(Error::Plot(format!(
                    "{}: unknown plot format, use a .png or .svg file name",
                    path.display()
                )));
            }
        };
        std::fs::write(path, bytes).map_err(|source| Error::Io { path: path.into(), source })
    }
}

/// Ticks at multiples of a "nice" step (1, 2 or 5 times a power of ten) inside `[lo, hi]`,
/// at most `max_ticks` of them (at least 2 when the range allows). Empty for an invalid range.
pub fn nice_ticks(lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    match nice_step(lo, hi, max_ticks) {
        Some(step) => ticks_with_step(lo, hi, step),
        None => Vec::new(),
    }
}

/// The nice step for at most `max_ticks` ticks in `[lo, hi]`.
fn nice_step(lo: f64, hi: f64, max_ticks: usize) -> Option<f64> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return None;
    }
    let max_ticks = max_ticks.max(2) as f64;
    let raw = (hi - lo) / (max_ticks - 1.0).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    // Smallest nice step that keeps the count within max_ticks.
    for m in [1.0, 2.0, 5.0, 10.0, 20.0] {
        let step = m * mag;
        if ticks_with_step(lo, hi, step).len() as f64 <= max_ticks {
            return Some(step);
        }
    }
    Some(20.0 * mag)
}

fn ticks_with_step(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    if step.is_nan() || step <= 0.0 || (hi - lo) / step > 1e4 {
        return Vec::new();
    }
    let eps = step * 1e-9;
    let first = ((lo - eps) / step).ceil() as i64;
    let last = ((hi + eps) / step).floor() as i64;
    // k * step as (k * m) / 10^-e for step = m * 10^e, so that 3 * 0.2 is 0.6 exactly.
    let e = step.log10().floor() as i32;
    let m = (step / 10f64.powi(e)).round();
    let exact = (m * 10f64.powi(e) - step).abs() <= step * 1e-9;
    let value = |k: i64| match (exact, e < 0) {
        (false, _) => k as f64 * step,
        (true, true) => (k as f64 * m) / 10f64.powi(-e),
        (true, false) => (k as f64 * m) * 10f64.powi(e),
    };
    (first..=last).map(|k| if k == 0 { 0.0 } else { value(k) }).collect()
}

/// A tick label for `v` on an axis whose ticks are `step` apart: as many decimals as the step
/// needs, scientific notation for very large or small magnitudes.
pub(crate) fn format_tick(v: f64, step: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() { "0".into() } else { format!("{v}") };
    }
    let step_exp = step.abs().log10().floor() as i32;
    let v_exp = v.abs().log10().floor() as i32;
    if v.abs() >= 1e5 || v.abs() < 1e-3 {
        let digits = (v_exp - step_exp).max(0) as usize;
        let s = format!("{v:.digits$e}");
        // Trim zeros of the mantissa: 2.50e-5 -> 2.5e-5.
        return match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        };
    }
    let decimals = (-step_exp).max(0) as usize;
    format!("{v:.decimals$}")
}

/// A label for `10^e` on a log axis.
fn format_power(e: f64) -> String {
    let v = 10f64.powf(e);
    if (-3.0..=4.0).contains(&e.round()) && (e - e.round()).abs() < 1e-9 {
        format_tick(v, 10f64.powf(e.round().min(0.0)))
    } else if (e - e.round()).abs() < 1e-9 {
        format!("1e{}", e.round() as i64)
    } else {
        format_tick(v, 10f64.powf(e.floor()))
    }
}

// === Display list ===

/// Horizontal anchoring of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// A drawing primitive, in pixel coordinates (y down).
#[derive(Clone, Debug)]
pub(crate) enum Item {
    /// A filled rectangle, with an optional 1-pixel border inside it.
    Rect { x: f64, y: f64, w: f64, h: f64, fill: Color, opacity: f64, stroke: Option<Color> },
    /// A polyline with round joins and caps.
    Polyline { points: Vec<(f64, f64)>, color: Color, width: f64 },
    /// A filled disc.
    Circle { cx: f64, cy: f64, r: f64, fill: Color, opacity: f64 },
    /// One line of text, vertically centered on `y`; `vertical` writes it upwards, centered
    /// on (`x`, `y`) along the anchor.
    Text { x: f64, y: f64, text: String, scale: u32, anchor: Anchor, vertical: bool, bold: bool },
    /// Clips what follows to a rectangle `(x0, y0, x1, y1)`, or stops clipping.
    Clip(Option<(f64, f64, f64, f64)>),
}

/// A laid-out figure.
#[derive(Clone, Debug)]
pub(crate) struct Scene {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) items: Vec<Item>,
}

/// Width in pixels of `text` at `scale`.
pub(crate) fn text_width(text: &str, scale: u32) -> f64 {
    let n = text.chars().count() as f64;
    if n == 0.0 { 0.0 } else { (n * font::ADVANCE as f64 - 1.0) * scale as f64 }
}

/// Height in pixels of a line of text at `scale`.
pub(crate) fn text_height(scale: u32) -> f64 {
    (font::GLYPH_H * scale) as f64
}

fn text(x: f64, y: f64, s: &str, scale: u32, anchor: Anchor) -> Item {
    Item::Text { x, y, text: s.to_string(), scale, anchor, vertical: false, bold: false }
}

/// Word-wraps a title into lines that fit `avail` pixels at `scale`: at most 3, the last one
/// shortened with "…" when text is left over. Words longer than a line are cut.
fn wrap(s: &str, scale: u32, avail: f64) -> Vec<String> {
    let per = (font::ADVANCE * scale) as f64;
    let max_chars = ((avail + scale as f64) / per).floor().max(1.0) as usize;
    let mut lines: Vec<String> = Vec::new();
    let mut cur: Vec<char> = Vec::new();
    for word in s.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let need = if cur.is_empty() { word.len() } else { cur.len() + 1 + word.len() };
            if need <= max_chars {
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur.append(&mut word);
                break;
            }
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur).into_iter().collect());
                continue;
            }
            let rest = word.split_off(max_chars.min(word.len()));
            lines.push(word.into_iter().collect());
            word = rest;
            if word.is_empty() {
                break;
            }
        }
    }
    if !cur.is_empty() {
        lines.push(cur.into_iter().collect());
    }
    if lines.len() > 3 {
        lines.truncate(3);
        let last: String = lines[2].chars().take(max_chars.saturating_sub(1)).collect();
        lines[2] = last + "…";
    }
    lines
}

/// Vertical gap between the lines of a title, in pixels.
fn title_gap(scale: u32) -> f64 {
    2.0 * scale as f64
}

/// Height in pixels of `n` title lines at `scale`.
fn title_height(n: usize, scale: u32) -> f64 {
    if n == 0 { 0.0 } else { n as f64 * text_height(scale) + (n - 1) as f64 * title_gap(scale) }
}

/// Pushes bold title lines from `top` down, each centered on `x` but kept within `[lo, hi]`.
fn push_title(
    lines: &[String],
    scale: u32,
    x: f64,
    top: f64,
    lo: f64,
    hi: f64,
    items: &mut Vec<Item>,
) {
    for (k, line) in lines.iter().enumerate() {
        let half = text_width(line, scale) / 2.0;
        let x = x.min(hi - half).max(lo + half);
        let y = top + k as f64 * (text_height(scale) + title_gap(scale)) + text_height(scale) / 2.0;
        items.push(Item::Text {
            x,
            y,
            text: line.clone(),
            scale,
            anchor: Anchor::Middle,
            vertical: false,
            bold: true,
        });
    }
}

fn layout(fig: &Figure) -> Scene {
    let (w, h) = (fig.width as f64, fig.height as f64);
    let s = fig.text_scale.unwrap_or_else(|| {
        let side = w.min(1.5 * h);
        if side < 420.0 { 1 } else { ((side / 550.0 + 0.5).floor() as u32).clamp(2, 8) }
    });
    let mut items = Vec::new();
    let pad = 6.0 * s as f64;
    let mut top = 0.0;
    if !fig.title.is_empty() {
        let ts = s + 1;
        let lines = wrap(&fig.title, ts, w - 2.0 * pad);
        push_title(&lines, ts, w / 2.0, pad, pad, w - pad, &mut items);
        top = pad + title_height(lines.len(), ts) + 2.0 * s as f64;
    }
    let n = fig.panels.len().max(1) as f64;
    let panel_h = (h - top) / n;
    for (i, panel) in fig.panels.iter().enumerate() {
        let area = Area { x: 0.0, y: top + i as f64 * panel_h, w, h: panel_h };
        layout_panel(panel, area, s, &mut items);
    }
    Scene { width: fig.width, height: fig.height, items }
}

#[derive(Clone, Copy)]
struct Area {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}
