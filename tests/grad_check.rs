//! Every gradient rule against central finite differences, on small seeded random shapes.
//!
//! Each case builds a small graph whose float operands are all initializers (so every input,
//! data and weight alike, is differentiated), reduces its outputs to a scalar with fixed random
//! weights, L = Σ_i Σ(y_i ⊙ R_i), and compares, for every operand p and two random directions v,
//! the analytic directional derivative ⟨∂L/∂p, v⟩ from the training graph with
//! (L(p + εv) − L(p − εv)) / 2ε, both evaluated by ONNX Runtime in float32.
//! ε = 1e-2 of the operand's scale (1e-3 for kinked ops); tolerance 5e-3 of the derivative's
//! magnitude plus the float32 rounding of L amplified by 1/2ε, the precision float32 central
//! differences allow (the PyTorch goldens test whole networks at 1e-4).

mod common;

use std::collections::BTreeMap;

use intrain::autodiff::{BnMode, Loss, ParamSet, TrainingOptions, build_training_graph};
use intrain::init::Init;
use intrain::ir::{Attr, Graph, GraphBuilder, OpType, Tensor, TensorData, ValueId};
use intrain::runtime::Runtime;

type Build = dyn Fn(&mut GraphBuilder, &BTreeMap<String, ValueId>) -> intrain::Result<Vec<ValueId>>;

struct Case {
    name: String,
    operands: Vec<(String, Tensor)>,
    build: Box<Build>,
    opset: i64,
    /// Step relative to the operand's scale: 1e-2 for smooth ops, 1e-3 where kinks (ReLU, max,
    /// clip) could be crossed.
    eps: f64,
}

fn uniform(init: &mut Init, shape: &[usize], lo: f64, hi: f64) -> Tensor {
    let n: usize = shape.iter().product();
    // Map normals through the normal CDF approximation-free trick: use the fractional part.
    let v = (0..n).map(|_| (lo + (hi - lo) * (init.normal().abs().fract())) as f32).collect();
    Tensor::f32(shape.to_vec(), v)
}

/// Distinct values 0.05 apart in random order: no two elements are within a step of each
/// other, so finite differences cannot cross a max or a kink between them.
fn spread(init: &mut Init, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let mut keyed: Vec<(f64, usize)> = (0..n).map(|i| (init.normal(), i)).collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut v = vec![0f32; n];
    for (rank, (_, i)) in keyed.into_iter().enumerate() {
        v[i] = (rank as f32 - n as f32 / 2.0) * 0.05 + 0.025;
    }
    Tensor::f32(shape.to_vec(), v)
}

fn case(
    name: &str,
    operands: Vec<(&str, Tensor)>,
    build: impl Fn(&mut GraphBuilder, &BTreeMap<String, ValueId>) -> intrain::Result<Vec<ValueId>>
    + 'static,
) -> Case {
    Case {
        name: name.into(),
        operands: operands.into_iter().map(|(n, t)| (n.to_string(), t)).collect(),
        build: Box::new(build),
        opset: 17,
        eps: 1e-2,
    }
}

/// The forward graph with operand values `ops`, ending in the scalar `L`.
fn forward(c: &Case, ops: &BTreeMap<String, Tensor>, weights: &mut Vec<Tensor>) -> Graph {
    let g = Graph::new(c.name.clone(), c.opset).expect("opset");
    let mut b = GraphBuilder::from_graph(g);
    let mut ids = BTreeMap::new();
    for (n, _) in &c.operands {
        ids.insert(n.clone(), b.param(n, ops[n].clone()).expect("operand"));
    }
    let outs = (c.build)(&mut b, &ids).unwrap_or_else(|e| panic!("{}: {e}", c.name));
    let mut init = Init::new(99);
    let mut sums = Vec::new();
    for (k, &y) in outs.iter().enumerate() {
        let shape = b.graph().value(y).ty.shape.clone();
        if weights.len() <= k {
            weights.push(init.normal_tensor(&shape, 1.0));
        }
        let r = b.param(&format!("R{k}"), weights[k].clone()).expect("R");
        let t = b.op(OpType::Mul, &format!("weighted{k}"), &[y, r], vec![]).expect("mul");
        sums.push(
            b.op(OpType::ReduceSum, &format!("sum{k}"), &[t], vec![("keepdims", Attr::Int(0))])
                .expect("sum"),
        );
    }
    let l = b.op(OpType::Sum, "L", &sums, vec![]).expect("L");
    b.output(l);
    b.finish()
}

fn loss_of(rt: &Runtime, g: &Graph) -> f64 {
    let mut s = rt.session(&intrain::onnx::to_bytes(g)).expect("session");
    let out = s.run(&[]).expect("run");
    out.values().next().expect("L").to_f64()[0]
}

fn check(c: Case) {
    let rt = common::runtime();
    let ops: BTreeMap<String, Tensor> = c.operands.iter().cloned().collect();
    let mut weights = Vec::new();
    let g = forward(&c, &ops, &mut weights);
    // Operands in parameter slots are differentiated as parameters, the others (BatchNorm's
    // input, say) as activations.
    let params: Vec<String> =
        intrain::ir::cost::parameters(&g).iter().map(|p| g.value(p.value).name.clone()).collect();
    let names: Vec<String> =
        c.operands.iter().map(|(n, _)| n.clone()).filter(|n| params.contains(n)).collect();
    let others: Vec<String> =
        c.operands.iter().map(|(n, _)| n.clone()).filter(|n| !params.contains(n)).collect();
    let opts = TrainingOptions {
        loss: Loss::Sum,
        params: ParamSet::Named(names),
        activation_grads: others,
        batch_norm: BnMode::AsIs,
        ..Default::default()
    };
    let tg = build_training_graph(&g, &opts).unwrap_or_else(|e| panic!("{}: {e}", c.name));
    if std::env::var_os("GRAD_CHECK_DUMP").is_some() {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("grad_check");
        let _ = std::fs::create_dir_all(&dir);
        let _ =
            intrain::onnx::save(&tg.graph, &dir.join(format!("{}.onnx", c.name.replace(' ', "_"))));
    }
    let mut s = rt
        .session(&intrain::onnx::to_bytes(&tg.graph))
        .unwrap_or_else(|e| panic!("{}: {e}", c.name));
    let out = s.run(&[]).unwrap_or_else(|e| panic!("{}: {e}", c.name));
    let l0 = out[&tg.loss].to_f64()[0];
    // The training graph's forward copy (pools per channel, batch statistics by our own ops)
    // computes the model's loss.
    let model_loss = loss_of(&rt, &g);
    assert!(
        (l0 - model_loss).abs() <= 1e-5 * model_loss.abs().max(1.0),
        "{}: training-graph loss {l0:.8e} vs the model's {model_loss:.8e}",
        c.name
    );
    let mut init = Init::new(7);
    let grads: Vec<(String, Option<String>)> = tg
        .params
        .iter()
        .map(|p| (p.name.clone(), p.grad.clone()))
        .chain(tg.activation_grads.iter().cloned())
        .collect();
    assert_eq!(grads.len(), c.operands.len(), "{}: every operand is differentiated", c.name);
    for (pname, gname) in &grads {
        let grad = gname
            .as_ref()
            .map(|n| out[n].to_f64())
            .unwrap_or_else(|| vec![0.0; ops[pname].numel()]);
        let p = &ops[pname];
        let pv = p.to_f64();
        let scale = (pv.iter().map(|x| x * x).sum::<f64>() / pv.len() as f64).sqrt().max(1e-2);
        for _ in 0..2 {
            let v = init.normal_tensor(&p.shape, 1.0).to_f64();
            let eps = c.eps * scale;
            let analytic: f64 = grad.iter().zip(&v).map(|(g, v)| g * v).sum();
            let mut at = |sign: f64| {
                let mut o = ops.clone();
                let moved: Vec<f32> =
                    pv.iter().zip(&v).map(|(x, d)| (x + sign * eps * d) as f32).collect();
                o.insert(pname.clone(), Tensor::f32(p.shape.clone(), moved));
                loss_of(&rt, &forward(&c, &o, &mut weights))
            };
            let numeric = (at(1.0) - at(-1.0)) / (2.0 * eps);
            // Float32 rounding of L, amplified by 1/2ε, bounds what differences can resolve.
            let rounding = 1e-6 * l0.abs().max(1.0) / eps;
            let tol = 5e-3 * analytic.abs().max(numeric.abs()) + rounding;
            assert!(
                (analytic - numeric).abs() <= tol,
                "{}: d/d{pname}: analytic {analytic:.6e} vs finite differences {numeric:.6e} (tolerance {tol:.1e})",
                c.name
            );
        }
    }
}

