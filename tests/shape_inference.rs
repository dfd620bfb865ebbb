//! Our static shape inference agrees with the shapes ONNX Runtime actually produces, over seeded
//! random configurations of the ops whose shape rules have arithmetic (convolutions, pools,
//! slicing, reshaping), including ceil_mode, auto_pad, dilations, groups and negative indices.

mod common;

use intrain::init::Init;
use intrain::ir::{Attr, GraphBuilder, OpType, Tensor, TensorType, ValueId};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Runs a one-node graph on ONNX Runtime and checks every output's shape against the IR's.
fn check(
    build: impl FnOnce(&mut GraphBuilder, ValueId) -> Option<Vec<ValueId>>,
    x_shape: &[usize],
    what: &str,
) -> bool {
    let mut b = GraphBuilder::new("t");
    let x = b.input("x", TensorType::f32(x_shape.to_vec())).expect("input");
    let Some(outs) = build(&mut b, x) else { return false };
    for &o in &outs {
        b.output(o);
    }
    let g = b.finish();
    let mut s = common::runtime()
        .session(&intrain::onnx::to_bytes(&g))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let xin = Init::new(0).normal_tensor(x_shape, 1.0);
    let res = s.run(&[("x", &xin)]).unwrap_or_else(|e| panic!("{what}: {e}"));
    for &o in &outs {
        let v = g.value(o);
        assert_eq!(res[&v.name].shape, v.ty.shape, "{what}: output {} shape", v.name);
    }
    true
}

#[test]
fn conv_shapes_match_onnx_runtime() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut checked = 0;
    for _ in 0..60 {
        let group = [1, 1, 2, 4][rng.random_range(0..4)];
        let cin = group * rng.random_range(1..4);
        let cout = group * rng.random_range(1..4);
        let k = rng.random_range(1..5);
        let (s, d) = (rng.random_range(1..4), rng.random_range(1..3));
        let h = rng.random_range(k * d..12);
        let w = rng.random_range(k * d..12);
        let pads: Vec<i64> = (0..4).map(|_| rng.random_range(0..k as i64)).collect();
        let auto_pad =
            ["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"][rng.random_range(0..5)];
        let what = format!(
            "Conv cin{cin} cout{cout} g{group} k{k} s{s} d{d} {h}x{w} pads{pads:?} {auto_pad}"
        );
        let wt = Init::new(1).kaiming(&[cout, cin / group, k, k]);
        let ok = check(
            |b, x| {
                let wv = b.param("w", wt).ok()?;
                let mut attrs = vec![
                    ("strides", Attr::Ints(vec![s as i64; 2])),
                    ("dilations", Attr::Ints(vec![d as i64; 2])),
                    ("group", Attr::Int(group as i64)),
                    ("auto_pad", Attr::String(auto_pad.into())),
                ];
                if auto_pad == "NOTSET" {
                    attrs.push(("pads", Attr::Ints(pads.clone())));
                }
                b.op(OpType::Conv, "conv", &[x, wv], attrs).ok().map(|v| vec![v])
            },
            &[2, cin, h, w],
            &what,
        );
        checked += ok as usize;
    }
    assert!(checked >= 40, "only {checked} configurations were valid");
}

#[test]
fn pool_shapes_match_onnx_runtime() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut checked = 0;
    for i in 0..60 {
        let op = if i % 2 == 0 { OpType::MaxPool } else { OpType::AveragePool };
        let k = rng.random_range(1..4);
        let s = rng.random_range(1..4);
        let p = rng.random_range(0..k) as i64;
        let ceil = rng.random_range(0..2);
        let h = rng.random_range(k..11);
        let what = format!("{op} k{k} s{s} p{p} ceil{ceil} h{h}");
        let ok = check(
            |b, x| {
                let mut attrs = vec![
                    ("kernel_shape", Attr::Ints(vec![k as i64; 2])),
                    ("strides", Attr::Ints(vec![s as i64; 2])),
                    ("pads", Attr::Ints(vec![p; 4])),
                    ("ceil_mode", Attr::Int(ceil)),
                ];
                if op == OpType::AveragePool {
                    attrs.push(("count_include_pad", Attr::Int((i % 4 == 1) as i64)));
                }
                b.op(op, "pool", &[x], attrs).ok().map(|v| vec![v])
            },
            &[1, 2, h, h + 1],
            &what,
        );
        checked += ok as usize;
    }
    assert!(checked >= 50, "only {checked} configurations were valid");
}

/// Builds part of a test graph from its input; `None` when the configuration is invalid.
type BuildFn = dyn Fn(&mut GraphBuilder, ValueId) -> Option<Vec<ValueId>>;

