//! Models exported from PyTorch (both exporters; `models/scripts/export_fixtures.py`) import,
//! run on ONNX Runtime with PyTorch's outputs, and count PyTorch's parameters.

mod common;

use intrain::ir::OpType;
use intrain::ir::cost::parameter_count;
use intrain::onnx::{ImportOptions, load_model, to_bytes};

const TORCH_PARAMS: u64 = 19_994;
/// Channels of the six BatchNorms (= output channels of the six Convs) of TinyResNet.
const BN_CHANNELS: u64 = 16 + 16 + 16 + 32 + 32 + 32;

fn check(file: &str, expected_params: u64) {
    let path = common::root().join("models/onnx").join(file);
    let m =
        load_model(&path, &ImportOptions { batch: Some(1), ..Default::default() }).expect("import");
    assert_eq!(parameter_count(&m.graph), expected_params, "{file}: parameter count");
    let x = intrain::npy::read(&common::root().join("models/onnx/tinyresnet_input.npy"))
        .expect("input");
    let torch = intrain::npy::read(&common::root().join("models/onnx/tinyresnet_torch_logits.npy"))
        .expect("logits");
    let input = m.graph.value(m.graph.inputs()[0]).name.clone();
    let bytes = to_bytes(&m.graph);
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("reexported_{file}")),
        &bytes,
    );
    let mut s = common::runtime().session(&bytes).expect("session from our re-export");
    let out = s.run(&[(&input, &x)]).expect("run");
    let logits = &out["logits"];
    assert_eq!(logits.shape, torch.shape);
    let err = common::max_rel_err(&logits.to_f64(), &torch.to_f64());
    assert!(err < 1e-4, "{file}: max relative error {err:e} against PyTorch");
}

#[test]
fn torchscript_unfolded_counts_pytorch_parameters_through_shared_identity_initializers() {
    check("tinyresnet_ts_unfolded.onnx", TORCH_PARAMS);
    let m = load_model(
        &common::root().join("models/onnx/tinyresnet_ts_unfolded.onnx"),
        &ImportOptions { batch: Some(2), ..Default::default() },
    )
    .expect("import");
    assert!(
        m.graph.nodes().iter().any(|n| n.op == OpType::Identity),
        "the fixture exercises shared initializers"
    );
    assert_eq!(
        m.graph.value(m.graph.inputs()[0]).ty.shape,
        vec![2, 3, 32, 32],
        "dynamic batch resolved"
    );
}

#[test]
fn torchscript_folded_has_conv_biases_instead_of_batchnorm() {
    // BN folded into Conv: 2 BN parameters per channel disappear, 1 Conv bias per channel appears.
    check("tinyresnet_ts_folded.onnx", TORCH_PARAMS - 2 * BN_CHANNELS + BN_CHANNELS);
}

#[test]
fn dynamo_unoptimized_counts_pytorch_parameters() {
    check("tinyresnet_dynamo_unoptimized.onnx", TORCH_PARAMS);
}

#[test]
fn dynamo_optimized_folds_batchnorm_and_drops_zero_biases() {
    // BN folded, and the folded Conv biases (all zero at this init) deleted by the optimiser.
    check("tinyresnet_dynamo.onnx", TORCH_PARAMS - 2 * BN_CHANNELS);
}

#[test]
fn external_data_is_read_from_the_model_folder() {
    check("tinyresnet_external.onnx", TORCH_PARAMS);
}

#[test]
fn every_exported_variant_gets_finite_gradients_for_each_parameter() {
    use intrain::autodiff::{TrainingOptions, build_training_graph};
    for file in [
        "tinyresnet_ts_unfolded.onnx",
        "tinyresnet_ts_folded.onnx",
        "tinyresnet_dynamo.onnx",
        "tinyresnet_dynamo_unoptimized.onnx",
        "tinyresnet_external.onnx",
    ] {
        let path = common::root().join("models/onnx").join(file);
        let m = load_model(&path, &ImportOptions { batch: Some(4), ..Default::default() })
            .expect("import");
        let tg = build_training_graph(&m.graph, &TrainingOptions::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            tg.params.len(),
            intrain::ir::cost::parameters(&m.graph).len(),
            "{file}: every parameter is differentiated"
        );
        let shape = m.graph.value(m.graph.inputs()[0]).ty.shape.clone();
        let x = intrain::init::Init::new(3).normal_tensor(&shape, 1.0);
        let classes: Vec<i64> = (0..shape[0] as i64).map(|i| (3 * i + 1) % 10).collect();
        let labels = intrain::ir::Tensor::new([shape[0]], intrain::ir::TensorData::I64(classes))
            .expect("labels");
        let mut s = common::runtime().session(&to_bytes(&tg.graph)).expect("session");
        let input = m.graph.value(m.graph.inputs()[0]).name.clone();
        let out = s
            .run(&[(&input, &x), (tg.target_input.as_deref().expect("labels"), &labels)])
            .expect("run");
        for p in &tg.params {
            let g = out
                [p.grad.as_ref().unwrap_or_else(|| panic!("{file}: {} has no gradient", p.name))]
            .to_f64();
            assert!(g.iter().all(|v| v.is_finite()), "{file}: {} gradient not finite", p.name);
            assert!(
                g.iter().any(|&v| v != 0.0) || p.name.contains("bias"),
                "{file}: {} gradient is all zero",
                p.name
            );
        }
    }
}
