//! Charts: SVG text content, escaping and determinism; PNG decoding, size and content;
//! robustness to NaN, empty and constant data; file extensions.

use intrain::Error;
use intrain::plot::{Color, Figure, Panel, Series, SeriesKind, nice_ticks};

/// Decodes a PNG to (width, height, RGB bytes).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let size = reader.output_buffer_size().expect("buffer size");
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn scatter_figure() -> Figure {
    let pts: Vec<(f64, f64)> =
        (0..50).map(|i| (i as f64 * 0.1, 60.0 + (i as f64 * 0.37).sin() * 10.0)).collect();
    Figure::new(640, 480).title("Search: cifar10").panel(
        Panel::new("score vs accuracy, Kendall τ = 0.613")
            .x_label("InTrain score")
            .y_label("accuracy (%)")
            .series(Series::scatter("archs", pts)),
    )
}

fn profile_figure() -> Figure {
    let pr: Vec<(f64, f64)> = (0..12).map(|i| (i as f64, 0.2 + 0.05 * i as f64)).collect();
    let h: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 10f64.powi(i % 5 - 3))).collect();
    let ticks = (0..12).map(|i| (i as f64, format!("cells.{i}.conv"))).collect();
    Figure::new(900, 700)
        .panel(
            Panel::new("PR/C per layer")
                .x_label("layer")
                .y_label("PR/C")
                .series(Series::line_markers("PR/C", pr))
                .x_ticks(ticks),
        )
        .panel(
            Panel::new("gradient health")
                .y_label("h")
                .y_log(true)
                .series(Series::bars("h", h).with_color(Color::rgb(200, 30, 30))),
        )
}

#[test]
fn svg_has_title_labels_and_legend() {
    let svg = scatter_figure().to_svg();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\""), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    for text in
        ["Search: cifar10", "score vs accuracy, Kendall τ = 0.613", "InTrain score", "accuracy (%)"]
    {
        assert!(svg.contains(&format!(">{text}</text>")), "missing {text}");
    }
    assert!(svg.contains("<circle"));
    // A single series: no legend entry.
    assert!(!svg.contains(">archs</text>"));

    let two = Figure::new(600, 400).panel(
        Panel::new("best over iterations")
            .series(Series::line("evolution", vec![(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]))
            .series(Series::line("random", vec![(0.0, 0.5), (1.0, 1.5), (2.0, 1.7)])),
    );
    let svg = two.to_svg();
    assert!(svg.contains(">evolution</text>") && svg.contains(">random</text>"));
    assert!(svg.contains("<polyline"));
}

#[test]
fn svg_is_deterministic_and_escaped() {
    let fig = profile_figure();
    assert_eq!(fig.to_svg(), fig.to_svg());
    assert_eq!(fig.to_png().expect("png"), fig.to_png().expect("png"));

    let fig = Figure::new(400, 300).panel(
        Panel::new("a < b & c > \"d\"")
            .x_label("<x>")
            .series(Series::line("s", vec![(0.0, 0.0), (1.0, 1.0)])),
    );
    let svg = fig.to_svg();
    assert!(svg.contains(">a &lt; b &amp; c &gt; &quot;d&quot;</text>"), "{svg}");
    assert!(svg.contains(">&lt;x&gt;</text>"));
    assert!(!svg.contains("a < b"));
}

#[test]
fn png_decodes_to_requested_size_with_content() {
    for (fig, w, h) in [(scatter_figure(), 640, 480), (profile_figure(), 900, 700)] {
        let bytes = fig.to_png().expect("png");
        let (width, height, px) = decode(&bytes);
        assert_eq!((width, height), (w, h));
        assert_eq!(px.len(), (w * h * 3) as usize);
        let white = px.chunks(3).filter(|p| p == &[255, 255, 255]).count();
        let other = px.len() / 3 - white;
        assert!(white > px.len() / 3 / 2, "mostly background: {white}");
        assert!(other > 1000, "drawn pixels: {other}");
    }
    // The custom bar color shows up.
    let (_, _, px) = decode(&profile_figure().to_png().expect("png"));
    assert!(px.chunks(3).any(|p| p == [200, 30, 30]));
}