/// A convolution case: channels in/out, kernel, stride, pads, dilation, groups, bias, height.
#[allow(clippy::too_many_arguments)]
fn conv_case(
    name: &str,
    ci: usize,
    co: usize,
    k: usize,
    s: i64,
    pads: [i64; 4],
    d: i64,
    g: usize,
    bias: bool,
    h: usize,
) -> Case {
    let mut init = Init::new(name.len() as u64);
    let mut operands = vec![
        ("x", init.normal_tensor(&[2, ci, h, h + 1], 1.0)),
        ("w", init.normal_tensor(&[co, ci / g, k, k], 0.5)),
    ];
    if bias {
        operands.push(("b", init.normal_tensor(&[co], 0.5)));
    }
    case(name, operands, move |b, v| {
        let mut ins = vec![v["x"], v["w"]];
        if bias {
            ins.push(v["b"]);
        }
        Ok(vec![b.op(
            OpType::Conv,
            "conv",
            &ins,
            vec![
                ("strides", Attr::Ints(vec![s, s])),
                ("pads", Attr::Ints(pads.to_vec())),
                ("dilations", Attr::Ints(vec![d, d])),
                ("group", Attr::Int(g as i64)),
            ],
        )?])
    })
}

#[test]
fn should_diff_conv() {
    for c in [
        conv_case("conv k3 s1 p1 bias", 3, 4, 3, 1, [1, 1, 1, 1], 1, 1, true, 6),
        // Maps of more than 128 positions take the per-sample weight gradient (smaller ones one
        // GEMM over all samples).
        conv_case("conv k3 s1 p1 per-sample dW", 2, 3, 3, 1, [1, 1, 1, 1], 1, 1, true, 12),
        conv_case("conv k3 s2 p1 per-sample dW", 2, 3, 3, 2, [1, 1, 1, 1], 1, 1, false, 24),
        conv_case("conv k3 s2 p1 groups2", 4, 6, 3, 2, [1, 1, 1, 1], 1, 2, false, 7),
        conv_case("conv depthwise k3", 4, 4, 3, 1, [1, 1, 1, 1], 1, 4, false, 6),
        conv_case("conv depthwise k3 s2 multiplier2", 3, 6, 3, 2, [1, 1, 1, 1], 1, 3, true, 8),
        // Depthwise weight gradients as a convolution with dY for kernel: strides, dilations,
        // kernel 5, and end padding the last window does not reach (extra taps cut off).
        conv_case("conv depthwise k3 s2 p1", 4, 4, 3, 2, [1, 1, 1, 1], 1, 4, true, 7),
        conv_case("conv depthwise k5 s2 p2", 3, 3, 5, 2, [2, 2, 2, 2], 1, 3, false, 9),
        conv_case("conv depthwise k3 dilated", 2, 2, 3, 1, [2, 2, 2, 2], 2, 2, false, 7),
        conv_case("conv depthwise k3 s2 unreached pad", 2, 2, 3, 2, [0, 1, 2, 1], 1, 2, false, 8),
        // A one-row map: the output gradient, as a kernel, is smaller than the padding.
        conv_case("conv depthwise k3 one row", 3, 3, 3, 1, [1, 1, 1, 1], 1, 3, false, 1),
        conv_case("conv 1x1", 3, 5, 1, 1, [0, 0, 0, 0], 1, 1, true, 5),
        conv_case("conv 1x1 s2", 3, 5, 1, 2, [0, 0, 0, 0], 1, 1, false, 6),
        conv_case("conv dilated", 2, 3, 3, 1, [2, 2, 2, 2], 2, 1, false, 7),
        conv_case("conv k3 s2 valid even", 2, 4, 3, 2, [0, 0, 0, 0], 1, 1, true, 8),
        conv_case("conv k5 p2", 2, 2, 5, 1, [2, 2, 2, 2], 1, 1, false, 6),
        conv_case("conv asymmetric pads", 2, 3, 3, 1, [0, 1, 1, 0], 1, 1, false, 5),
        conv_case("conv asymmetric pads s2", 2, 3, 3, 2, [1, 0, 0, 1], 1, 1, false, 7),
    ] {
        check(c);
    }
}

/// Convolutions reading the same tensor: three siblings with the same geometry (output channels
/// 2, 3 and 4; one with a bias) are differentiated together, a fourth with another kernel is not.
fn sibling_case(name: &str, s: i64, h: usize) -> Case {
    let mut init = Init::new(name.len() as u64 + 11);
    let mut operands = vec![("x", init.normal_tensor(&[2, 3, h, h + 1], 1.0))];
    for (w, co) in [("w0", 2), ("w1", 3), ("w2", 4)] {
        operands.push((w, init.normal_tensor(&[co, 3, 3, 3], 0.5)));
    }
    operands.push(("b1", init.normal_tensor(&[3], 0.5)));
    operands.push(("w_other", init.normal_tensor(&[2, 3, 1, 1], 0.5)));
    case(name, operands, move |b, v| {
        let geometry =
            || vec![("strides", Attr::Ints(vec![s, s])), ("pads", Attr::Ints(vec![1, 1, 1, 1]))];
        let mut outs = Vec::new();
        for (k, w) in ["w0", "w1", "w2"].into_iter().enumerate() {
            let mut ins = vec![v["x"], v[w]];
            if w == "w1" {
                ins.push(v["b1"]);
            }
            outs.push(b.op(OpType::Conv, &format!("conv{k}"), &ins, geometry())?);
        }
        let strides = vec![("strides", Attr::Ints(vec![s, s]))];
        outs.push(b.op(OpType::Conv, "conv_other", &[v["x"], v["w_other"]], strides)?);
        Ok(outs)
    })
}

#[test]
fn should_diff_sibling_convolutions_together() {
    // 6x7 maps take the one-GEMM weight gradient, 12x13 the per-sample one.
    for (s, h) in [(1, 6), (2, 6), (1, 12)] {
        let c = sibling_case(&format!("sibling convs s{s} {h}x{}", h + 1), s, h);
        // The three 3x3 convolutions share one backward: one dX convolution, one dW MatMul.
        let ops: BTreeMap<String, Tensor> = c.operands.iter().cloned().collect();
        let g = forward(&c, &ops, &mut Vec::new());
        let opts = TrainingOptions {
            loss: Loss::Sum,
            activation_grads: vec!["x".into()],
            ..Default::default()
        };
        let tg = build_training_graph(&g, &opts).expect("training graph");
        let count = |op: OpType, part: &str| {
            tg.graph.nodes().iter().filter(|n| n.op == op && n.name.contains(part)).count()
        };
        assert_eq!(count(OpType::MatMul, "conv0_siblings_Grad/"), 1, "s{s}: one shared dW MatMul");
        let dx_op = if s == 1 { OpType::Conv } else { OpType::ConvTranspose };
        assert_eq!(count(dx_op, "conv0_siblings_Grad/dx"), 1, "s{s}: one shared dX");
        assert_eq!(count(dx_op, "conv1_Grad"), 0, "s{s}: conv1 is not differentiated alone");
        assert_eq!(count(dx_op, "conv_other_Grad/dx"), 1, "s{s}: the 1x1 is apart");
        check(c);
    }
}

#[test]
fn should_diff_gemm_and_matmul() {
    let mut init = Init::new(3);
    for (ta, tb, cshape) in
        [(0, 0, vec![5]), (0, 1, vec![1, 5]), (1, 0, vec![3, 5]), (1, 1, vec![3, 1])]
    {
        let a = if ta == 1 {
            init.normal_tensor(&[4, 3], 1.0)
        } else {
            init.normal_tensor(&[3, 4], 1.0)
        };
        let bm = if tb == 1 {
            init.normal_tensor(&[5, 4], 1.0)
        } else {
            init.normal_tensor(&[4, 5], 1.0)
        };
        let cc = init.normal_tensor(&cshape, 1.0);
        check(case(
            &format!("gemm transA{ta} transB{tb} C{cshape:?}"),
            vec![("a", a), ("b", bm), ("c", cc)],
            move |b, v| {
                Ok(vec![b.op(
                    OpType::Gemm,
                    "gemm",
                    &[v["a"], v["b"], v["c"]],
                    vec![
                        ("transA", Attr::Int(ta)),
                        ("transB", Attr::Int(tb)),
                        ("alpha", Attr::Float(0.7)),
                        ("beta", Attr::Float(1.3)),
                    ],
                )?])
            },
        ));
    }
    for (sa, sb) in
        [(vec![2, 3, 4], vec![4, 5]), (vec![2, 1, 3, 4], vec![3, 4, 2]), (vec![3, 4], vec![4, 2])]
    {
        let (a, bm) = (init.normal_tensor(&sa, 1.0), init.normal_tensor(&sb, 1.0));
        check(case(&format!("matmul {sa:?} x {sb:?}"), vec![("a", a), ("b", bm)], |b, v| {
            Ok(vec![b.op(OpType::MatMul, "mm", &[v["a"], v["b"]], vec![])?])
        }));
    }
}

