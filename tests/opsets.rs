//! Opsets 7 to 26 (those ONNX Runtime 1.31 runs): every per-opset change of attributes and inputs
//! of the ops intrain supports is read in its opset's form, checked against ONNX Runtime's
//! shapes, and the other opsets' form is a one-line error naming the node and attribute or
//! input count. Models at opset 22 and later (the ONNX test suite's) are inspected and
//! differentiated through the CLI.

mod common;

use std::path::{Path, PathBuf};

use common::intrain_text;
use intrain::init::Init;
use intrain::ir::{Attr, DType, Graph, GraphBuilder, OpType, Tensor, TensorType, ValueId};
use intrain::onnx::pb;
use prost::Message;

type Build = dyn Fn(&mut GraphBuilder, ValueId) -> intrain::Result<Vec<ValueId>>;

/// Builds a one-node graph at `opset` on an input of `shape`.
fn build(opset: i64, shape: &[usize], f: &Build) -> intrain::Result<(Graph, Vec<ValueId>)> {
    let mut b = GraphBuilder::from_graph(Graph::new("t", opset)?);
    let x = b.input("x", TensorType::f32(shape.to_vec()))?;
    let outs = f(&mut b, x)?;
    for &o in &outs {
        b.output(o);
    }
    Ok((b.finish(), outs))
}

/// The node is read at `opset` and ONNX Runtime computes the shapes we infer.
fn accepted(what: &str, opset: i64, shape: &[usize], f: &Build) -> Vec<Vec<usize>> {
    let (g, outs) = build(opset, shape, f).unwrap_or_else(|e| panic!("{what} at {opset}: {e}"));
    let mut s = common::runtime()
        .session(&intrain::onnx::to_bytes(&g))
        .unwrap_or_else(|e| panic!("{what} at {opset}: {e}"));
    let x = Init::new(1).normal_tensor(shape, 1.0);
    let res = s.run(&[("x", &x)]).unwrap_or_else(|e| panic!("{what} at {opset}: {e}"));
    outs.iter()
        .map(|&o| {
            let v = g.value(o);
            assert_eq!(
                res[&v.name].shape, v.ty.shape,
                "{what} at opset {opset}: shape of {}",
                v.name
            );
            v.ty.shape.clone()
        })
        .collect()
}

/// The node is refused at `opset` with an error containing every fragment.
fn refused(what: &str, opset: i64, shape: &[usize], f: &Build, fragments: &[&str]) {
    let msg = match build(opset, shape, f) {
        Ok(_) => panic!("{what} at opset {opset} was accepted"),
        Err(e) => e.to_string(),
    };
    assert_eq!(msg.lines().count(), 1, "{msg}");
    for frag in fragments {
        assert!(msg.contains(frag), "{what} at opset {opset}: '{msg}' lacks '{frag}'");
    }
}

fn ints(b: &mut GraphBuilder, name: &str, v: &[i64]) -> intrain::Result<ValueId> {
    b.param(name, Tensor::i64_vec(v.to_vec()))
}

#[test]
fn squeeze_and_unsqueeze_axes_attribute_before_13_input_from_13() {
    let attr = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let s = b.op(OpType::Squeeze, "sq", &[x], vec![("axes", Attr::Ints(vec![1]))])?;
        Ok(vec![b.op(OpType::Unsqueeze, "unsq", &[s], vec![("axes", Attr::Ints(vec![0, -1]))])?])
    };
    let input = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let a = ints(b, "a", &[1])?;
        let s = b.op(OpType::Squeeze, "sq", &[x, a], vec![])?;
        let a2 = ints(b, "a2", &[0, -1])?;
        Ok(vec![b.op(OpType::Unsqueeze, "unsq", &[s, a2], vec![])?])
    };
    for opset in [7, 11, 12] {
        assert_eq!(accepted("squeeze attr", opset, &[2, 1, 3], &attr), vec![vec![1, 2, 3, 1]]);
        refused("squeeze input", opset, &[2, 1, 3], &input, &["'sq'", "2 inputs", "expected 1"]);
    }
    for opset in [13, 21, 26] {
        assert_eq!(accepted("squeeze input", opset, &[2, 1, 3], &input), vec![vec![1, 2, 3, 1]]);
        refused("squeeze attr", opset, &[2, 1, 3], &attr, &["'sq'", "axes", "up to opset 12"]);
    }
}

