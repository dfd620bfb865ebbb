//! Layout of one panel: data ranges, ticks, margins, series and legend.

use super::{
    Anchor, Area, Color, FRAME, GRID, Item, Panel, SeriesKind, format_power, format_tick,
    nice_step, push_title, text, text_height, text_width, ticks_with_step, title_height, wrap,
};

/// One axis: the range shown, in transformed units (log10 on a log axis).
#[derive(Clone, Copy, Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    /// The transformed value, `None` when it cannot be shown (non-finite, ≤ 0 on a log axis).
    fn t(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            None
        } else if self.log {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    }
}

/// Maps data to pixels.
#[derive(Clone, Copy)]
struct Frame {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
    x: Axis,
    y: Axis,
}

impl Frame {
    fn px(&self, tx: f64) -> f64 {
        self.left + (tx - self.x.lo) / (self.x.hi - self.x.lo) * (self.right - self.left)
    }
    fn py(&self, ty: f64) -> f64 {
        self.bottom - (ty - self.y.lo) / (self.y.hi - self.y.lo) * (self.bottom - self.top)
    }
    /// Pixel position of a data point, `None` when it is not drawable.
    fn point(&self, (x, y): (f64, f64)) -> Option<(f64, f64)> {
        Some((self.px(self.x.t(x)?), self.py(self.y.t(y)?)))
    }
}

/// A range around the values `vals` (transformed units), padded by `pad` of its width on each
/// side, or a default when there are none or they are all equal.
fn fit(vals: &[f64], pad: f64, log: bool) -> (f64, f64) {
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo <= 1e-12 * lo.abs().max(hi.abs()) {
        let half = if log {
            0.5
        } else if lo == 0.0 {
            1.0
        } else {
            lo.abs() * 0.1
        };
        return (lo - half, hi + half);
    }
    let d = (hi - lo) * pad;
    (lo - d, hi + d)
}

/// A fixed range if valid for the axis, in transformed units.
fn fixed(range: Option<(f64, f64)>, log: bool) -> Option<(f64, f64)> {
    let (lo, hi) = range?;
    let ok = lo.is_finite() && hi.is_finite() && hi > lo && (!log || lo > 0.0);
    ok.then(|| if log { (lo.log10(), hi.log10()) } else { (lo, hi) })
}

/// Ticks (transformed position, label) for an axis within pixel length `len`, at most
/// `max_ticks`.
fn axis_ticks(axis: &Axis, max_ticks: usize) -> Vec<(f64, String)> {
    if axis.log {
        let (lo, hi) = (axis.lo, axis.hi);
        let decades = (hi.floor() - lo.ceil() + 1.0).max(0.0);
        if decades >= 2.0 {
            let every = ((decades - 1.0) / (max_ticks.max(2) - 1) as f64).ceil().max(1.0);
            let first = lo.ceil() as i64;
            let last = hi.floor() as i64;
            return (first..=last)
                .filter(|k| (k - first) % every as i64 == 0)
                .map(|k| (k as f64, format_power(k as f64)))
                .collect();
        }
        // Less than two decades: 1, 2, 5 times powers of ten, else linear ticks in value.
        let mut t = Vec::new();
        for k in (lo.floor() as i64)..=(hi.ceil() as i64) {
            for m in [1.0f64, 2.0, 5.0] {
                let e = k as f64 + m.log10();
                if e >= lo - 1e-9 && e <= hi + 1e-9 {
                    t.push((e, format_tick(10f64.powf(e), 10f64.powf(k as f64))));
                }
            }
        }
        if t.len() >= 2 && t.len() <= max_ticks.max(2) {
            return t;
        }
        let (vlo, vhi) = (10f64.powf(lo), 10f64.powf(hi));
        let Some(step) = nice_step(vlo, vhi, max_ticks) else { return Vec::new() };
        return ticks_with_step(vlo, vhi, step)
            .into_iter()
            .filter(|v| *v > 0.0)
            .map(|v| (v.log10(), format_tick(v, step)))
            .collect();
    }
    let Some(step) = nice_step(axis.lo, axis.hi, max_ticks) else { return Vec::new() };
    ticks_with_step(axis.lo, axis.hi, step).into_iter().map(|v| (v, format_tick(v, step))).collect()
}