#[test]
fn should_diff_reduce_l2() {
    let mut init = Init::new(17);
    // Opset 17: axes are an attribute (absent: every axis).
    for (axes, keep) in [(vec![-1i64], 1i64), (vec![0, 2], 0), (vec![], 1)] {
        let x = init.normal_tensor(&[3, 4, 5], 1.0);
        let name = format!("reduce_l2 axes {axes:?} keepdims {keep}");
        check(case(&name, vec![("x", x)], move |b, v| {
            let mut attrs = vec![("keepdims", Attr::Int(keep))];
            if !axes.is_empty() {
                attrs.push(("axes", Attr::Ints(axes.clone())));
            }
            Ok(vec![b.op(OpType::ReduceL2, "l2", &[v["x"]], attrs)?])
        }));
    }
}

#[test]
fn should_diff_scatter_nd_data() {
    // SwinV2 zeroes a slice of a parameter this way (`qkv_bias[k:2k].zero_()`): constant
    // indices and updates, the data differentiated (the scattered rows get no gradient).
    let x = Init::new(19).normal_tensor(&[6, 4], 1.0);
    check(case("scatter_nd rows", vec![("x", x)], |b, v| {
        let idx =
            b.param("indices", Tensor::new([2, 1], TensorData::I64(vec![4, 1])).expect("t"))?;
        let upd = b.param("updates", Tensor::f32([2, 4], vec![0.5; 8]))?;
        let y = b.op(OpType::ScatterND, "scatter", &[v["x"], idx, upd], vec![])?;
        Ok(vec![b.op(OpType::Mul, "sq", &[y, y], vec![])?])
    }));
}

#[test]
fn should_diff_gather_nd_and_scatter_nd_updates() {
    // Swin's dynamo export reads its relative-position bias table with a GatherND of constant
    // indices that repeat rows, and writes window slices back with ScatterND.
    let mut init = Init::new(29);
    let x = init.normal_tensor(&[5, 3, 4], 1.0);
    check(case("gather_nd pairs, repeated", vec![("x", x)], |b, v| {
        let idx = b.param(
            "indices",
            Tensor::new([3, 2], TensorData::I64(vec![1, 2, 4, 0, 1, -1])).expect("t"),
        )?;
        Ok(vec![b.op(OpType::GatherND, "gnd", &[v["x"], idx], vec![])?])
    }));
    let x = init.normal_tensor(&[2, 3, 4], 1.0);
    check(case("gather_nd batch_dims 1", vec![("x", x)], |b, v| {
        let idx = b.param(
            "indices",
            Tensor::new([2, 2, 1], TensorData::I64(vec![2, 0, 1, 1])).expect("t"),
        )?;
        let attrs = vec![("batch_dims", Attr::Int(1))];
        Ok(vec![b.op(OpType::GatherND, "gnd", &[v["x"], idx], attrs)?])
    }));
    for reduction in ["none", "add"] {
        let (x, u) = (init.normal_tensor(&[6, 4], 1.0), init.normal_tensor(&[2, 4], 1.0));
        let name = format!("scatter_nd updates, reduction {reduction}");
        check(case(&name, vec![("x", x), ("u", u)], move |b, v| {
            let idx =
                b.param("indices", Tensor::new([2, 1], TensorData::I64(vec![4, 1])).expect("t"))?;
            let attrs = vec![("reduction", Attr::String(reduction.into()))];
            let y = b.op(OpType::ScatterND, "scatter", &[v["x"], idx, v["u"]], attrs)?;
            Ok(vec![b.op(OpType::Mul, "sq", &[y, y], vec![])?])
        }));
    }
}

#[test]
fn a_gather_whose_scatter_matrix_would_be_huge_is_refused_before_allocating_it() {
    // 50,000 indices into an axis of 50,000: the one-hot matrix would take 10 GB (the default
    // limit on one tensor is 8 GiB).
    let n = 50_000usize;
    let mut b = GraphBuilder::new("g");
    let x = b.param("x", Tensor::f32([n], vec![1.0; n])).expect("x");
    let idx = b.param("idx", Tensor::i64_vec((0..n as i64).rev().collect())).expect("idx");
    let y = b.op(OpType::Gather, "lookup", &[x, idx], vec![]).expect("gather");
    let r = b.op(OpType::ReduceSum, "s", &[y], vec![("keepdims", Attr::Int(0))]).expect("sum");
    b.output(r);
    let err = build_training_graph(
        &b.finish(),
        &TrainingOptions { loss: Loss::Sum, ..Default::default() },
    )
    .expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains("lookup") && msg.contains("max-tensor-bytes"), "{msg}");
}

#[test]
fn should_diff_extrema_tile_and_instance_norm() {
    let mut init = Init::new(23);
    // Distinct values keep the finite differences off ties.
    let x = spread(&mut init, &[2, 3, 4]);
    let y = spread(&mut init, &[3, 1]);
    for op in [OpType::Max, OpType::Min] {
        let (a, b) = (x.clone(), y.clone());
        check(case(&format!("{op:?} broadcast"), vec![("a", a), ("b", b)], move |bld, v| {
            Ok(vec![bld.op(op, "m", &[v["a"], v["b"]], vec![])?])
        }));
    }
    for (op, axes) in [(OpType::ReduceMax, vec![1i64]), (OpType::ReduceMin, vec![0, 2])] {
        let xx = x.clone();
        check(case(&format!("{op:?} axes {axes:?}"), vec![("x", xx)], move |bld, v| {
            let attrs = vec![("axes", Attr::Ints(axes.clone())), ("keepdims", Attr::Int(0))];
            Ok(vec![bld.op(op, "r", &[v["x"]], attrs)?])
        }));
    }
    let img = spread(&mut init, &[2, 3, 4, 5]);
    check(case("global max pool", vec![("x", img.clone())], |bld, v| {
        Ok(vec![bld.op(OpType::GlobalMaxPool, "gmp", &[v["x"]], vec![])?])
    }));
    check(case("tile", vec![("x", x.clone())], |bld, v| {
        let reps = bld.param("repeats", Tensor::i64_vec(vec![2, 1, 3]))?;
        Ok(vec![bld.op(OpType::Tile, "tile", &[v["x"], reps], vec![])?])
    }));
    let (scale, bias) = (init.normal_tensor(&[3], 1.0), init.normal_tensor(&[3], 1.0));
    check(case("instance norm", vec![("x", img), ("scale", scale), ("bias", bias)], |bld, v| {
        Ok(vec![bld.op(
            OpType::InstanceNormalization,
            "in",
            &[v["x"], v["scale"], v["bias"]],
            vec![("epsilon", Attr::Float(1e-3))],
        )?])
    }));
}

#[test]
fn should_diff_conv_transpose() {
    let mut init = Init::new(29);
    // (stride, pad, output_padding, group, dilation)
    for (s, p, op, grp, d) in [(1, 0, 0, 1, 1), (2, 1, 1, 1, 1), (2, 0, 0, 2, 1), (1, 1, 0, 1, 2)] {
        let x = init.normal_tensor(&[2, 4, 5, 5], 1.0);
        let w = init.normal_tensor(&[4, 6 / grp, 3, 3], 0.5);
        let b = init.normal_tensor(&[6], 1.0);
        let name = format!("conv_transpose s{s} p{p} op{op} g{grp} d{d}");
        check(case(&name, vec![("x", x), ("w", w), ("b", b)], move |bld, v| {
            Ok(vec![bld.op(
                OpType::ConvTranspose,
                "convt",
                &[v["x"], v["w"], v["b"]],
                vec![
                    ("strides", Attr::Ints(vec![s, s])),
                    ("pads", Attr::Ints(vec![p, p, p, p])),
                    ("output_padding", Attr::Ints(vec![op, op])),
                    ("group", Attr::Int(grp as i64)),
                    ("dilations", Attr::Ints(vec![d, d])),
                ],
            )?])
        }));
    }
}

#[test]
fn should_diff_einsum() {
    let mut init = Init::new(13);
    // MaxViT's attention products (spaced subscripts as the exporter writes them), a
    // contraction over two letters, and an implicit-output equation.
    for (eq, sa, sb) in [
        ("B G H I D, B G H J D -> B G H I J", vec![2, 1, 2, 3, 4], vec![2, 1, 2, 5, 4]),
        ("B G H I J, B G H J D -> B G H I D", vec![2, 1, 2, 3, 5], vec![2, 1, 2, 5, 4]),
        ("abc,cbd->da", vec![3, 2, 4], vec![4, 2, 5]),
        ("ij,jk", vec![3, 4], vec![4, 2]),
    ] {
        let (a, bm) = (init.normal_tensor(&sa, 1.0), init.normal_tensor(&sb, 1.0));
        check(case(&format!("einsum {eq}"), vec![("a", a), ("b", bm)], move |b, v| {
            Ok(vec![b.op(
                OpType::Einsum,
                "einsum",
                &[v["a"], v["b"]],
                vec![("equation", Attr::String(eq.to_string()))],
            )?])
        }));
    }
}