#[test]
fn reduce_axes_attribute_until_12_for_reduce_sum_and_17_for_the_others() {
    for (op, last_attr) in [
        (OpType::ReduceSum, 12),
        (OpType::ReduceMean, 17),
        (OpType::ReduceMax, 17),
        (OpType::ReduceL2, 17),
    ] {
        let attr = move |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
            let a = vec![("axes", Attr::Ints(vec![-1])), ("keepdims", Attr::Int(0))];
            Ok(vec![b.op(op, "r", &[x], a)?])
        };
        let input = move |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
            let a = ints(b, "a", &[-1])?;
            Ok(vec![b.op(op, "r", &[x, a], vec![("keepdims", Attr::Int(0))])?])
        };
        assert_eq!(accepted(op.name(), last_attr, &[2, 3], &attr), vec![vec![2]]);
        assert_eq!(accepted(op.name(), last_attr + 1, &[2, 3], &input), vec![vec![2]]);
        refused(op.name(), last_attr, &[2, 3], &input, &["'r'", "2 inputs"]);
        refused(op.name(), last_attr + 1, &[2, 3], &attr, &["axes", "up to opset"]);
        // noop_with_empty_axes came with the axes input.
        let noop = move |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
            Ok(vec![b.op(op, "r", &[x], vec![("noop_with_empty_axes", Attr::Int(1))])?])
        };
        refused(op.name(), last_attr, &[2, 3], &noop, &["noop_with_empty_axes", "from opset"]);
        assert_eq!(accepted(op.name(), last_attr + 1, &[2, 3], &noop), vec![vec![2, 3]]);
    }
}

#[test]
fn split_sizes_attribute_before_13_input_from_13_num_outputs_from_18() {
    let attr = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let a = vec![("axis", Attr::Int(1)), ("split", Attr::Ints(vec![1, 3]))];
        b.op_full(OpType::Split, "split", &[Some(x)], a, 2)
    };
    let input = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let s = ints(b, "s", &[1, 3])?;
        b.op_full(OpType::Split, "split", &[Some(x), Some(s)], vec![("axis", Attr::Int(1))], 2)
    };
    let num = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let a = vec![("axis", Attr::Int(1)), ("num_outputs", Attr::Int(3))];
        b.op_full(OpType::Split, "split", &[Some(x)], a, 3)
    };
    assert_eq!(accepted("split attr", 11, &[2, 4], &attr), vec![vec![2, 1], vec![2, 3]]);
    assert_eq!(accepted("split input", 13, &[2, 4], &input), vec![vec![2, 1], vec![2, 3]]);
    refused("split attr", 13, &[2, 4], &attr, &["'split'", "split", "up to opset 12"]);
    refused("split input", 12, &[2, 4], &input, &["'split'", "2 inputs"]);
    // num_outputs: chunks of ceil(5/3) = 2, the last one smaller.
    assert_eq!(
        accepted("split num_outputs", 18, &[2, 5], &num),
        vec![vec![2, 2], vec![2, 2], vec![2, 1]]
    );
    refused("split num_outputs", 17, &[2, 5], &num, &["num_outputs", "from opset 18"]);
}

#[test]
fn slice_attributes_before_10_inputs_with_steps_from_10() {
    let attr = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let a = vec![
            ("starts", Attr::Ints(vec![1, -2])),
            ("ends", Attr::Ints(vec![3, 100])),
            ("axes", Attr::Ints(vec![0, 1])),
        ];
        Ok(vec![b.op(OpType::Slice, "slice", &[x], a)?])
    };
    let input = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let (s, e, a, st) = (
            ints(b, "s", &[3, -1])?,
            ints(b, "e", &[0, -100])?,
            ints(b, "a", &[0, 1])?,
            ints(b, "st", &[-1, -2])?,
        );
        Ok(vec![b.op(OpType::Slice, "slice", &[x, s, e, a, st], vec![])?])
    };
    assert_eq!(accepted("slice attr", 9, &[4, 5], &attr), vec![vec![2, 2]]);
    assert_eq!(accepted("slice input", 10, &[4, 5], &input), vec![vec![3, 3]]);
    refused("slice attr", 10, &[4, 5], &attr, &["'slice'", "up to opset 9"]);
    refused("slice input", 9, &[4, 5], &input, &["'slice'", "5 inputs"]);
}

