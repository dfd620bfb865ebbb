//! Draws the training curves of the failure corpus (`models/scripts/failure_corpus.py` writes
//! `target/failure-corpus/curves.json`): the loss per step of every model, with intrain's own
//! charts.
//!
//! `cargo run --example failure_curves [CURVES.json [OUT.png|svg]]`

use intrain::plot::{Figure, Panel, Series};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "target/failure-corpus/curves.json".into());
    let output = args.next().unwrap_or_else(|| "target/failure-corpus/curves.png".into());
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&input)?)?;
    let models = doc["models"].as_object().ok_or_else(|| anyhow::anyhow!("{input}: no models"))?;
    let mut panel = Panel::new("training loss on 256 real CIFAR-10 images (SGD, batch 32)")
        .x_label("step")
        .y_label("cross-entropy (ln 10 = 2.30 is chance)");
    for (name, m) in models {
        let losses = m["losses"].as_array().map(Vec::as_slice).unwrap_or_default();
        // A step whose loss overflowed ends the curve (it is marked in the legend).
        let points: Vec<(f64, f64)> = losses
            .iter()
            .enumerate()
            .map_while(|(i, v)| v.as_f64().map(|v| (i as f64 + 1.0, v.min(10.0))))
            .collect();
        let verdict = if m["trains"].as_bool() == Some(true) { "trains" } else { "fails" };
        let overflow = if points.len() < losses.len() { ", loss overflows" } else { "" };
        panel = panel.series(Series::line(format!("{name} ({verdict}{overflow})"), points));
    }
    Figure::new(1000, 650)
        .title("Failure corpus: does each model train?")
        .panel(panel)
        .save(&output)?;
    eprintln!("wrote {output}");
    Ok(())
}