#[test]
fn should_diff_normalization() {
    let mut init = Init::new(4);
    for training in [true, false] {
        let ops = vec![
            ("x", init.normal_tensor(&[4, 3, 3, 3], 1.0)),
            ("scale", uniform(&mut init, &[3], 0.5, 1.5)),
            ("bias", init.normal_tensor(&[3], 0.3)),
        ];
        let mean = init.normal_tensor(&[3], 0.2);
        let var = uniform(&mut init, &[3], 0.5, 1.5);
        check(case(&format!("batchnorm training={training}"), ops, move |b, v| {
            let m = b.param("mean", mean.clone())?;
            let s = b.param("var", var.clone())?;
            Ok(vec![b.batch_norm("bn", v["x"], v["scale"], v["bias"], m, s, 1e-3, training)?])
        }));
    }
    for axis in [-1i64, 1] {
        let norm_shape: Vec<usize> = if axis == -1 { vec![4] } else { vec![3, 4] };
        let ops = vec![
            ("x", init.normal_tensor(&[2, 3, 4], 1.0)),
            ("scale", uniform(&mut init, &norm_shape, 0.5, 1.5)),
            ("bias", init.normal_tensor(&norm_shape, 0.3)),
        ];
        check(case(&format!("layernorm axis {axis}"), ops, move |b, v| {
            Ok(vec![b.op(
                OpType::LayerNormalization,
                "ln",
                &[v["x"], v["scale"], v["bias"]],
                vec![("axis", Attr::Int(axis)), ("epsilon", Attr::Float(1e-3))],
            )?])
        }));
    }
}

#[test]
fn should_diff_activations() {
    let mut init = Init::new(5);
    type Activation = (&'static str, OpType, Vec<(&'static str, Attr)>);
    let acts: Vec<Activation> = vec![
        ("relu", OpType::Relu, vec![]),
        ("leaky relu", OpType::LeakyRelu, vec![("alpha", Attr::Float(0.1))]),
        ("sigmoid", OpType::Sigmoid, vec![]),
        ("tanh", OpType::Tanh, vec![]),
        (
            "hard sigmoid",
            OpType::HardSigmoid,
            vec![("alpha", Attr::Float(1.0 / 6.0)), ("beta", Attr::Float(0.5))],
        ),
        ("hard swish", OpType::HardSwish, vec![]),
        ("erf", OpType::Erf, vec![]),
        ("elu", OpType::Elu, vec![("alpha", Attr::Float(0.7))]),
        ("softplus", OpType::Softplus, vec![]),
        ("softmax", OpType::Softmax, vec![("axis", Attr::Int(1))]),
        ("log softmax", OpType::LogSoftmax, vec![("axis", Attr::Int(-1))]),
    ];
    for (name, op, attrs) in acts {
        let x = init.normal_tensor(&[2, 3, 4], 2.5);
        let attrs: Vec<(String, Attr)> =
            attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let mut c = case(name, vec![("x", x)], move |b, v| {
            let a = attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            Ok(vec![b.op(op, "act", &[v["x"]], a)?])
        });
        if matches!(op, OpType::Relu | OpType::LeakyRelu | OpType::HardSigmoid | OpType::HardSwish)
        {
            c.eps = 1e-3;
        }
        check(c);
    }
    let x = init.normal_tensor(&[2, 3, 4], 4.0);
    let mut c = case("clip relu6", vec![("x", x)], |b, v| {
        let lo = b.param("lo", Tensor::f32_scalar(0.0))?;
        let hi = b.param("hi", Tensor::f32_scalar(6.0))?;
        Ok(vec![b.op(OpType::Clip, "clip", &[v["x"], lo, hi], vec![])?])
    });
    c.eps = 1e-3;
    check(c);
    let x = init.normal_tensor(&[2, 3, 4], 2.0);
    let mut c = case("gelu", vec![("x", x)], |b, v| {
        Ok(vec![b.op(OpType::Gelu, "gelu", &[v["x"]], vec![])?])
    });
    c.opset = 20;
    check(c);
}