#[test]
fn slicing_and_reshaping_match_onnx_runtime() {
    let cases: Vec<(&str, Box<BuildFn>)> = vec![
        (
            "slice negative step",
            Box::new(|b, x| {
                let st = b.param("st", Tensor::i64_vec(vec![-1, 5])).ok()?;
                let en = b.param("en", Tensor::i64_vec(vec![i64::MIN, 0])).ok()?;
                let ax = b.param("ax", Tensor::i64_vec(vec![2, 3])).ok()?;
                let sp = b.param("sp", Tensor::i64_vec(vec![-1, -2])).ok()?;
                b.op(OpType::Slice, "slice", &[x, st, en, ax, sp], vec![]).ok().map(|v| vec![v])
            }),
        ),
        (
            "slice clamped",
            Box::new(|b, x| {
                let st = b.param("st", Tensor::i64_vec(vec![1, -100])).ok()?;
                let en = b.param("en", Tensor::i64_vec(vec![i64::MAX, 3])).ok()?;
                let ax = b.param("ax", Tensor::i64_vec(vec![1, -1])).ok()?;
                b.op(OpType::Slice, "slice", &[x, st, en, ax], vec![]).ok().map(|v| vec![v])
            }),
        ),
        (
            "reshape with 0 and -1",
            Box::new(|b, x| {
                let sh = b.param("sh", Tensor::i64_vec(vec![0, -1, 2])).ok()?;
                b.op(OpType::Reshape, "reshape", &[x, sh], vec![]).ok().map(|v| vec![v])
            }),
        ),
        (
            "shape-computed reshape",
            Box::new(|b, x| {
                let s = b.op(OpType::Shape, "shape", &[x], vec![]).ok()?;
                let idx = b.param("idx", Tensor::i64_vec(vec![0])).ok()?;
                let n =
                    b.op(OpType::Gather, "batch", &[s, idx], vec![("axis", Attr::Int(0))]).ok()?;
                let m1 = b.param("m1", Tensor::i64_vec(vec![-1])).ok()?;
                let sh =
                    b.op(OpType::Concat, "target", &[n, m1], vec![("axis", Attr::Int(0))]).ok()?;
                b.op(OpType::Reshape, "reshape", &[x, sh], vec![]).ok().map(|v| vec![v])
            }),
        ),
        (
            "transpose + flatten",
            Box::new(|b, x| {
                let t = b
                    .op(OpType::Transpose, "t", &[x], vec![("perm", Attr::Ints(vec![0, 2, 3, 1]))])
                    .ok()?;
                b.op(OpType::Flatten, "f", &[t], vec![("axis", Attr::Int(2))]).ok().map(|v| vec![v])
            }),
        ),
        (
            "split uneven",
            Box::new(|b, x| {
                let sp = b.param("sp", Tensor::i64_vec(vec![1, 2])).ok()?;
                b.op_full(
                    OpType::Split,
                    "split",
                    &[Some(x), Some(sp)],
                    vec![("axis", Attr::Int(1))],
                    2,
                )
                .ok()
            }),
        ),
        (
            "pad + global pool + squeeze",
            Box::new(|b, x| {
                let pads = b.param("pads", Tensor::i64_vec(vec![0, 0, 1, 2, 0, 0, 3, 0])).ok()?;
                let p = b.op(OpType::Pad, "pad", &[x, pads], vec![]).ok()?;
                let g = b.op(OpType::GlobalAveragePool, "gap", &[p], vec![]).ok()?;
                let ax = b.param("ax", Tensor::i64_vec(vec![-1, 2])).ok()?;
                let sq = b.op(OpType::Squeeze, "sq", &[g, ax], vec![]).ok()?;
                Some(vec![p, sq])
            }),
        ),
        (
            "reduce + unsqueeze + expand",
            Box::new(|b, x| {
                let r = b
                    .op(
                        OpType::ReduceMean,
                        "mean",
                        &[x],
                        vec![("axes", Attr::Ints(vec![1, -1])), ("keepdims", Attr::Int(0))],
                    )
                    .ok()?;
                let ax = b.param("ax", Tensor::i64_vec(vec![0, 3])).ok()?;
                let u = b.op(OpType::Unsqueeze, "u", &[r, ax], vec![]).ok()?;
                let sh = b.param("sh", Tensor::i64_vec(vec![3, 1, 1, 1, 1])).ok()?;
                let e = b.op(OpType::Expand, "e", &[u, sh], vec![]).ok()?;
                Some(vec![r, u, e])
            }),
        ),
    ];
    for (what, f) in cases {
        assert!(check(f, &[2, 3, 6, 7], what), "{what}: graph construction failed");
    }
}