#[test]
fn pad_attributes_before_11_inputs_from_11_axes_from_18_wrap_from_19() {
    let attr = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let a = vec![("pads", Attr::Ints(vec![0, 1, 2, 0])), ("value", Attr::Float(1.5))];
        Ok(vec![b.op(OpType::Pad, "pad", &[x], a)?])
    };
    let input = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let p = ints(b, "p", &[0, 1, 2, 0])?;
        Ok(vec![b.op(OpType::Pad, "pad", &[x, p], vec![])?])
    };
    let axes = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let p = ints(b, "p", &[1, 2])?;
        let v = b.param("v", Tensor::f32_scalar(0.0))?;
        let a = ints(b, "a", &[-1])?;
        Ok(vec![b.op(OpType::Pad, "pad", &[x, p, v, a], vec![])?])
    };
    let wrap = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let p = ints(b, "p", &[0, 1, 0, 1])?;
        Ok(vec![b.op(OpType::Pad, "pad", &[x, p], vec![("mode", Attr::String("wrap".into()))])?])
    };
    assert_eq!(accepted("pad attr", 10, &[2, 3], &attr), vec![vec![4, 4]]);
    assert_eq!(accepted("pad input", 11, &[2, 3], &input), vec![vec![4, 4]]);
    refused("pad attr", 11, &[2, 3], &attr, &["'pad'", "up to opset 10"]);
    refused("pad input", 10, &[2, 3], &input, &["'pad'", "2 inputs"]);
    assert_eq!(accepted("pad axes", 18, &[2, 3], &axes), vec![vec![2, 6]]);
    refused("pad axes", 17, &[2, 3], &axes, &["'pad'", "4 inputs"]);
    assert_eq!(accepted("pad wrap", 19, &[2, 3], &wrap), vec![vec![2, 5]]);
    refused("pad wrap", 18, &[2, 3], &wrap, &["mode", "'wrap'", "opset 19"]);
}

#[test]
fn clip_bounds_attributes_before_11_inputs_from_11() {
    let attr = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let a = vec![("min", Attr::Float(0.0)), ("max", Attr::Float(6.0))];
        Ok(vec![b.op(OpType::Clip, "clip", &[x], a)?])
    };
    let input = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let (lo, hi) =
            (b.param("lo", Tensor::f32_scalar(0.0))?, b.param("hi", Tensor::f32_scalar(6.0))?);
        Ok(vec![b.op(OpType::Clip, "clip", &[x, lo, hi], vec![])?])
    };
    assert_eq!(accepted("clip attr", 7, &[2, 3], &attr), vec![vec![2, 3]]);
    assert_eq!(accepted("clip input", 11, &[2, 3], &input), vec![vec![2, 3]]);
    refused("clip attr", 11, &[2, 3], &attr, &["'clip'", "attribute", "up to opset 10"]);
    refused("clip input", 10, &[2, 3], &input, &["'clip'", "3 inputs"]);
}

#[test]
fn dropout_ratio_attribute_before_12_and_bool_mask_from_10() {
    let attr = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        b.op_full(OpType::Dropout, "drop", &[Some(x)], vec![("ratio", Attr::Float(0.2))], 2)
    };
    let input = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let r = b.param("r", Tensor::f32_scalar(0.2))?;
        b.op_full(OpType::Dropout, "drop", &[Some(x), Some(r)], vec![("seed", Attr::Int(3))], 2)
    };
    for (opset, mask) in [(9, DType::F32), (10, DType::Bool)] {
        let (g, outs) = build(opset, &[2, 3], &attr).expect("dropout");
        assert_eq!(g.value(outs[1]).ty.dtype, mask, "mask type at opset {opset}");
    }
    accepted("dropout attr", 11, &[2, 3], &attr);
    accepted("dropout input", 12, &[2, 3], &input);
    refused("dropout attr", 12, &[2, 3], &attr, &["'drop'", "ratio", "up to opset 11"]);
    refused("dropout input", 11, &[2, 3], &input, &["'drop'", "seed", "from opset 12"]);
}