/// Shortens `label` to at most `max` characters, keeping its end.
fn shorten(label: &str, max: usize) -> String {
    let n = label.chars().count();
    if n <= max {
        return label.to_string();
    }
    let tail: String = label.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
}

/// Lays out `panel` in `area` with text scale `s`, appending to `items`.
pub(super) fn layout_panel(panel: &Panel, area: Area, s: u32, items: &mut Vec<Item>) {
    let sf = s as f64;
    let pad = 6.0 * sf;
    let ch = text_height(s);
    let tick_len = 3.0 * sf;
    let gap = 2.0 * sf;

    // --- Data ranges.
    let y_log = panel.y_log;
    let ty = |y: f64| Axis { lo: 0.0, hi: 1.0, log: y_log }.t(y);
    let has_bars = panel.series.iter().any(|s| s.kind == SeriesKind::Bars);
    let mut bar_xs: Vec<f64> = panel
        .series
        .iter()
        .filter(|s| s.kind == SeriesKind::Bars)
        .flat_map(|s| s.points.iter())
        .filter(|p| p.0.is_finite() && ty(p.1).is_some())
        .map(|p| p.0)
        .collect();
    bar_xs.sort_by(f64::total_cmp);
    bar_xs.dedup();
    let min_dx = bar_xs.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
    let group_w = 0.8 * if min_dx.is_finite() && min_dx > 0.0 { min_dx } else { 1.0 };

    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for series in &panel.series {
        for &(x, y) in &series.points {
            if let (true, Some(t)) = (x.is_finite(), ty(y)) {
                ys.push(t);
                if series.kind == SeriesKind::Bars {
                    xs.extend([x - group_w / 2.0, x + group_w / 2.0]);
                } else {
                    xs.push(x);
                }
            }
        }
    }
    if let Some(ticks) = &panel.x_ticks {
        xs.extend(ticks.iter().map(|t| t.0).filter(|x| x.is_finite()));
    }
    let (x_lo, x_hi) = fixed(panel.x_range, false).unwrap_or_else(|| fit(&xs, 0.04, false));
    let (y_lo, y_hi) = fixed(panel.y_range, y_log).unwrap_or_else(|| {
        if has_bars && !y_log {
            // Bars start at 0: keep 0 in range, flush with the axis.
            ys.push(0.0);
            let (lo, hi) = fit(&ys, 0.05, false);
            let mn = ys.iter().copied().fold(f64::INFINITY, f64::min);
            let mx = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (if mn == 0.0 { 0.0 } else { lo }, if mx == 0.0 { 0.0 } else { hi })
        } else {
            fit(&ys, 0.05, y_log)
        }
    });
    let (y_lo, y_hi) = if y_hi > y_lo { (y_lo, y_hi) } else { (0.0, 1.0) };
    let x_axis = Axis { lo: x_lo, hi: x_hi, log: false };
    let y_axis = Axis { lo: y_lo, hi: y_hi, log: y_log };

    // --- Vertical layout.
    let mut top = area.y + pad;
    let title_lines = wrap(&panel.title, s, area.w - 2.0 * pad);
    if !title_lines.is_empty() {
        top += title_height(title_lines.len(), s) + 3.0 * sf;
    }
    let plot_top = top + ch / 2.0;
    let mut bottom = area.y + area.h - pad;
    if !panel.x_label.is_empty() {
        bottom -= ch + 5.0 * sf;
    }
    let x_label_y = bottom + 5.0 * sf + ch / 2.0;
    let plot_bottom = (bottom - ch - gap - tick_len).max(plot_top + 1.0);

    // --- Y ticks and horizontal layout.
    let y_max_ticks = (((plot_bottom - plot_top) / (ch * 2.5)).floor() as usize).clamp(2, 10);
    let y_ticks = axis_ticks(&y_axis, y_max_ticks);
    let y_label_w = y_ticks.iter().map(|t| text_width(&t.1, s)).fold(0.0, f64::max);
    let mut left = area.x + pad;
    if !panel.y_label.is_empty() {
        left += ch + 4.0 * sf;
    }
    let y_label_x = area.x + pad + ch / 2.0;
    let plot_left = left + y_label_w + gap + tick_len;
    let mut plot_right = (area.x + area.w - pad - 4.0 * sf).max(plot_left + 1.0);

    // --- X ticks: custom (thinned) or numeric, shrinking the count until labels fit.
    let min_sep = 2.0 * sf * 6.0;
    let mut frame = Frame {
        left: plot_left,
        top: plot_top,
        right: plot_right,
        bottom: plot_bottom,
        x: x_axis,
        y: y_axis,
    };
    let x_ticks: Vec<(f64, String)> = match &panel.x_ticks {
        Some(custom) => {
            let mut kept: Vec<(f64, String)> = Vec::new();
            let mut last_right = f64::NEG_INFINITY;
            for (x, label) in custom {
                if !x.is_finite() || *x < x_lo || *x > x_hi {
                    continue;
                }
                let label = shorten(label, 18);
                let half = text_width(&label, s) / 2.0;
                let px = frame.px(*x);
                if px - half >= last_right + min_sep || kept.is_empty() {
                    last_right = px + half;
                    kept.push((*x, label));
                }
            }
            kept
        }
        None => {
            let mut max_ticks = 10;
            loop {
                let t = axis_ticks(&x_axis, max_ticks);
                let widest = t.iter().map(|t| text_width(&t.1, s)).fold(0.0, f64::max);
                let spacing = if t.len() > 1 { frame.px(t[1].0) - frame.px(t[0].0) } else { 1e9 };
                if spacing >= widest + min_sep || max_ticks <= 2 {
                    break t;
                }
                max_ticks -= 1;
            }
        }
    };
    // Room for the first label's left half and the last one's right half.
    if let Some((x, label)) = x_ticks.first() {
        let overflow = area.x + gap - (frame.px(*x) - text_width(label, s) / 2.0);
        if overflow > 0.0 {
            frame.left = (frame.left + overflow).min(frame.right - 1.0);
        }
    }
    if let Some((x, label)) = x_ticks.last() {
        let overflow = frame.px(*x) + text_width(label, s) / 2.0 - (area.x + area.w - pad);
        if overflow > 0.0 {
            plot_right = (plot_right - overflow).max(frame.left + 1.0);
            frame.right = plot_right;
        }
    }

    // --- Title, gridlines.
    let (lo, hi) = (area.x + pad, area.x + area.w - pad);
    let cx = (frame.left + frame.right) / 2.0;
    push_title(&title_lines, s, cx, area.y + pad, lo, hi, items);
    let (l, t, r, b) =
        (frame.left.round(), frame.top.round(), frame.right.round(), frame.bottom.round());
    let rect = |x: f64, y: f64, w: f64, h: f64, fill: Color| Item::Rect {
        x,
        y,
        w,
        h,
        fill,
        opacity: 1.0,
        stroke: None,
    };
    for (ty, _) in &y_ticks {
        let y = frame.py(*ty).round();
        items.push(rect(l, y, r - l, 1.0, GRID));
    }
    for (tx, _) in &x_ticks {
        let x = frame.px(*tx).round();
        items.push(rect(x, t, 1.0, b - t, GRID));
    }

    // --- Series, clipped to the plot area.
    items.push(Item::Clip(Some((l, t, r + 1.0, b + 1.0))));
    draw_series(panel, &frame, group_w, s, items);
    items.push(Item::Clip(None));

    // --- Frame, ticks, labels.
    items.push(rect(l, t, r - l + 1.0, 1.0, FRAME));
    items.push(rect(l, b, r - l + 1.0, 1.0, FRAME));
    items.push(rect(l, t, 1.0, b - t + 1.0, FRAME));
    items.push(rect(r, t, 1.0, b - t + 1.0, FRAME));
    for (ty, label) in &y_ticks {
        let y = frame.py(*ty).round();
        items.push(rect(l - tick_len, y, tick_len, 1.0, FRAME));
        items.push(text(l - tick_len - gap, y + 0.5, label, s, Anchor::End));
    }
    for (tx, label) in &x_ticks {
        let x = frame.px(*tx).round();
        items.push(rect(x, b + 1.0, 1.0, tick_len, FRAME));
        items.push(text(x + 0.5, b + 1.0 + tick_len + gap + ch / 2.0, label, s, Anchor::Middle));
    }
    if !panel.x_label.is_empty() {
        items.push(text((l + r) / 2.0, x_label_y, &panel.x_label, s, Anchor::Middle));
    }
    if !panel.y_label.is_empty() {
        items.push(Item::Text {
            x: y_label_x,
            y: (t + b) / 2.0,
            text: panel.y_label.clone(),
            scale: s,
            anchor: Anchor::Middle,
            vertical: true,
            bold: false,
        });
    }
    legend(panel, &frame, s, items);
}