#[test]
fn nan_empty_and_constant_data_do_not_panic() {
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    let kinds = [SeriesKind::Line, SeriesKind::Scatter, SeriesKind::LineMarkers, SeriesKind::Bars];
    for kind in kinds {
        for log in [false, true] {
            let fig = Figure::new(300, 200)
                .panel(
                    Panel::new("nan")
                        .y_log(log)
                        .series(Series::new("a", kind, vec![(0.0, nan), (nan, 1.0), (2.0, 3.0)]))
                        .series(Series::new("b", kind, vec![(1.0, inf), (2.0, -1.0), (3.0, 0.0)])),
                )
                .panel(Panel::new("empty").y_log(log).series(Series::new("e", kind, vec![])))
                .panel(Panel::new("no series"))
                .panel(Panel::new("constant").y_log(log).series(Series::new(
                    "c",
                    kind,
                    vec![(1.0, 2.0), (1.0, 2.0)],
                )))
                .panel(Panel::new("all nan").series(Series::new("n", kind, vec![(nan, nan); 3])));
            let svg = fig.to_svg();
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            let (w, h, _) = decode(&fig.to_png().expect("png"));
            assert_eq!((w, h), (300, 200));
        }
    }
    // Bad fixed ranges fall back to the data; tiny figures still render.
    let fig = Figure::new(40, 30).panel(
        Panel::new("a very long title that cannot fit")
            .x_range(1.0, 1.0)
            .y_range(nan, 2.0)
            .series(Series::line("x", vec![(0.0, 1.0), (1.0, 2.0)])),
    );
    decode(&fig.to_png().expect("png"));
    assert!(Figure::new(0, 10).to_png().is_err());
    assert!(Figure::new(10, 100_000).to_png().is_err());
}

#[test]
fn save_picks_format_by_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fig = scatter_figure();
    let svg = dir.path().join("out.svg");
    let png = dir.path().join("OUT.PNG");
    fig.save(&svg).expect("svg");
    fig.save(&png).expect("png");
    assert_eq!(std::fs::read_to_string(&svg).expect("read"), fig.to_svg());
    let (w, h, _) = decode(&std::fs::read(&png).expect("read"));
    assert_eq!((w, h), (640, 480));

    let bad = dir.path().join("out.jpg");
    let err = fig.save(&bad).expect_err("jpg is not supported");
    assert!(matches!(err, Error::Plot(_)), "{err:?}");
    assert!(err.to_string().contains("out.jpg"), "{err}");
    assert!(!bad.exists());
    assert!(matches!(fig.save(dir.path().join("noext")), Err(Error::Plot(_))));
    let missing = dir.path().join("no/such/dir/out.png");
    assert!(matches!(fig.save(&missing), Err(Error::Io { .. })));
}

#[test]
fn nice_ticks_use_1_2_5_steps() {
    assert_eq!(nice_ticks(0.0, 1.0, 6), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    assert_eq!(nice_ticks(0.0, 100.0, 3), vec![0.0, 50.0, 100.0]);
    assert_eq!(nice_ticks(-3.0, 7.0, 11), (-3..=7).map(f64::from).collect::<Vec<_>>());
    assert_eq!(nice_ticks(12.3, 48.0, 5), vec![20.0, 30.0, 40.0]);
    for (lo, hi) in [(0.0013, 0.0071), (-5e6, 2e7), (0.999, 1.001), (3.0, 3.5)] {
        let t = nice_ticks(lo, hi, 8);
        assert!(t.len() >= 2 && t.len() <= 8, "{lo}..{hi}: {t:?}");
        assert!(t.iter().all(|v| *v >= lo && *v <= hi));
        let step = t[1] - t[0];
        let mant = step / 10f64.powf(step.log10().floor());
        assert!([1.0, 2.0, 5.0].iter().any(|m| (mant - m).abs() < 1e-6), "step {step}");
    }
    assert!(nice_ticks(1.0, 1.0, 5).is_empty());
    assert!(nice_ticks(f64::NAN, 1.0, 5).is_empty());
}