#[test]
fn softmax_axis_default_is_1_before_13_and_minus_1_from_13() {
    // Before 13 the input is coerced to 2-D at `axis`: rows of 3·4 = 12 sum to one.
    let sm = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        Ok(vec![b.op(OpType::Softmax, "sm", &[x], vec![])?])
    };
    for (opset, group) in [(11, 12), (13, 4)] {
        let (g, outs) = build(opset, &[2, 3, 4], &sm).expect("softmax");
        let mut s = common::runtime().session(&intrain::onnx::to_bytes(&g)).expect("session");
        let x = Init::new(2).normal_tensor(&[2, 3, 4], 1.0);
        let y = s.run(&[("x", &x)]).expect("run")[&g.value(outs[0]).name].to_f64();
        for chunk in y.chunks(group) {
            assert!((chunk.iter().sum::<f64>() - 1.0).abs() < 1e-5, "opset {opset}: {chunk:?}");
        }
    }
    assert_eq!(intrain::ir::infer::softmax_axis(12, None), 1);
    assert_eq!(intrain::ir::infer::softmax_axis(13, None), -1);
}

#[test]
fn batch_norm_spatial_before_9_training_mode_from_14() {
    let bn = |attrs: Vec<(&'static str, Attr)>, outputs: usize| {
        move |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
            let p: Vec<ValueId> = ["s", "bias", "m", "v"]
                .iter()
                .map(|n| b.param(n, Tensor::f32([3], vec![1.0, 0.5, 2.0])))
                .collect::<intrain::Result<_>>()?;
            let ins = [Some(x), Some(p[0]), Some(p[1]), Some(p[2]), Some(p[3])];
            Ok(vec![b.op_full(OpType::BatchNormalization, "bn", &ins, attrs.clone(), outputs)?[0]])
        }
    };
    accepted("bn spatial", 8, &[2, 3, 4], &bn(vec![("spatial", Attr::Int(1))], 1));
    accepted("bn", 9, &[2, 3, 4], &bn(vec![], 1));
    refused(
        "bn spatial=0",
        8,
        &[2, 3, 4],
        &bn(vec![("spatial", Attr::Int(0))], 1),
        &["spatial", "spatial=1"],
    );
    refused(
        "bn spatial",
        9,
        &[2, 3, 4],
        &bn(vec![("spatial", Attr::Int(1))], 1),
        &["spatial", "up to opset 8"],
    );
    accepted("bn training", 14, &[2, 3, 4], &bn(vec![("training_mode", Attr::Int(1))], 3));
    refused(
        "bn training",
        13,
        &[2, 3, 4],
        &bn(vec![("training_mode", Attr::Int(1))], 3),
        &["training_mode", "from opset 14"],
    );
    refused("bn outputs", 13, &[2, 3, 4], &bn(vec![], 3), &["training-mode", "opset 14"]);
}

#[test]
fn pool_attributes_by_opset() {
    let pool = |op: OpType, attrs: Vec<(&'static str, Attr)>, outputs: usize| {
        move |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
            let mut a = vec![("kernel_shape", Attr::Ints(vec![2, 2]))];
            a.extend(attrs.iter().cloned());
            Ok(vec![b.op_full(op, "pool", &[Some(x)], a, outputs)?[0]])
        }
    };
    let dil = || vec![("dilations", Attr::Ints(vec![2, 2]))];
    let ceil = || vec![("ceil_mode", Attr::Int(1))];
    accepted("maxpool dilations", 10, &[1, 2, 7, 7], &pool(OpType::MaxPool, dil(), 1));
    refused(
        "maxpool dilations",
        9,
        &[1, 2, 7, 7],
        &pool(OpType::MaxPool, dil(), 1),
        &["dilations", "from opset 10"],
    );
    accepted("avgpool dilations", 19, &[1, 2, 7, 7], &pool(OpType::AveragePool, dil(), 1));
    refused(
        "avgpool dilations",
        18,
        &[1, 2, 7, 7],
        &pool(OpType::AveragePool, dil(), 1),
        &["dilations", "from opset 19"],
    );
    accepted("avgpool ceil", 10, &[1, 2, 7, 7], &pool(OpType::AveragePool, ceil(), 1));
    refused(
        "avgpool ceil",
        9,
        &[1, 2, 7, 7],
        &pool(OpType::AveragePool, ceil(), 1),
        &["ceil_mode", "from opset 10"],
    );
    accepted("maxpool indices", 8, &[1, 2, 6, 6], &pool(OpType::MaxPool, vec![], 2));
    refused(
        "maxpool indices",
        7,
        &[1, 2, 6, 6],
        &pool(OpType::MaxPool, vec![], 2),
        &["2 outputs", "opset 7 allows 1"],
    );
    accepted(
        "maxpool column-major indices",
        22,
        &[1, 2, 6, 6],
        &pool(OpType::MaxPool, vec![("storage_order", Attr::Int(1))], 2),
    );
}

