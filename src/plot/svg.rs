//! SVG output, written by hand.

use std::fmt::Write;

use super::{Anchor, Item, Scene, TEXT};

/// Font stack for text; the layout assumes a monospace font whose advance is 0.6 em.
const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";

/// Escapes text for XML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most 2 decimals, without trailing zeros.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Renders a scene as an SVG document.
pub(crate) fn render(scene: &Scene) -> String {
    let (w, h) = (scene.width, scene.height);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#
    );
    let _ = writeln!(out, r#"<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>"#);
    let mut clip_id = 0;
    let mut in_clip = false;
    for item in &scene.items {
        match item {
            Item::Rect { x, y, w, h, fill, opacity, stroke } => {
                let _ = write!(
                    out,
                    r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}""#,
                    num(*x),
                    num(*y),
                    num(*w),
                    num(*h),
                    fill.hex()
                );
                if *opacity < 1.0 {
                    let _ = write!(out, r#" fill-opacity="{}""#, num(*opacity));
                }
                if let Some(c) = stroke {
                    // A 1-pixel border inside the rectangle, as in the PNG.
                    let _ = write!(
                        out,
                        r#"/>{}<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="{}" stroke-width="1""#,
                        '\n',
                        num(x + 0.5),
                        num(y + 0.5),
                        num((w - 1.0).max(0.0)),
                        num((h - 1.0).max(0.0)),
                        c.hex()
                    );
                }
                out.push_str("/>\n");
            }
            Item::Polyline { points, color, width } => {
                let pts: Vec<String> =
                    points.iter().map(|(x, y)| format!("{},{}", num(*x), num(*y))).collect();
                let _ = writeln!(
                    out,
                    r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{}" stroke-linejoin="round" stroke-linecap="round"/>"#,
                    pts.join(" "),
                    color.hex(),
                    num(*width)
                );
            }
            Item::Circle { cx, cy, r, fill, opacity } => {
                let _ = write!(
                    out,
                    r#"<circle cx="{}" cy="{}" r="{}" fill="{}""#,
                    num(*cx),
                    num(*cy),
                    num(*r),
                    fill.hex()
                );
                if *opacity < 1.0 {
                    let _ = write!(out, r#" fill-opacity="{}""#, num(*opacity));
                }
                out.push_str("/>\n");
            }
            Item::Text { x, y, text, scale, anchor, vertical, bold } => {
                let size = 10.0 * *scale as f64;
                let anchor = match anchor {
                    Anchor::Start => "start",
                    Anchor::Middle => "middle",
                    Anchor::End => "end",
                };
                // The baseline sits 0.35 em below the center line (cap height ≈ 0.7 em).
                let (tx, ty) = (num(*x), num(*y + 0.35 * size));
                let _ = write!(
                    out,
                    r#"<text x="{tx}" y="{ty}" font-family="{FONT}" font-size="{}" fill="{}" text-anchor="{anchor}""#,
                    num(size),
                    TEXT.hex()
                );
                if *bold {
                    out.push_str(r#" font-weight="bold""#);
                }
                if *vertical {
                    let _ = write!(out, r#" transform="rotate(-90 {} {})""#, num(*x), num(*y));
                }
                let _ = writeln!(out, ">{}</text>", escape(text));
            }
            Item::Clip(Some((x0, y0, x1, y1))) => {
                if in_clip {
                    out.push_str("</g>\n");
                }
                clip_id += 1;
                let _ = writeln!(
                    out,
                    r#"<clipPath id="clip{clip_id}"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath>"#,
                    num(*x0),
                    num(*y0),
                    num(x1 - x0),
                    num(y1 - y0)
                );
                let _ = writeln!(out, r#"<g clip-path="url(#clip{clip_id})">"#);
                in_clip = true;
            }
            Item::Clip(None) => {
                if in_clip {
                    out.push_str("</g>\n");
                    in_clip = false;
                }
            }
        }
    }
    if in_clip {
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}