/// ReLU6 as PyTorch differentiates it: gradient 1 strictly inside the bounds and 0 on and outside
/// them, read from the Clip's output, so that the Clip's input (an activation-sized tensor, the
/// BatchNorm output in MobileNet blocks) is not kept for the backward.
#[test]
fn clip_gradient_is_zero_on_its_bounds_and_reads_only_the_output() {
    let x = [-1.0, 0.0, 1e-30, 3.0, 6.0 - 4.8e-7, 6.0, 7.0];
    let tg = clip_training_graph(&x, 0.0, 6.0);
    let readers: Vec<&str> = tg
        .graph
        .nodes()
        .iter()
        .filter(|n| n.inputs.iter().flatten().any(|&v| tg.graph.value(v).name == "x"))
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(readers, ["clip"], "only the Clip reads its input");
    assert_eq!(clip_gradient(&x, 0.0, 6.0), [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
}

/// The training graph of `ReduceSum(Clip(x, lo, hi))` with the bounds as initializers, `x`'s
/// gradient as an output.
fn clip_training_graph(x: &[f32], lo: f32, hi: f32) -> intrain::autodiff::TrainingGraph {
    let mut b = GraphBuilder::from_graph(Graph::new("clip", 17).expect("opset"));
    let xv = b.param("x", Tensor::f32(vec![1, x.len()], x.to_vec())).expect("x");
    let l = b.param("lo", Tensor::f32_scalar(lo)).expect("lo");
    let h = b.param("hi", Tensor::f32_scalar(hi)).expect("hi");
    let y = b.op(OpType::Clip, "clip", &[xv, l, h], vec![]).expect("clip");
    let sum = b.op(OpType::ReduceSum, "L", &[y], vec![("keepdims", Attr::Int(0))]).expect("sum");
    b.output(sum);
    let opts = TrainingOptions {
        loss: Loss::Sum,
        params: ParamSet::Named(vec![]),
        activation_grads: vec!["x".into()],
        batch_norm: BnMode::AsIs,
        ..Default::default()
    };
    build_training_graph(&b.finish(), &opts).expect("training graph")
}

/// dX of `ReduceSum(Clip(x, lo, hi))`.
fn clip_gradient(x: &[f32], lo: f32, hi: f32) -> Vec<f64> {
    let tg = clip_training_graph(x, lo, hi);
    let mut s = common::runtime().session(&intrain::onnx::to_bytes(&tg.graph)).expect("session");
    let out = s.run(&[]).expect("run");
    out[tg.activation_grads[0].1.as_ref().expect("dx")].to_f64()
}

#[test]
fn clip_gradient_is_one_strictly_inside_any_bounds() {
    let tiny = f32::from_bits(1);
    let x =
        [-f32::INFINITY, -7.0, -1.0, -tiny, 0.0, tiny, 1.0, 1.0f32.next_up(), 6.0, f32::INFINITY];
    for (lo, hi) in [
        (0.0, 6.0),
        (-1.0, 1.0),
        (1.0, 1.0f32.next_up()),           // no float strictly between
        (1.0, 1.0f32.next_up().next_up()), // exactly one float between
        (6.0, 0.0),                        // min above max: Clip gives max everywhere
        (-f32::INFINITY, 0.0),
        (0.0, f32::INFINITY),
        (-tiny, tiny),
    ] {
        let want: Vec<f64> = x
            .iter()
            .map(|&v| {
                let y = v.max(lo).min(hi);
                if y > lo && y < hi { 1.0 } else { 0.0 }
            })
            .collect();
        assert_eq!(clip_gradient(&x, lo, hi), want, "bounds ({lo}, {hi})");
    }
}

#[test]
fn should_diff_arithmetic_with_broadcasting() {
    let mut init = Init::new(6);
    for (op, sa, sb) in [
        (OpType::Add, vec![2, 3, 4], vec![3, 1]),
        (OpType::Sub, vec![4], vec![2, 3, 4]),
        (OpType::Mul, vec![2, 1, 4], vec![3, 1]),
        (OpType::Div, vec![2, 3, 4], vec![1, 4]),
    ] {
        let a = init.normal_tensor(&sa, 1.0);
        let bt = if op == OpType::Div {
            uniform(&mut init, &sb, 0.5, 1.5)
        } else {
            init.normal_tensor(&sb, 1.0)
        };
        check(case(&format!("{op} {sa:?} {sb:?}"), vec![("a", a), ("b", bt)], move |b, v| {
            Ok(vec![b.op(op, "op", &[v["a"], v["b"]], vec![])?])
        }));
    }
    for op in [OpType::Sqrt, OpType::Exp, OpType::Log, OpType::Reciprocal, OpType::Neg, OpType::Abs]
    {
        let x = uniform(&mut init, &[2, 5], 0.5, 2.0);
        check(case(&format!("{op}"), vec![("x", x)], move |b, v| {
            Ok(vec![b.op(op, "op", &[v["x"]], vec![])?])
        }));
    }
    let x = uniform(&mut init, &[2, 5], 0.5, 2.0);
    check(case("pow 3", vec![("x", x)], |b, v| {
        let p = b.param("p", Tensor::f32_scalar(3.0))?;
        Ok(vec![b.op(OpType::Pow, "pow", &[v["x"], p], vec![])?])
    }));
    let (a, bb) = (init.normal_tensor(&[2, 3], 1.0), init.normal_tensor(&[3], 1.0));
    check(case("where", vec![("a", a), ("b", bb)], |b, v| {
        let c = b.param(
            "cond",
            Tensor::new(
                [2, 3],
                intrain::ir::TensorData::Bool(vec![true, false, true, false, false, true]),
            )
            .expect("cond"),
        )?;
        Ok(vec![b.op(OpType::Where, "where", &[c, v["a"], v["b"]], vec![])?])
    }));
    let (a, bb, cc) = (
        init.normal_tensor(&[2, 3], 1.0),
        init.normal_tensor(&[3], 1.0),
        init.normal_tensor(&[2, 1], 1.0),
    );
    check(case("sum and mean of three", vec![("a", a), ("b", bb), ("c", cc)], |b, v| {
        Ok(vec![
            b.op(OpType::Sum, "sum", &[v["a"], v["b"], v["c"]], vec![])?,
            b.op(OpType::Mean, "mean", &[v["a"], v["b"], v["c"]], vec![])?,
        ])
    }));
}

#[test]
fn should_diff_pools() {
    let mut init = Init::new(8);
    let pools: Vec<(&str, OpType, i64, i64, i64, i64, i64)> = vec![
        // name, op, k, s, p, ceil, count_include_pad
        ("avgpool k3 s1 p1", OpType::AveragePool, 3, 1, 1, 0, 0),
        ("avgpool k3 s1 p1 count pad", OpType::AveragePool, 3, 1, 1, 0, 1),
        ("avgpool k2 s1", OpType::AveragePool, 2, 1, 0, 0, 0),
        ("avgpool k5 s1 p2", OpType::AveragePool, 5, 1, 2, 0, 0),
        ("avgpool k3 s1 ceil", OpType::AveragePool, 3, 1, 0, 1, 0),
        ("avgpool k3 s2 p1 count pad", OpType::AveragePool, 3, 2, 1, 0, 1),
        ("avgpool k2 s2", OpType::AveragePool, 2, 2, 0, 0, 0),
        ("avgpool k3 s2 ceil", OpType::AveragePool, 3, 2, 0, 1, 0),
        ("maxpool k3 s2 p1", OpType::MaxPool, 3, 2, 1, 0, 0),
        ("maxpool k2 s2", OpType::MaxPool, 2, 2, 0, 0, 0),
        ("maxpool k3 s1 p1", OpType::MaxPool, 3, 1, 1, 0, 0),
        ("maxpool k3 s2 ceil", OpType::MaxPool, 3, 2, 0, 1, 0),
    ];
    for (name, op, k, s, p, ceil, cip) in pools {
        let x = spread(&mut init, &[2, 3, 6, 7]);
        let mut c = case(name, vec![("x", x)], move |b, v| {
            let mut attrs = vec![
                ("kernel_shape", Attr::Ints(vec![k, k])),
                ("strides", Attr::Ints(vec![s, s])),
                ("pads", Attr::Ints(vec![p; 4])),
                ("ceil_mode", Attr::Int(ceil)),
            ];
            if op == OpType::AveragePool {
                attrs.push(("count_include_pad", Attr::Int(cip)));
            }
            Ok(vec![b.op(op, "pool", &[v["x"]], attrs)?])
        });
        if op == OpType::MaxPool {
            c.eps = 1e-3;
        }
        check(c);
    }
    let x = init.normal_tensor(&[2, 3, 4, 5], 1.0);
    check(case("global average pool", vec![("x", x)], |b, v| {
        Ok(vec![b.op(OpType::GlobalAveragePool, "gap", &[v["x"]], vec![])?])
    }));
}

#[test]
fn should_diff_reductions_and_data_movement() {
    let mut init = Init::new(9);
    let x = || Init::new(10).normal_tensor(&[2, 3, 4], 1.0);
    check(case("reduce mean axes attr", vec![("x", x())], |b, v| {
        Ok(vec![b.op(
            OpType::ReduceMean,
            "rm",
            &[v["x"]],
            vec![("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(1))],
        )?])
    }));
    check(case("reduce sum axes input", vec![("x", x())], |b, v| {
        let ax = b.param("axes", Tensor::i64_vec(vec![0, -1]))?;
        Ok(vec![b.op(OpType::ReduceSum, "rs", &[v["x"], ax], vec![("keepdims", Attr::Int(0))])?])
    }));
    let y = init.normal_tensor(&[2, 2, 4], 1.0);
    check(case("concat", vec![("x", x()), ("y", y)], |b, v| {
        Ok(vec![b.concat("cat", &[v["x"], v["y"]], 1)?])
    }));
    check(case("split uneven", vec![("x", x())], |b, v| {
        let sp = b.param("split", Tensor::i64_vec(vec![1, 2]))?;
        b.op_full(
            OpType::Split,
            "split",
            &[Some(v["x"]), Some(sp)],
            vec![("axis", Attr::Int(1))],
            2,
        )
    }));
    check(case("slice", vec![("x", x())], |b, v| {
        let st = b.param("st", Tensor::i64_vec(vec![1, -3]))?;
        let en = b.param("en", Tensor::i64_vec(vec![3, i64::MAX]))?;
        let ax = b.param("ax", Tensor::i64_vec(vec![2, 1]))?;
        Ok(vec![b.op(OpType::Slice, "slice", &[v["x"], st, en, ax], vec![])?])
    }));
    check(case("reshape flatten transpose", vec![("x", x())], |b, v| {
        let sh = b.param("sh", Tensor::i64_vec(vec![3, -1]))?;
        let r = b
            .op(OpType::Reshape, "reshape", &[v["x"]], vec![])
            .err()
            .map_or(Ok(()), |_| Ok::<(), intrain::Error>(()));
        r?;
        let r = b.op(OpType::Reshape, "reshape2", &[v["x"], sh], vec![])?;
        let t = b.op(OpType::Transpose, "t", &[r], vec![("perm", Attr::Ints(vec![1, 0]))])?;
        let f = b.op(OpType::Flatten, "f", &[v["x"]], vec![("axis", Attr::Int(2))])?;
        Ok(vec![t, f])
    }));
    check(case(
        "squeeze unsqueeze expand",
        vec![("x", Init::new(11).normal_tensor(&[2, 1, 4], 1.0))],
        |b, v| {
            let a0 = b.param("a0", Tensor::i64_vec(vec![1]))?;
            let s = b.op(OpType::Squeeze, "sq", &[v["x"], a0], vec![])?;
            let a1 = b.param("a1", Tensor::i64_vec(vec![0]))?;
            let u = b.op(OpType::Unsqueeze, "unsq", &[s, a1], vec![])?;
            let sh = b.param("shape", Tensor::i64_vec(vec![3, 2, 4]))?;
            Ok(vec![b.op(OpType::Expand, "expand", &[u, sh], vec![])?])
        },
    ));
    check(case("gather scalar index (class token)", vec![("x", x())], |b, v| {
        let i = b.param("i", Tensor::i64_scalar(0))?;
        Ok(vec![b.op(OpType::Gather, "g", &[v["x"], i], vec![("axis", Attr::Int(1))])?])
    }));
    check(case("gather repeated indices last axis", vec![("x", x())], |b, v| {
        let i = b.param("i", Tensor::i64_vec(vec![3, -1, 0]))?;
        Ok(vec![b.op(OpType::Gather, "g", &[v["x"], i], vec![("axis", Attr::Int(-1))])?])
    }));
    check(case("dropout as identity", vec![("x", x())], |b, v| {
        let r = b.param("ratio", Tensor::f32_scalar(0.5))?;
        Ok(vec![b.op(OpType::Dropout, "drop", &[v["x"], r], vec![])?])
    }));
    check(case("pad constant", vec![("x", x())], |b, v| {
        let pads = b.param("pads", Tensor::i64_vec(vec![0, 1, 2, 0, 0, 1]))?;
        Ok(vec![b.op(OpType::Pad, "pad", &[v["x"], pads], vec![])?])
    }));
}

#[test]
fn shape_paths_have_no_gradient_and_unsupported_ops_name_the_node() {
    // Reshape whose target is computed from Shape: the integer path is folded, the data path
    // differentiated.
    let x = Init::new(12).normal_tensor(&[2, 3, 4], 1.0);
    check(case("reshape from shape", vec![("x", x.clone())], |b, v| {
        let s = b.op(OpType::Shape, "shape", &[v["x"]], vec![])?;
        let idx = b.param("idx", Tensor::i64_vec(vec![0]))?;
        let n = b.op(OpType::Gather, "batch", &[s, idx], vec![("axis", Attr::Int(0))])?;
        let m1 = b.param("m1", Tensor::i64_vec(vec![-1]))?;
        let target = b.concat("target", &[n, m1], 0)?;
        Ok(vec![b.op(OpType::Reshape, "reshape", &[v["x"], target], vec![])?])
    }));
    // ReduceSumSquare has no gradient rule yet: the error names the node and op.
    let mut b = GraphBuilder::new("g");
    let xv = b.param("x", Init::new(13).normal_tensor(&[2, 3, 4, 4], 1.0)).expect("x");
    let y = b.op(OpType::ReduceSumSquare, "pick_max", &[xv], vec![]).expect("rss");
    let r = b.op(OpType::ReduceSum, "s", &[y], vec![("keepdims", Attr::Int(0))]).expect("sum");
    b.output(r);
    let g = b.finish();
    let err = build_training_graph(&g, &TrainingOptions { loss: Loss::Sum, ..Default::default() })
        .expect_err("error");
    let msg = err.to_string();
    assert!(
        msg.contains("pick_max")
            && msg.contains("ReduceSumSquare")
            && msg.contains("cannot differentiate"),
        "{msg}"
    );
}

/// The case with its graph at `opset`.
fn at(mut c: Case, opset: i64) -> Case {
    c.opset = opset;
    c
}

#[test]
fn should_diff_pow_with_tensor_exponents() {
    // A tensor exponent is used elementwise (regression: the first exponent was used for every
    // element, the ONNX suite's test_pow_example gave [4, 32, 108] instead of [4, 80, 1458]).
    let mut init = Init::new(20);
    let x = uniform(&mut init, &[2, 3], 0.5, 2.0);
    check(case("pow tensor exponent", vec![("x", x)], |b, v| {
        let p = b.param("p", Tensor::f32([2, 3], vec![4.0, 5.0, 6.0, 1.5, -1.0, 2.5]))?;
        Ok(vec![b.op(OpType::Pow, "pow", &[v["x"], p], vec![])?])
    }));
    // The exponent broadcasts the base: the base's gradient is summed back to its shape.
    let x = uniform(&mut init, &[3], 0.5, 2.0);
    check(case("pow exponent broadcasts the base", vec![("x", x)], |b, v| {
        let p = b.param("p", Tensor::f32([2, 3], vec![2.0, 3.0, 0.5, -2.0, 1.0, 4.0]))?;
        Ok(vec![b.op(OpType::Pow, "pow", &[v["x"], p], vec![])?])
    }));
    // An integer exponent tensor (opset 12 on).
    let x = uniform(&mut init, &[2, 3], 0.5, 2.0);
    check(case("pow int64 exponents", vec![("x", x)], |b, v| {
        let p = b.param("p", Tensor::i64_vec(vec![1, 2, 3]))?;
        Ok(vec![b.op(OpType::Pow, "pow", &[v["x"], p], vec![])?])
    }));
}

#[test]
fn pow_example_of_the_onnx_suite_is_exact() {
    // x = [1, 2, 3], y = [4, 5, 6]: d/dx Σ x^y = y·x^(y−1) = [4, 80, 1458].
    let mut b = GraphBuilder::new("pow");
    let x = b.param("x", Tensor::f32([3], vec![1.0, 2.0, 3.0])).expect("x");
    let p = b.param("y", Tensor::f32([3], vec![4.0, 5.0, 6.0])).expect("y");
    let z = b.op(OpType::Pow, "pow", &[x, p], vec![]).expect("pow");
    b.output(z);
    let g = b.finish();
    let opts = TrainingOptions {
        loss: Loss::Sum,
        params: ParamSet::Named(vec![]),
        activation_grads: vec!["x".into()],
        ..Default::default()
    };
    let tg = build_training_graph(&g, &opts).expect("training graph");
    let mut s = common::runtime().session(&intrain::onnx::to_bytes(&tg.graph)).expect("session");
    let out = s.run(&[]).expect("run");
    let name = tg.activation_grads[0].1.clone().expect("x influences the loss");
    assert_eq!(out[&name].to_f64(), vec![4.0, 80.0, 1458.0]);
}

/// A pool case on a `spread` input (distinct values, so finite differences cross no tie).
#[allow(clippy::too_many_arguments)]
fn pool_case(
    name: &str,
    op: OpType,
    shape: &[usize],
    kernel: &[i64],
    strides: &[i64],
    pads: &[i64],
    dilations: &[i64],
    extra: Vec<(&'static str, Attr)>,
) -> Case {
    let x = spread(&mut Init::new(name.len() as u64 + 31), shape);
    let (kernel, strides, pads, dilations) =
        (kernel.to_vec(), strides.to_vec(), pads.to_vec(), dilations.to_vec());
    let mut c = case(name, vec![("x", x)], move |b, v| {
        let mut attrs = vec![
            ("kernel_shape", Attr::Ints(kernel.clone())),
            ("strides", Attr::Ints(strides.clone())),
            ("pads", Attr::Ints(pads.clone())),
            ("dilations", Attr::Ints(dilations.clone())),
        ];
        attrs.extend(extra.iter().cloned());
        Ok(vec![b.op(op, "pool", &[v["x"]], attrs)?])
    });
    c.opset = 22;
    if op == OpType::MaxPool {
        c.eps = 1e-3;
    }
    c
}

#[test]
fn should_diff_pools_of_any_rank_and_dilation() {
    use OpType::{AveragePool as Avg, MaxPool as Max};
    let ceil = || vec![("ceil_mode", Attr::Int(1))];
    let count_pad = || vec![("count_include_pad", Attr::Int(1))];
    for c in [
        pool_case("avgpool 1-D k3 s2 p1", Avg, &[2, 3, 9], &[3], &[2], &[1, 1], &[1], vec![]),
        pool_case("maxpool 1-D k3 s2 p1", Max, &[2, 3, 9], &[3], &[2], &[1, 1], &[1], vec![]),
        pool_case("maxpool 1-D k2 ceil", Max, &[2, 2, 8], &[2], &[3], &[0, 0], &[1], ceil()),
        pool_case(
            "avgpool 3-D k2 s1 p(0,1)",
            Avg,
            &[1, 2, 4, 5, 3],
            &[2, 2, 2],
            &[1, 2, 1],
            &[0, 1, 0, 1, 0, 1],
            &[1, 1, 1],
            count_pad(),
        ),
        pool_case(
            "maxpool 3-D k2 s2 p1",
            Max,
            &[1, 2, 5, 4, 4],
            &[2, 2, 2],
            &[2, 2, 2],
            &[1, 1, 1, 1, 1, 1],
            &[1, 1, 1],
            vec![],
        ),
        pool_case(
            "avgpool 2-D dilated",
            Avg,
            &[2, 2, 7, 8],
            &[2, 3],
            &[1, 2],
            &[1; 4],
            &[2, 2],
            vec![],
        ),
        pool_case(
            "avgpool 2-D dilated ceil count pad",
            Avg,
            &[1, 2, 8, 7],
            &[3, 2],
            &[2, 2],
            &[1, 0, 1, 1],
            &[2, 3],
            [ceil(), count_pad()].concat(),
        ),
        pool_case(
            "maxpool 2-D dilated",
            Max,
            &[2, 2, 7, 8],
            &[3, 2],
            &[1, 2],
            &[1; 4],
            &[2, 2],
            vec![],
        ),
        pool_case(
            "maxpool 3-D dilated ceil",
            Max,
            &[1, 1, 7, 6, 6],
            &[2, 2, 2],
            &[2, 2, 2],
            &[0; 6],
            &[2, 2, 3],
            ceil(),
        ),
        // Undilated 2-D MaxPool before opset 13 takes the N-D rule (opset-7 forms only).
        at(
            pool_case(
                "maxpool 2-D opset 8",
                Max,
                &[2, 2, 6, 6],
                &[3, 3],
                &[2, 2],
                &[1; 4],
                &[1, 1],
                vec![],
            ),
            10,
        ),
    ] {
        check(c);
    }
    // MaxPool with its Indices output: the gradient flows through Y only.
    let x = spread(&mut Init::new(40), &[2, 2, 6, 5]);
    let mut c = case("maxpool with indices", vec![("x", x)], |b, v| {
        let outs = b.op_full(
            OpType::MaxPool,
            "pool",
            &[Some(v["x"])],
            vec![
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("strides", Attr::Ints(vec![2, 2])),
                ("storage_order", Attr::Int(1)),
            ],
            2,
        )?;
        Ok(vec![outs[0]])
    });
    c.opset = 22;
    c.eps = 1e-3;
    check(c);
}

#[test]
fn max_pool_ties_give_the_gradient_to_the_first_maximum() {
    // A 1-D and a dilated 2-D window full of equal values: PyTorch's convention, the first
    // position in window order gets the whole gradient.
    for (shape, kernel, dilations, expect) in [
        (vec![1, 1, 4], vec![2], vec![1], vec![1.0, 0.0, 1.0, 0.0]),
        (
            vec![1, 1, 3, 3],
            vec![2, 2],
            vec![2, 2],
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
    ] {
        let n: usize = shape.iter().product();
        let mut b = GraphBuilder::from_graph(Graph::new("ties", 22).expect("graph"));
        let x = b.param("x", Tensor::f32(shape.clone(), vec![2.0; n])).expect("x");
        let strides = vec![2; kernel.len()];
        let y = b
            .op(
                OpType::MaxPool,
                "pool",
                &[x],
                vec![
                    ("kernel_shape", Attr::Ints(kernel)),
                    ("strides", Attr::Ints(strides)),
                    ("dilations", Attr::Ints(dilations)),
                ],
            )
            .expect("pool");
        b.output(y);
        let g = b.finish();
        let opts = TrainingOptions {
            loss: Loss::Sum,
            params: ParamSet::Named(vec![]),
            activation_grads: vec!["x".into()],
            ..Default::default()
        };
        let tg = build_training_graph(&g, &opts).expect("training graph");
        let mut s =
            common::runtime().session(&intrain::onnx::to_bytes(&tg.graph)).expect("session");
        let out = s.run(&[]).expect("run");
        let name = tg.activation_grads[0].1.clone().expect("gradient");
        assert_eq!(out[&name].to_f64(), expect, "{shape:?}");
    }
}

#[test]
fn should_diff_gather_gelu_tanh_matmul_vectors_and_strided_slices() {
    let mut init = Init::new(21);
    let x = || Init::new(22).normal_tensor(&[3, 4, 5], 1.0);
    check(case("gather 2-D indices", vec![("x", x())], |b, v| {
        let i = b.param(
            "i",
            Tensor::new([2, 3], intrain::ir::TensorData::I64(vec![0, 2, -1, 2, 2, 1])).expect("i"),
        )?;
        Ok(vec![b.op(OpType::Gather, "g", &[v["x"], i], vec![("axis", Attr::Int(1))])?])
    }));
    check(case("gather 3-D indices axis 0", vec![("x", x())], |b, v| {
        let i = b.param(
            "i",
            Tensor::new([2, 1, 2], intrain::ir::TensorData::I64(vec![2, 0, 2, -3])).expect("i"),
        )?;
        Ok(vec![b.op(OpType::Gather, "g", &[v["x"], i], vec![])?])
    }));
    let xg = init.normal_tensor(&[2, 3, 4], 2.5);
    let mut c = case("gelu tanh", vec![("x", xg)], |b, v| {
        Ok(vec![b.op(
            OpType::Gelu,
            "gelu",
            &[v["x"]],
            vec![("approximate", Attr::String("tanh".into()))],
        )?])
    });
    c.opset = 20;
    check(c);
    for (sa, sb) in [
        (vec![4], vec![4, 5]),
        (vec![2, 3, 4], vec![4]),
        (vec![4], vec![4]),
        (vec![4], vec![2, 4, 3]),
    ] {
        let (a, bm) = (init.normal_tensor(&sa, 1.0), init.normal_tensor(&sb, 1.0));
        check(case(&format!("matmul {sa:?} x {sb:?}"), vec![("a", a), ("b", bm)], |b, v| {
            Ok(vec![b.op(OpType::MatMul, "mm", &[v["a"], v["b"]], vec![])?])
        }));
    }
    for (name, starts, ends, axes, steps) in [
        ("slice negative step", vec![-1], vec![i64::MIN], vec![2], vec![-1]),
        ("slice step -2 and unit step", vec![3, 1], vec![0, 3], vec![2, 1], vec![-2, 1]),
        ("slice step 2 and step -3", vec![0, 20], vec![3, -20], vec![0, 2], vec![2, -3]),
    ] {
        check(case(name, vec![("x", x())], move |b, v| {
            let st = b.param("st", Tensor::i64_vec(starts.clone()))?;
            let en = b.param("en", Tensor::i64_vec(ends.clone()))?;
            let ax = b.param("ax", Tensor::i64_vec(axes.clone()))?;
            let sp = b.param("sp", Tensor::i64_vec(steps.clone()))?;
            Ok(vec![b.op(OpType::Slice, "slice", &[v["x"], st, en, ax, sp], vec![])?])
        }));
    }
}

#[test]
fn should_diff_old_opset_forms() {
    let x = || Init::new(23).normal_tensor(&[2, 3, 4], 1.0);
    // Dropout with its ratio attribute (opset 7 to 11), as identity.
    check(at(
        case("dropout ratio attribute (opset 11)", vec![("x", x())], |b, v| {
            Ok(vec![b.op(OpType::Dropout, "drop", &[v["x"]], vec![("ratio", Attr::Float(0.3))])?])
        }),
        11,
    ));
    // Clip with min/max attributes (before opset 11); Relu's mask is a Clip too.
    let mut c = at(
        case(
            "clip attributes (opset 10)",
            vec![("x", Init::new(24).normal_tensor(&[2, 3, 4], 2.0))],
            |b, v| {
                let a = vec![("min", Attr::Float(-1.0)), ("max", Attr::Float(1.5))];
                Ok(vec![
                    b.op(OpType::Clip, "clip", &[v["x"]], a)?,
                    b.op(OpType::Relu, "relu", &[v["x"]], vec![])?,
                ])
            },
        ),
        10,
    );
    c.eps = 1e-3;
    check(c);
    // Squeeze, Unsqueeze, ReduceSum, ReduceMean and Split with attributes (before opset 13).
    check(at(
        case(
            "axes and split attributes (opset 12)",
            vec![("x", Init::new(25).normal_tensor(&[2, 1, 4], 1.0))],
            |b, v| {
                let s =
                    b.op(OpType::Squeeze, "sq", &[v["x"]], vec![("axes", Attr::Ints(vec![1]))])?;
                let u =
                    b.op(OpType::Unsqueeze, "unsq", &[s], vec![("axes", Attr::Ints(vec![0, 3]))])?;
                let r = b.op(
                    OpType::ReduceSum,
                    "rs",
                    &[u],
                    vec![("axes", Attr::Ints(vec![3])), ("keepdims", Attr::Int(0))],
                )?;
                let m = b.op(
                    OpType::ReduceMean,
                    "rm",
                    &[v["x"]],
                    vec![("axes", Attr::Ints(vec![-1])), ("keepdims", Attr::Int(1))],
                )?;
                let parts = b.op_full(
                    OpType::Split,
                    "split",
                    &[Some(v["x"])],
                    vec![("axis", Attr::Int(2)), ("split", Attr::Ints(vec![1, 3]))],
                    2,
                )?;
                Ok(vec![r, m, parts[1]])
            },
        ),
        12,
    ));
    // Pad with pads/value attributes (before 11), Slice with starts/ends/axes attributes (before 10).
    check(at(
        case("pad and slice attributes (opset 9)", vec![("x", x())], |b, v| {
            let p = b.op(
                OpType::Pad,
                "pad",
                &[v["x"]],
                vec![("pads", Attr::Ints(vec![0, 1, 2, 0, 0, 1])), ("value", Attr::Float(0.5))],
            )?;
            let s = b.op(
                OpType::Slice,
                "slice",
                &[v["x"]],
                vec![
                    ("starts", Attr::Ints(vec![1, -3])),
                    ("ends", Attr::Ints(vec![3, 100])),
                    ("axes", Attr::Ints(vec![2, 1])),
                ],
            )?;
            Ok(vec![p, s])
        }),
        9,
    ));
    // Softmax and LogSoftmax before opset 13: normalised over every axis from `axis` on
    // (default 1).
    for op in [OpType::Softmax, OpType::LogSoftmax] {
        check(at(
            case(&format!("{op} 2-D coercion (opset 12)"), vec![("x", x())], move |b, v| {
                Ok(vec![
                    b.op(op, "sm", &[v["x"]], vec![])?,
                    b.op(op, "sm0", &[v["x"]], vec![("axis", Attr::Int(0))])?,
                ])
            }),
            12,
        ));
    }
    // Opset 8: no Where, Sign or Expand: selects, signs and broadcasts are emitted as
    // arithmetic and Tile.
    let xs = Init::new(26).normal_tensor(&[2, 3, 2, 2], 2.0);
    let mut c = at(
        case("where-free selects (opset 8)", vec![("x", xs)], |b, v| {
            Ok(vec![
                b.op(OpType::LeakyRelu, "lrelu", &[v["x"]], vec![("alpha", Attr::Float(0.1))])?,
                b.op(OpType::Elu, "elu", &[v["x"]], vec![])?,
                b.op(OpType::HardSigmoid, "hsig", &[v["x"]], vec![])?,
                b.op(OpType::Abs, "abs", &[v["x"]], vec![])?,
                b.op(OpType::GlobalAveragePool, "gap", &[v["x"]], vec![])?,
            ])
        }),
        8,
    );
    c.eps = 1e-3;
    check(c);
    let xs = Init::new(27).normal_tensor(&[2, 3, 2, 2], 1.0);
    check(at(
        case("expand-free broadcast (opset 7)", vec![("x", xs)], |b, v| {
            let m = b.op(
                OpType::ReduceMean,
                "rm",
                &[v["x"]],
                vec![("axes", Attr::Ints(vec![2, 3])), ("keepdims", Attr::Int(0))],
            )?;
            Ok(vec![b.op(OpType::GlobalAveragePool, "gap", &[v["x"]], vec![])?, m])
        }),
        7,
    ));
    // Conv before opset 10: the input gradient by ConvTranspose (Slice has no steps to flip the
    // weight); Gemm before 11 (C required).
    let mut c = conv_case("conv opset 9", 2, 3, 3, 1, [1, 1, 1, 1], 1, 1, true, 5);
    c.opset = 9;
    check(c);
    let mut init = Init::new(28);
    let (a, bm, cc) = (
        init.normal_tensor(&[3, 4], 1.0),
        init.normal_tensor(&[4, 5], 1.0),
        init.normal_tensor(&[5], 1.0),
    );
    check(at(
        case("gemm opset 10", vec![("a", a), ("b", bm), ("c", cc)], |b, v| {
            Ok(vec![b.op(OpType::Gemm, "gemm", &[v["a"], v["b"], v["c"]], vec![])?])
        }),
        10,
    ));
}

#[test]
fn training_mode_dropout_is_refused() {
    let mut b = GraphBuilder::new("drop");
    let x = b.param("x", Init::new(29).normal_tensor(&[2, 3], 1.0)).expect("x");
    let r = b.param("ratio", Tensor::f32_scalar(0.5)).expect("ratio");
    let t = b
        .param("training", Tensor::new([], intrain::ir::TensorData::Bool(vec![true])).expect("t"))
        .expect("training");
    let y = b.op(OpType::Dropout, "drop", &[x, r, t], vec![]).expect("dropout");
    b.output(y);
    let g = b.finish();
    let opts = TrainingOptions {
        loss: Loss::Sum,
        params: ParamSet::Named(vec![]),
        activation_grads: vec!["x".into()],
        ..Default::default()
    };
    let msg = build_training_graph(&g, &opts).expect_err("refused").to_string();
    assert!(msg.contains("'drop'") && msg.contains("training mode"), "{msg}");
}

/// Batch statistics and their gradients accumulate exactly (to float32 rounding), as PyTorch's
/// CPU kernel does in float64, on a 64×64 map whose channels sit at offsets up to 100 with unit
/// spread, against float64 from the same float32 inputs. β's gradient is a plain sum of 32,768
/// cotangents: within 1e-7 relative (float32 `ReduceSum`s over all of them are off by up to 3e-7
/// here). γ's gradient and the loss depend on the mean, whose float32 rounding (half a spacing of
/// 100, 4e-6 of the spread) moves them by up to about 3e-6 relative: within 1e-5.
#[test]
fn batch_norm_sums_are_exact_on_large_maps_with_large_means() {
    let (n, c, h, w) = (8usize, 3usize, 64usize, 64usize);
    let mut init = Init::new(11);
    let offsets = [100.0f32, -30.0, 3.0];
    let noise = init.normal_tensor(&[n, c, h, w], 1.0).to_f32();
    let x: Vec<f32> =
        noise.iter().enumerate().map(|(i, &v)| v + offsets[(i / (h * w)) % c]).collect();
    let r = init.normal_tensor(&[n, c, h, w], 1.0).to_f32();
    let scale = vec![1.5f32, 0.5, 1.0];
    let mut g = GraphBuilder::from_graph(Graph::new("bn_sums", 17).expect("opset"));
    let xv = g.input("x", intrain::ir::TensorType::f32(vec![n, c, h, w])).expect("x");
    let sv = g.param("scale", Tensor::f32([c], scale.clone())).expect("scale");
    let bv = g.param("bias", Tensor::f32([c], vec![0.0; c])).expect("bias");
    let mv = g.param("mean", Tensor::f32([c], vec![0.0; c])).expect("mean");
    let vv = g.param("var", Tensor::f32([c], vec![1.0; c])).expect("var");
    let y = g.batch_norm("bn", xv, sv, bv, mv, vv, 1e-5, false).expect("bn");
    let rv = g.param("R", Tensor::f32([n, c, h, w], r.clone())).expect("R");
    let t = g.op(OpType::Mul, "weighted", &[y, rv], vec![]).expect("mul");
    let l = g.op(OpType::ReduceSum, "L", &[t], vec![("keepdims", Attr::Int(0))]).expect("L");
    g.output(l);
    let g = g.finish();
    let opts = TrainingOptions {
        loss: Loss::Sum,
        params: ParamSet::Named(vec!["scale".into(), "bias".into()]),
        batch_norm: BnMode::Train,
        ..Default::default()
    };
    let tg = build_training_graph(&g, &opts).expect("training graph");
    // Batch statistics leave the running statistics unread: they are not carried over (an
    // unused initializer costs a warning per tensor wherever the saved graph is loaded).
    let read: std::collections::HashSet<ValueId> =
        tg.graph.nodes().iter().flat_map(|n| n.inputs.iter().flatten().copied()).collect();
    let unused: Vec<&str> = tg
        .graph
        .initializers()
        .filter(|(id, _)| !read.contains(id))
        .map(|(_, v)| v.name.as_str())
        .collect();
    assert!(unused.is_empty(), "initializers no node reads: {unused:?}");
    let rt = common::runtime();
    let mut s = rt.session(&intrain::onnx::to_bytes(&tg.graph)).expect("session");
    let xt = Tensor::f32([n, c, h, w], x.clone());
    let out = s.run(&[("x", &xt)]).expect("run");
    let grad = |p: &str| {
        let name = tg.params.iter().find(|q| q.name == p).and_then(|q| q.grad.clone());
        out[&name.expect("gradient output")].to_f64()
    };
    let (dscale, dbias) = (grad("scale"), grad("bias"));
    // float64 reference: L = Σ R·(γ·xhat + β), dβ = ΣR, dγ = ΣR·xhat per channel.
    let m = (n * h * w) as f64;
    let mut loss = 0.0f64;
    for ch in 0..c {
        let idx = |k: usize| {
            let (b, p) = (k / (h * w), k % (h * w));
            (b * c + ch) * h * w + p
        };
        let mean = (0..n * h * w).map(|k| x[idx(k)] as f64).sum::<f64>() / m;
        let var = (0..n * h * w).map(|k| (x[idx(k)] as f64 - mean).powi(2)).sum::<f64>() / m;
        let inv = 1.0 / (var + 1e-5f32 as f64).sqrt();
        let db: f64 = (0..n * h * w).map(|k| r[idx(k)] as f64).sum();
        let dg: f64 =
            (0..n * h * w).map(|k| r[idx(k)] as f64 * (x[idx(k)] as f64 - mean) * inv).sum();
        loss += scale[ch] as f64 * dg;
        for (what, ours, exact, tol) in [("dβ", dbias[ch], db, 1e-7), ("dγ", dscale[ch], dg, 1e-5)]
        {
            assert!(
                (ours - exact).abs() <= tol * exact.abs(),
                "channel {ch} (offset {}): {what} {ours} against float64 {exact}",
                offsets[ch]
            );
        }
    }
    let ours = out[&tg.loss].to_f64()[0];
    assert!((ours - loss).abs() <= 1e-5 * loss.abs(), "loss {ours} against float64 {loss}");
}
