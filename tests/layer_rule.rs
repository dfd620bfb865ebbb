//! The default layer rule and the initialisation rule on architectures beyond ReLU networks:
//! tiny PyTorch exports (`models/scripts/export_layer_rule_fixtures.py`) of a ViT with exact GELU
//! spelled out, a ConvNeXt block with layer scale, and a conv chain with SiLU, tanh-GELU,
//! HardSwish and Mish written element-wise.

mod common;

use intrain::analysis::score::{default_layers, kaiming_init};
use intrain::ir::cost::parameters;
use intrain::onnx::{ImportOptions, load_model};

fn layers(model: &str) -> Vec<String> {
    let m = load_model(
        &common::root().join("models/onnx").join(model),
        &ImportOptions { batch: Some(4), ..Default::default() },
    )
    .expect("import");
    default_layers(&m.graph)
}

/// `intrain score MODEL --batch 4 --json` with no other flags.
fn score(model: &str) -> serde_json::Value {
    let path = common::root().join("models/onnx").join(model);
    let out = common::intrain(&[
        "score",
        path.to_str().expect("utf-8"),
        "--batch",
        "4",
        "--json",
        "--threads",
        "1",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    common::stdout_json(&out)
}

fn layer_names(report: &serde_json::Value) -> Vec<String> {
    report["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["name"].as_str().expect("name").to_string())
        .collect()
}

#[test]
fn gated_activations_spelled_out_count_once_each() {
    let l = layers("gated_acts.onnx");
    // SiLU, tanh-GELU, HardSwish and Mish end in a Mul or Div of their own; the ReLU is plain.
    // Their inner Sigmoid, Tanh, Clip and Softplus nodes do not count.
    assert_eq!(l.len(), 5, "{l:?}");
    assert!(l.last().is_some_and(|n| n.contains("Relu")), "{l:?}");
    assert!(!l.iter().any(|n| n.contains("Tanh") || n.contains("Clip") || n.contains("Softplus")));
}

#[test]
fn a_vit_has_layers_under_the_default_rule() {
    let l = layers("vit_tiny.onnx");
    // The token stream after the class token, and per block: two LayerNorms, two residual Adds
    // and the GELU; then the final LayerNorm.
    assert_eq!(l.len(), 12, "{l:?}");
    assert_eq!(l.iter().filter(|n| n.contains("LayerNormalization")).count(), 5, "{l:?}");
    assert_eq!(l.iter().filter(|n| n.contains("/Mul_1_output")).count(), 2, "{l:?}");
    let r = score("vit_tiny.onnx");
    assert_eq!(layer_names(&r), l);
    assert_eq!(r["score"]["layers"], 12);
    assert!(r["score"]["intrain"].as_f64().expect("I") > 0.0);
    // Token features (N, T, D): D channels, N·T samples.
    let first = &r["layers"][0];
    assert_eq!(first["shape"], serde_json::json!([4, 17, 16]));
    assert_eq!((first["channels"].as_u64(), first["samples"].as_u64()), (Some(16), Some(68)));
}

#[test]
fn convnext_layer_scale_survives_kaiming_init() {
    let path = common::root().join("models/onnx/convnext_block.onnx");
    let mut m =
        load_model(&path, &ImportOptions { batch: Some(4), ..Default::default() }).expect("import");
    let before = m.graph.clone();
    kaiming_init(&mut m.graph, 0).expect("init");
    let value = |g: &intrain::ir::Graph, name: &str| {
        let p = parameters(g)
            .into_iter()
            .find(|p| g.value(p.initializer).name == name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        g.value(p.initializer).data.as_ref().expect("initializer").to_f64()
    };
    assert_eq!(value(&m.graph, "gamma"), value(&before, "gamma"));
    assert!(value(&m.graph, "gamma").iter().all(|&x| (x - 1e-6).abs() < 1e-12));
    assert!(value(&m.graph, "fc1.bias").iter().all(|&x| x == 0.0), "linear bias set to 0");
    assert!(value(&m.graph, "norm.weight").iter().all(|&x| x == 1.0));
    // The linear weights, stored (out, in) behind a Transpose for MatMul, are re-drawn with
    // fan_in = in = 16: std √(2/16) ≈ 0.354 (PyTorch's own init has std ≈ 0.144).
    let w = value(&m.graph, "fc1.weight");
    assert_ne!(w, value(&before, "fc1.weight"));
    let std = (w.iter().map(|x| x * x).sum::<f64>() / w.len() as f64).sqrt();
    assert!((std / (2.0f64 / 16.0).sqrt() - 1.0).abs() < 0.1, "fc1.weight std {std}");

    let r = score("convnext_block.onnx");
    let l = layer_names(&r);
    // The GELU (channels-last, inside the block) and the residual Add.
    assert_eq!(l.len(), 2, "{l:?}");
    let gelu = &r["layers"][0];
    assert_eq!((gelu["channels"].as_u64(), gelu["samples"].as_u64()), (Some(64), Some(64)));
    let min_h = r["tensors"]
        .as_array()
        .expect("tensors")
        .iter()
        .filter_map(|t| t["h"].as_f64())
        .fold(f64::INFINITY, f64::min);
    assert!(min_h > 0.0, "a zero gradient remains: min h {min_h}");
}