#[test]
fn ops_and_types_that_came_later() {
    let unary = |op: OpType| {
        move |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
            Ok(vec![b.op(op, "op", &[x], vec![])?])
        }
    };
    for (op, since) in
        [(OpType::Erf, 9), (OpType::Sign, 9), (OpType::HardSwish, 14), (OpType::Gelu, 20)]
    {
        accepted(op.name(), since, &[2, 3], &unary(op));
        refused(op.name(), since - 1, &[2, 3], &unary(op), &["needs opset", &since.to_string()]);
    }
    let like = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        let t = b.param("t", Tensor::f32_scalar(0.0))?;
        Ok(vec![b.op(OpType::CastLike, "cl", &[x, t], vec![])?])
    };
    accepted("castlike", 15, &[2], &like);
    refused("castlike", 14, &[2], &like, &["needs opset 15"]);
    // Equal on floats from opset 11.
    let eq = |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
        Ok(vec![b.op(OpType::Equal, "eq", &[x, x], vec![])?])
    };
    accepted("equal float", 11, &[2], &eq);
    refused("equal float", 10, &[2], &eq, &["'eq'", "opset 11"]);
    // Cast's saturate from 19, round_mode from 24 (type-level changes only up to 26).
    let cast = |attrs: Vec<(&'static str, Attr)>| {
        move |b: &mut GraphBuilder, x: ValueId| -> intrain::Result<Vec<ValueId>> {
            let mut a = vec![("to", Attr::Int(11))];
            a.extend(attrs.iter().cloned());
            Ok(vec![b.op(OpType::Cast, "cast", &[x], a)?])
        }
    };
    refused(
        "cast saturate",
        18,
        &[2],
        &cast(vec![("saturate", Attr::Int(1))]),
        &["saturate", "from opset 19"],
    );
    accepted("cast saturate", 19, &[2], &cast(vec![("saturate", Attr::Int(1))]));
}

#[test]
fn graphs_span_opsets_7_to_26() {
    assert!(Graph::new("g", 7).is_ok() && Graph::new("g", 26).is_ok());
    for opset in [6, 27, 28] {
        let msg = Graph::new("g", opset).expect_err("out of range").to_string();
        assert!(msg.contains(&format!("opset {opset}")) && msg.contains("7 to 26"), "{msg}");
    }
}

// ---- CLI on models written as the ONNX test suite writes them (opset 22 and later) ----

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("opsets");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

