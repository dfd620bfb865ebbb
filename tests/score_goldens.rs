//! `score_model` reproduces PyTorch: per-layer participation ratio, per-tensor gradient std and
//! max |g|, and the score components (γ, o, L, I), to 1e-4 relative, against the float64 goldens
//! of `tests/goldens/make_score_goldens.py` (TinyResNet, weights as stored, batch 8 from
//! `tests/goldens/score/x.npy`, labels from `labels.npy`, BatchNorm batch statistics, mean
//! cross-entropy).
//!
//! Two models carry the same weights and the same golden: the committed PyTorch fixture
//! `models/onnx/tinyresnet_ts_unfolded.onnx`, whose TorchScript export shares equal-valued BN
//! tensors through `Identity` nodes (a BN's running_var is an alias of the initializer that is
//! also BN weights, running_mean of the one that is BN biases), and
//! `tests/goldens/score/tinyresnet_unshared.onnx`, the same graph with every such alias replaced
//! by its own copy of the initializer.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use intrain::analysis::gradients::PassInputs;
use intrain::analysis::score::{InitMode, ScoreReport, default_layers, score_model};
use intrain::autodiff::TrainingOptions;
use intrain::onnx::{ImportOptions, load_model};
use serde_json::Value;

/// Tolerance relative to the PyTorch float64 value (intrain computes in float32).
const REL_TOL: f64 = 1e-4;

const FIXTURE: &str = "models/onnx/tinyresnet_ts_unfolded.onnx";
const UNSHARED: &str = "tests/goldens/score/tinyresnet_unshared.onnx";

fn golden() -> Value {
    let p = common::root().join("tests/goldens/score/tinyresnet.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("golden json")).expect("json")
}

/// Scores `model` (relative to the project root) with the golden's input and labels.
fn score(model: &str) -> ScoreReport {
    let dir = common::root().join("tests/goldens/score");
    let m = load_model(
        &common::root().join(model),
        &ImportOptions { batch: Some(8), ..Default::default() },
    )
    .expect("import");
    let x = intrain::npy::read(&dir.join("x.npy")).expect("x.npy");
    let labels = intrain::npy::read(&dir.join("labels.npy")).expect("labels.npy");
    let input = m.graph.value(m.graph.inputs()[0]).name.clone();
    let inputs = PassInputs { inputs: BTreeMap::from([(input, x)]), target: Some(labels), seed: 0 };
    score_model(
        &common::runtime(),
        &m.graph,
        None,
        InitMode::AsIs,
        &TrainingOptions::default(),
        &inputs,
    )
    .expect("score")
}

fn rel(ours: f64, theirs: f64) -> f64 {
    (ours - theirs).abs() / theirs.abs().max(1e-300)
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("golden field {k}"))
}

/// Every failure of `checks` (name, ours, PyTorch) beyond the tolerance, in one message.
fn assert_all_close(what: &str, model: &str, checks: &[(String, f64, f64)]) {
    let worst = checks.iter().map(|(_, a, b)| rel(*a, *b)).fold(0.0, f64::max);
    eprintln!("{model}: {what}: {} values, worst relative deviation {worst:.2e}", checks.len());
    let bad: Vec<String> = checks
        .iter()
        .filter(|(_, a, b)| rel(*a, *b).is_nan() || rel(*a, *b) > REL_TOL)
        .map(|(n, a, b)| format!("  {n}: ours {a:.9e}, PyTorch {b:.9e} (rel {:.2e})", rel(*a, *b)))
        .collect();
    assert!(
        bad.is_empty(),
        "{model}: {what} differ from PyTorch beyond {REL_TOL:e}:\n{}",
        bad.join("\n")
    );
}

fn check_layers(model: &str) {
    let g = golden();
    let r = score(model);
    let golden_layers = g["layers"].as_array().expect("layers");
    let ours: Vec<&str> = r.layers.iter().map(|l| l.name.as_str()).collect();
    let theirs: Vec<&str> =
        golden_layers.iter().map(|l| l["name"].as_str().expect("name")).collect();
    assert_eq!(ours, theirs, "{model}: the default rule picks the layers the golden hooked");
    let mut checks = Vec::new();
    for (l, gl) in r.layers.iter().zip(golden_layers) {
        assert_eq!(l.spectrum.dead, gl["dead"].as_bool().expect("dead"), "{}: dead", l.name);
        assert_eq!(l.spectrum.channels as u64, gl["channels"].as_u64().expect("channels"));
        checks.push((format!("PR {}", l.name), l.spectrum.pr, num(gl, "pr")));
    }
    assert_all_close("per-layer PR", model, &checks);
}