fn series_color(panel: &Panel, i: usize) -> Color {
    panel.series[i].color.unwrap_or(Color::PALETTE[i % Color::PALETTE.len()])
}

fn line_width(s: u32) -> f64 {
    0.75 * s as f64 + 0.5
}

fn marker_radius(s: u32) -> f64 {
    1.5 * s as f64 + 0.5
}

fn draw_series(panel: &Panel, frame: &Frame, group_w: f64, s: u32, items: &mut Vec<Item>) {
    let n_bars = panel.series.iter().filter(|s| s.kind == SeriesKind::Bars).count();
    let mut bar_index = 0;
    for (i, series) in panel.series.iter().enumerate() {
        let color = series_color(panel, i);
        match series.kind {
            SeriesKind::Line | SeriesKind::LineMarkers => {
                let mut run: Vec<(f64, f64)> = Vec::new();
                for p in &series.points {
                    match frame.point(*p) {
                        Some(q) => run.push(q),
                        None if run.is_empty() => {}
                        None => items.push(Item::Polyline {
                            points: std::mem::take(&mut run),
                            color,
                            width: line_width(s),
                        }),
                    }
                }
                if !run.is_empty() {
                    items.push(Item::Polyline { points: run, color, width: line_width(s) });
                }
                if series.kind == SeriesKind::LineMarkers {
                    for (cx, cy) in series.points.iter().filter_map(|p| frame.point(*p)) {
                        let r = marker_radius(s);
                        items.push(Item::Circle { cx, cy, r, fill: color, opacity: 1.0 });
                    }
                }
            }
            SeriesKind::Scatter => {
                for (cx, cy) in series.points.iter().filter_map(|p| frame.point(*p)) {
                    let r = marker_radius(s);
                    items.push(Item::Circle { cx, cy, r, fill: color, opacity: 0.75 });
                }
            }
            SeriesKind::Bars => {
                let each = group_w / n_bars.max(1) as f64;
                let offset = (bar_index as f64 - (n_bars as f64 - 1.0) / 2.0) * each;
                bar_index += 1;
                let base = if frame.y.log { frame.y.lo } else { 0.0 };
                let base_px = frame.py(base.clamp(frame.y.lo, frame.y.hi));
                for &(x, y) in &series.points {
                    let (Some(tx), Some(ty)) = (frame.x.t(x), frame.y.t(y)) else { continue };
                    let x0 = frame.px(tx + offset - each / 2.0);
                    let x1 = frame.px(tx + offset + each / 2.0);
                    let yp = frame.py(ty);
                    let (y0, y1) = (yp.min(base_px), yp.max(base_px));
                    // Leave a hairline between neighbouring bars.
                    let inset = if x1 - x0 > 4.0 { 0.5 } else { 0.0 };
                    items.push(Item::Rect {
                        x: x0 + inset,
                        y: y0,
                        w: (x1 - x0 - 2.0 * inset).max(1.0),
                        h: (y1 - y0).max(1.0),
                        fill: color,
                        opacity: 1.0,
                        stroke: None,
                    });
                }
            }
        }
    }
}