fn ints_attr(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: Some(name.into()),
        r#type: Some(pb::attribute_proto::AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

/// `test_maxpool_3d_dilations` as the suite writes it: one MaxPool node (opset 22, IR 10),
/// input x (1, 1, 4, 4, 4), output y, no names on the node.
fn suite_like_maxpool(opset: i64) -> Vec<u8> {
    pb::ModelProto {
        ir_version: Some(10),
        producer_name: Some("backend-test".into()),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(pb::GraphProto {
            name: Some("test_maxpool_3d_dilations".into()),
            node: vec![pb::NodeProto {
                op_type: Some("MaxPool".into()),
                input: vec!["x".into()],
                output: vec!["y".into()],
                attribute: vec![
                    ints_attr("kernel_shape", &[2, 2, 2]),
                    ints_attr("strides", &[1, 1, 1]),
                    ints_attr("dilations", &[2, 2, 2]),
                ],
                ..Default::default()
            }],
            input: vec![common::float_value_info("x", &[1, 1, 4, 4, 4])],
            output: vec![common::float_value_info("y", &[1, 1, 2, 2, 2])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn cli_inspects_and_differentiates_suite_models_at_opset_22_and_later() {
    for opset in [22, 24, 26] {
        let p = tmp(&format!("maxpool3d_opset{opset}.onnx"));
        std::fs::write(&p, suite_like_maxpool(opset)).expect("write");
        let ps = p.display().to_string();
        let (code, out, err) = intrain_text(&["inspect", &ps, "--json"]);
        assert_eq!(code, 0, "inspect at opset {opset}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(v["opset"], opset);
        assert_eq!(v["outputs"][0]["shape"], serde_json::json!([1, 1, 2, 2, 2]));
        let train = tmp(&format!("maxpool3d_opset{opset}_train.onnx"));
        let ts = train.display().to_string();
        let (code, out, err) =
            intrain_text(&["grad", &ps, "--loss", "sum", "--save-graph", &ts, "--json"]);
        assert_eq!(code, 0, "grad at opset {opset}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert!(v["loss"].as_f64().expect("loss").is_finite());
        // The training graph keeps the model's opset.
        let m = pb::ModelProto::decode(std::fs::read(&train).expect("train graph").as_slice())
            .expect("decode");
        assert_eq!(m.opset_import[0].version, Some(opset));
        let back = intrain::onnx::load_model(&train, &Default::default()).expect("reload");
        assert_eq!(back.graph.opset, opset);
    }
    let p = tmp("maxpool3d_opset27.onnx");
    std::fs::write(&p, suite_like_maxpool(27)).expect("write");
    let (code, _, err) = intrain_text(&["inspect", &p.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("opset 27") && err.contains("7 to 26"), "{err}");
}

fn node(
    op: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        name: Some(format!("{op}_{}", outputs[0])),
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: Some(name.into()),
        r#type: Some(pb::attribute_proto::AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn int64_init(name: &str, dims: &[i64], v: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(7),
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

/// `x (2, 5, 3)` split into sequences as PyTorch's dynamo exporter writes `chunk`: chunks of 2
/// along axis 1 (read at 0 and -1), and single slices of axis 2 without the axis (read at 1),
/// plus `extra` nodes.
fn sequence_model(extra: Vec<pb::NodeProto>, outputs: &[(&str, &[i64])]) -> Vec<u8> {
    let mut nodes = vec![
        node("SplitToSequence", &["x", "two"], &["seq"], vec![int_attr("axis", 1)]),
        node("SequenceAt", &["seq", "zero"], &["first"], vec![]),
        node("SequenceAt", &["seq", "minus_one"], &["last"], vec![]),
        node(
            "SplitToSequence",
            &["x"],
            &["columns"],
            vec![int_attr("axis", -1), int_attr("keepdims", 0)],
        ),
        node("SequenceAt", &["columns", "one"], &["column"], vec![]),
    ];
    nodes.extend(extra);
    pb::ModelProto {
        ir_version: Some(8),
        opset_import: vec![pb::OperatorSetIdProto { domain: None, version: Some(18) }],
        graph: Some(pb::GraphProto {
            name: Some("sequences".into()),
            node: nodes,
            initializer: vec![
                int64_init("two", &[], &[2]),
                int64_init("zero", &[], &[0]),
                int64_init("minus_one", &[], &[-1]),
                int64_init("one", &[], &[1]),
            ],
            input: vec![common::float_value_info("x", &[2, 5, 3])],
            output: outputs
                .iter()
                .map(|(name, shape)| common::float_value_info(name, shape))
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn split_to_sequence_read_at_constant_positions_imports_as_slices_equal_to_onnx_runtime() {
    let outputs: [(&str, &[i64]); 3] =
        [("first", &[2, 2, 3]), ("last", &[2, 1, 3]), ("column", &[2, 5])];
    let bytes = sequence_model(vec![], &outputs);
    let x = Init::new(3).normal_tensor(&[2, 5, 3], 1.0);
    let rt = common::runtime();
    let theirs =
        rt.session(&bytes).expect("ONNX Runtime runs sequences").run(&[("x", &x)]).expect("run");
    let m = intrain::onnx::model_from_bytes(&bytes, None, &Default::default()).expect("import");
    assert!(m.graph.nodes().iter().all(|n| matches!(n.op, OpType::Slice | OpType::Squeeze)));
    let ours = rt
        .session(&intrain::onnx::to_bytes(&m.graph))
        .expect("session")
        .run(&[("x", &x)])
        .expect("run");
    for (name, shape) in outputs {
        let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        assert_eq!(ours[name].shape, shape, "{name}");
        assert_eq!(ours[name].to_f32(), theirs[name].to_f32(), "{name}");
    }
}

#[test]
fn a_sequence_read_by_anything_but_sequence_at_is_refused_naming_both_nodes() {
    let extra = vec![node("SequenceLength", &["seq"], &["count"], vec![])];
    let bytes = sequence_model(extra, &[("first", &[2, 2, 3])]);
    let e = intrain::onnx::model_from_bytes(&bytes, None, &Default::default())
        .expect_err("SequenceLength")
        .to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("SequenceLength_count") && e.contains("SplitToSequence_seq"), "{e}");
}
