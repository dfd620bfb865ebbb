//! In-graph layer statistics: the channel Gram matrix and sums computed by the training graph give
//! the same covariance and participation ratio as the full activation reduced in Rust.

mod common;

use intrain::analysis::participation::{covariance, layer, participation_ratio};
use intrain::autodiff::{Loss, TrainingOptions, build_training_graph};
use intrain::init::Init;
use intrain::ir::builder::Conv2d;
use intrain::ir::{GraphBuilder, Tensor, TensorType};

/// The in-graph Gram and channel sums of the layer `name` against the covariance of the activation
/// itself, in a conv net on `side`×`side` inputs: `act` is the convolution's `(4, 8, side, side)`
/// output, `logits` the `(4, 5)` classifier output.
fn check_gram(side: usize, name: &str) {
    let mut init = Init::new(4);
    let mut b = GraphBuilder::new("t");
    let x = b.input("x", TensorType::f32([4, 3, side, side])).expect("x");
    let w = b.param("w", init.kaiming(&[8, 3, 3, 3])).expect("w");
    let c = b.conv("conv", x, w, None, Conv2d { pad: 1, ..Default::default() }).expect("conv");
    let act = b.relu("act", c).expect("relu");
    let gap = b.global_avg_pool("gap", act).expect("gap");
    let flat = b.flatten("flat", gap, 1).expect("flat");
    let fw = b.param("fc", init.kaiming(&[5, 8])).expect("fc");
    let y = b.gemm("logits", flat, fw, None, true).expect("gemm");
    b.output(y);
    let g = b.finish();
    let opts = TrainingOptions {
        loss: Loss::Sum,
        activations: vec![name.into()],
        activation_grams: vec![name.into()],
        ..Default::default()
    };
    let tg = build_training_graph(&g, &opts).expect("training graph");
    let xin = init.normal_tensor(&[4, 3, side, side], 1.0);
    let mut s = common::runtime().session(&intrain::onnx::to_bytes(&tg.graph)).expect("session");
    let out = s.run(&[("x", &xin)]).expect("run");
    let (_, gram_name, sum_name) = &tg.activation_grams[0];
    let gram = out[gram_name].to_f64();
    let sums = out[sum_name].to_f64();
    // Reference: the covariance of the full activation, channels as dimensions.
    let a: Tensor = out[&tg.activations[0].1].clone();
    let shape = a.shape.clone();
    let v = a.to_f64();
    let (n, ch) = (shape[0], shape[1]);
    let p: usize = shape[2..].iter().product();
    let m = n * p;
    let mut rg = vec![0.0; ch * ch];
    let mut rs = vec![0.0; ch];
    for i in 0..ch {
        for k in 0..n {
            for q in 0..p {
                rs[i] += v[(k * ch + i) * p + q];
            }
        }
        for j in 0..ch {
            for k in 0..n {
                for q in 0..p {
                    rg[i * ch + j] += v[(k * ch + i) * p + q] * v[(k * ch + j) * p + q];
                }
            }
        }
    }
    let ours = covariance(&gram, &sums, m);
    let reference = covariance(&rg, &rs, m);
    let scale = reference.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    let err = (ours - &reference).iter().fold(0.0f64, |a, b| a.max(b.abs())) / scale;
    assert!(err < 1e-5, "{name} at {side}x{side}: covariance error {err:e}");
    let pr = layer(&gram, &sums, m).pr;
    let pr_ref = participation_ratio(&reference).expect("pr");
    assert!((pr - pr_ref).abs() < 1e-4 * pr_ref, "{name} at {side}x{side}: PR {pr} vs {pr_ref}");
    assert!(pr > 1.0 && pr <= ch as f64);
}

#[test]
fn in_graph_gram_gives_the_activation_covariance() {
    // More positions than channels: per-sample Grams summed over the batch.
    check_gram(6, "act");
    // Fewer positions (4) than channels (8): one product over the activation in channel order.
    check_gram(2, "act");
    // (N, C): one product over the matrix as it lies.
    check_gram(6, "logits");
}