/// A legend for the named series when the panel has more than one series, in the corner of
/// the plot area where it hides the fewest points.
fn legend(panel: &Panel, frame: &Frame, s: u32, items: &mut Vec<Item>) {
    if panel.series.len() < 2 {
        return;
    }
    let entries: Vec<usize> =
        (0..panel.series.len()).filter(|&i| !panel.series[i].name.is_empty()).collect();
    if entries.is_empty() {
        return;
    }
    let sf = s as f64;
    let row = 11.0 * sf;
    let swatch = 14.0 * sf;
    let inner = 4.0 * sf;
    let name_w = entries.iter().map(|&i| text_width(&panel.series[i].name, s)).fold(0.0, f64::max);
    let w = inner + swatch + inner + name_w + inner;
    let h = entries.len() as f64 * row + inner;
    let inset = 4.0 * sf;
    let (l, t, r, b) = (frame.left, frame.top, frame.right, frame.bottom);
    // Upper right, upper left, lower left, lower right.
    let corners = [
        (r - inset - w, t + inset),
        (l + inset, t + inset),
        (l + inset, b - inset - h),
        (r - inset - w, b - inset - h),
    ];
    // Points to avoid: the data, plus points along line segments.
    let mut obstacles: Vec<(f64, f64)> = Vec::new();
    for series in &panel.series {
        let pts: Vec<(f64, f64)> = series.points.iter().filter_map(|p| frame.point(*p)).collect();
        obstacles.extend(&pts);
        if matches!(series.kind, SeriesKind::Line | SeriesKind::LineMarkers) {
            for win in pts.windows(2) {
                for k in 1..8 {
                    let f = k as f64 / 8.0;
                    obstacles.push((
                        win[0].0 + (win[1].0 - win[0].0) * f,
                        win[0].1 + (win[1].1 - win[0].1) * f,
                    ));
                }
            }
        }
        if series.kind == SeriesKind::Bars {
            // A bar covers from its top down to the axis.
            for &(x, y) in &pts {
                let mut yy = y;
                while yy < b {
                    obstacles.push((x, yy));
                    yy += row / 2.0;
                }
            }
        }
    }
    let hidden = |(cx, cy): (f64, f64)| {
        obstacles
            .iter()
            .filter(|(x, y)| *x >= cx && *x <= cx + w && *y >= cy && *y <= cy + h)
            .count()
    };
    let mut best = corners[0];
    let mut best_hidden = usize::MAX;
    for c in corners {
        let n = hidden(c);
        if n < best_hidden {
            best = c;
            best_hidden = n;
        }
    }
    let (x0, y0) = (best.0.round(), best.1.round());
    items.push(Item::Rect {
        x: x0,
        y: y0,
        w: w.round(),
        h: h.round(),
        fill: Color::WHITE,
        opacity: 0.85,
        stroke: Some(Color::rgb(0xbb, 0xbb, 0xbb)),
    });
    for (k, &i) in entries.iter().enumerate() {
        let series = &panel.series[i];
        let color = series_color(panel, i);
        let cy = y0 + inner / 2.0 + (k as f64 + 0.5) * row;
        let sx = x0 + inner;
        match series.kind {
            SeriesKind::Line | SeriesKind::LineMarkers => {
                items.push(Item::Polyline {
                    points: vec![(sx, cy), (sx + swatch, cy)],
                    color,
                    width: line_width(s),
                });
                if series.kind == SeriesKind::LineMarkers {
                    items.push(Item::Circle {
                        cx: sx + swatch / 2.0,
                        cy,
                        r: marker_radius(s),
                        fill: color,
                        opacity: 1.0,
                    });
                }
            }
            SeriesKind::Scatter => {
                items.push(Item::Circle {
                    cx: sx + swatch / 2.0,
                    cy,
                    r: marker_radius(s),
                    fill: color,
                    opacity: 1.0,
                });
            }
            SeriesKind::Bars => {
                items.push(Item::Rect {
                    x: sx + swatch * 0.2,
                    y: cy - 3.0 * sf,
                    w: swatch * 0.6,
                    h: 6.0 * sf,
                    fill: color,
                    opacity: 1.0,
                    stroke: None,
                });
            }
        }
        items.push(text(sx + swatch + inner, cy, &series.name, s, Anchor::Start));
    }
}