fn check_tensors(model: &str) {
    let g = golden();
    let r = score(model);
    let golden_tensors: BTreeMap<&str, &Value> = g["tensors"]
        .as_array()
        .expect("tensors")
        .iter()
        .map(|t| (t["onnx_name"].as_str().expect("onnx_name"), t))
        .collect();
    let ours: BTreeSet<&str> = r.tensors.iter().map(|t| t.name.as_str()).collect();
    let theirs: BTreeSet<&str> = golden_tensors.keys().copied().collect();
    assert_eq!(ours, theirs, "{model}: the tensors scored are PyTorch's parameters");
    let mut checks = Vec::new();
    for t in &r.tensors {
        let gt = golden_tensors[t.name.as_str()];
        let s = t.grad.unwrap_or_else(|| panic!("{model}: {} has no gradient", t.name));
        checks.push((format!("std(grad {})", t.name), s.std, num(gt, "std")));
        checks.push((format!("max|grad {}|", t.name), s.max_abs, num(gt, "max_abs")));
    }
    assert_all_close("per-tensor gradient std and max |g|", model, &checks);
}

fn check_score(model: &str) {
    let g = golden();
    let r = score(model);
    let gs = &g["score"];
    assert_eq!(r.score.layers as u64, gs["layers"].as_u64().expect("L"), "{model}: L");
    assert_eq!(r.score.tensors as u64, gs["tensors"].as_u64().expect("tensors"), "{model}: #h");
    assert_eq!(r.score.dead_layers as u64, gs["dead_layers"].as_u64().expect("dead"));
    let h: BTreeMap<&str, f64> = g["tensors"]
        .as_array()
        .expect("tensors")
        .iter()
        .filter_map(|t| Some((t["onnx_name"].as_str()?, t["h"].as_f64()?)))
        .collect();
    let mut checks = vec![
        ("loss".to_string(), r.loss, num(&g, "loss")),
        ("gamma".to_string(), r.score.gamma, num(gs, "gamma")),
        ("o".to_string(), r.score.o, num(gs, "o")),
        ("InTrain".to_string(), r.score.intrain, num(gs, "intrain")),
    ];
    for t in &r.tensors {
        if let (Some(ours), Some(&theirs)) = (t.h, h.get(t.name.as_str())) {
            checks.push((format!("h {}", t.name), ours, theirs));
        }
    }
    assert_all_close("loss, per-tensor h and score components", model, &checks);
}

#[test]
fn golden_names_the_default_rule_layers_of_both_models() {
    for model in [FIXTURE, UNSHARED] {
        let m = load_model(
            &common::root().join(model),
            &ImportOptions { batch: Some(8), ..Default::default() },
        )
        .expect("import");
        let theirs: Vec<String> = golden()["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["name"].as_str().expect("name").to_string())
            .collect();
        assert_eq!(default_layers(&m.graph), theirs, "{model}");
    }
    assert!(common::root().join(UNSHARED).is_file());
}

#[test]
fn unshared_fixture_layer_pr_matches_pytorch() {
    check_layers(UNSHARED);
}

#[test]
fn unshared_fixture_gradient_std_and_max_match_pytorch() {
    check_tensors(UNSHARED);
}

#[test]
fn unshared_fixture_loss_h_and_score_components_match_pytorch() {
    check_score(UNSHARED);
}

#[test]
fn exported_fixture_layer_pr_matches_pytorch() {
    check_layers(FIXTURE);
}

#[test]
fn exported_fixture_gradient_std_and_max_match_pytorch() {
    check_tensors(FIXTURE);
}

#[test]
fn exported_fixture_loss_h_and_score_components_match_pytorch() {
    check_score(FIXTURE);
}
