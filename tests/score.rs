//! `intrain score`: the layer rule, determinism, dead layers, and the JSON report.

mod common;

use intrain::analysis::gradients::PassInputs;
use intrain::analysis::score::{InitMode, default_layers, score_model};
use intrain::autodiff::TrainingOptions;
use intrain::onnx::{ImportOptions, load_model};
use intrain::space::{Arch, LowerOptions, SearchSpace};

#[test]
fn default_rule_picks_post_activation_block_outputs() {
    let m = load_model(
        &common::root().join("models/onnx/tinyresnet_ts_unfolded.onnx"),
        &ImportOptions { batch: Some(4), ..Default::default() },
    )
    .expect("import");
    let layers = default_layers(&m.graph);
    // stem ReLU, then per residual block the inner ReLU and the ReLU after the residual Add
    // (which stands for the Add it consumes).
    assert_eq!(layers.len(), 5, "{layers:?}");
    assert!(layers.iter().all(|l| l.contains("Relu")), "{layers:?}");
}

#[test]
fn scores_are_deterministic_for_a_seed_and_differ_across_seeds() {
    let m = load_model(
        &common::root().join("models/onnx/tinyresnet_ts_unfolded.onnx"),
        &ImportOptions { batch: Some(8), ..Default::default() },
    )
    .expect("import");
    let rt = common::runtime();
    let run = |seed| {
        score_model(
            &rt,
            &m.graph,
            None,
            InitMode::Kaiming,
            &TrainingOptions::default(),
            &PassInputs { seed, ..Default::default() },
        )
        .expect("score")
    };
    let (a, b, c) = (run(3), run(3), run(4));
    assert_eq!(a.score.intrain.to_bits(), b.score.intrain.to_bits(), "bitwise deterministic");
    assert_ne!(a.score.intrain, c.score.intrain);
    assert!(a.score.intrain.is_finite() && a.score.intrain > 0.0);
    assert_eq!(a.score.tensors, 20);
}

#[test]
fn an_all_none_cell_has_dead_layers_and_a_finite_score() {
    let space = SearchSpace::read(&common::root().join("models/spaces/nb201.yaml")).expect("space");
    let arch =
        Arch::parse(&space, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|").expect("arch");
    let g = space.lower(&arch, &LowerOptions { batch: 8, ..Default::default() }).expect("lower");
    let cells: Vec<String> = (1..=3).map(|s| format!("stage{s}/cell0/node3_zero")).collect();
    let r = score_model(
        &common::runtime(),
        &g,
        Some(cells),
        InitMode::AsIs,
        &TrainingOptions::default(),
        &PassInputs::default(),
    )
    .expect("score");
    assert_eq!(r.score.dead_layers, 3);
    assert_eq!(r.score.gamma, 0.0, "dead layers contribute log PR = 0");
    assert!(r.score.intrain.is_finite());
}

#[test]
fn json_report_carries_the_seed_and_components() {
    let out = common::intrain(&[
        "score",
        "models/onnx/tinyresnet_ts_unfolded.onnx",
        "--batch",
        "4",
        "--seed",
        "7",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["seed"], 7);
    for k in ["intrain", "gamma", "o", "layers", "tensors"] {
        assert!(v["score"][k].is_number(), "score.{k}");
    }
    assert_eq!(v["layers"].as_array().expect("layers").len(), 5);
}
