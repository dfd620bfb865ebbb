//! Training graphs of models exported from PyTorch reproduce PyTorch's autograd: the loss and
//! every parameter gradient, against float64 goldens from `tests/goldens/make_grad_goldens.py`
//! (a small ResNet, the same with initializers shared through Identity nodes, an inverted
//! residual with depthwise conv, HardSwish, squeeze-excitation and ReLU6, a NAS-Bench-201 network
//! with one cell per stage, and an attention block with LayerNorm, MatMul, Softmax and Gelu), and
//! two regressions from exported torchvision models (`tests/goldens/make_regression_goldens.py`).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use intrain::autodiff::{TrainingOptions, build_training_graph};
use intrain::onnx::{ImportOptions, load_model, to_bytes};

/// Tolerance relative to each gradient tensor's largest element (float32 against PyTorch's float64).
const REL_TOL: f64 = 1e-4;

fn check(name: &str) {
    let dir = common::root().join("tests/goldens/grad").join(name);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("json");
    let m = load_model(&dir.join("model.onnx"), &ImportOptions::default()).expect("import");
    let tg = build_training_graph(&m.graph, &TrainingOptions::default()).expect("training graph");
    let bytes = to_bytes(&tg.graph);
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("train_{name}.onnx")),
        &bytes,
    );

    let x = intrain::npy::read(&dir.join("x.npy")).expect("x");
    let labels = intrain::npy::read(&dir.join("labels.npy")).expect("labels");
    let mut s = common::runtime().session(&bytes).expect("session");
    let label_input = tg.target_input.clone().expect("labels input");
    let out = s.run(&[(tg.inputs[0].as_str(), &x), (label_input.as_str(), &labels)]).expect("run");

    let loss = out[&tg.loss].to_f64()[0];
    let golden_loss = intrain::npy::read(&dir.join("loss.npy")).expect("loss").to_f64()[0];
    assert!(
        (loss - golden_loss).abs() <= 1e-5 * golden_loss.abs(),
        "{name}: loss {loss} vs PyTorch {golden_loss}"
    );

    let params = meta["parameters"].as_object().expect("parameters");
    let ours: BTreeSet<&str> = tg.params.iter().map(|p| p.name.as_str()).collect();
    let theirs: BTreeSet<&str> =
        params.values().map(|p| p["onnx_name"].as_str().expect("onnx_name")).collect();
    assert_eq!(ours, theirs, "{name}: the parameters differentiated are PyTorch's parameters");

    let mut worst = (0.0f64, String::new());
    for (torch_name, p) in params {
        let onnx_name = p["onnx_name"].as_str().expect("onnx_name");
        let golden = intrain::npy::read(&dir.join(p["grad_file"].as_str().expect("grad_file")))
            .expect("golden")
            .to_f64();
        let pg = tg.params.iter().find(|q| q.name == onnx_name).expect("param");
        let scale = golden.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        let Some(out_name) = &pg.grad else {
            assert!(
                scale < 1e-12,
                "{name}: {torch_name} has no gradient in our graph but PyTorch's is {scale:e}"
            );
            continue;
        };
        let g = out[out_name].to_f64();
        assert_eq!(g.len(), golden.len(), "{name}: {torch_name} size");
        if scale < 1e-10 {
            // Exactly zero analytically (e.g. a bias right before a batch-statistics BN).
            let ours = g.iter().fold(0.0f64, |a, b| a.max(b.abs()));
            assert!(ours < 1e-6, "{name}: {torch_name} should be ~0, is {ours:e}");
            continue;
        }
        let err = common::max_rel_err(&g, &golden);
        if err > worst.0 {
            worst = (err, torch_name.clone());
        }
        // Where PyTorch float32 itself is further from float64 (recorded by the golden script),
        // that is the floor.
        let floor = p["torch_f32_rel_err"].as_f64().unwrap_or(0.0);
        assert!(
            err < REL_TOL.max(floor),
            "{name}: d loss / d {torch_name}: error {err:e} relative to max |g| {scale:e}"
        );
    }
    eprintln!(
        "{name}: {} gradients, worst relative error {:.2e} ({})",
        params.len(),
        worst.0,
        worst.1
    );
}

#[test]
fn resnet_block() {
    check("resnet_block");
}

#[test]
fn resnet_block_with_initializers_shared_through_identity() {
    check("resnet_block_shared");
}

#[test]
fn inverted_residual_with_depthwise_hardswish_and_se() {
    check("inverted_residual");
}

#[test]
fn nb201_one_cell_per_stage() {
    check("nb201_1cell");
}

#[test]
fn attention_block() {
    check("attention_block");
}

/// An eval-mode export (BN `training_mode=0`, fresh running statistics shared with BN weights
/// through Identity nodes, MNASNet's momentum) differentiated with batch statistics. A training
/// graph built on ONNX Runtime's training-mode BatchNormalization kernel got the loss wrong.
#[test]
fn bn_stack_exported_in_eval_mode() {
    check("bn_stack_eval_export");
}

/// GoogLeNet's case: an Inception block at a 2x2 map on activations of order 1e-7 with a
/// `MaxPool(3, 1, 1, ceil_mode)` branch. A MaxPool backward that shifted its input by
/// `1 − min` rounded the window values into ties and passed the gradient to all of them.
#[test]
fn inception_block_on_tiny_activations() {
    check("inception_tiny_maps");
}
