//! Bad input gets exit code 2 and one line on stderr naming the file, node, op, attribute or
//! input; never a panic.

mod common;

use std::path::{Path, PathBuf};

use common::intrain_text;
use intrain::onnx::pb;
use prost::Message;

/// Asserts exit code 2 and a single stderr line containing every fragment.
fn expect_error(args: &[&str], fragments: &[&str]) {
    let (code, _, err) = intrain_text(args);
    assert_eq!(code, 2, "exit code for {args:?}; stderr: {err}");
    assert!(!err.contains("panicked"), "panic for {args:?}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected for {args:?}, got: {err}");
    for f in fragments {
        assert!(lines[0].contains(f), "{args:?}: '{}' lacks '{f}'", lines[0]);
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_errors");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

fn node(
    name: &str,
    op: &str,
    domain: &str,
    inputs: &[&str],
    output: &str,
    attrs: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        name: Some(name.into()),
        op_type: Some(op.into()),
        domain: Some(domain.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

fn model(
    opset: i64,
    inputs: Vec<pb::ValueInfoProto>,
    nodes: Vec<pb::NodeProto>,
    output: &str,
) -> Vec<u8> {
    pb::ModelProto {
        ir_version: Some(8),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(pb::GraphProto {
            name: Some("g".into()),
            node: nodes,
            input: inputs,
            output: vec![pb::ValueInfoProto { name: Some(output.into()), ..Default::default() }],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn write(name: &str, bytes: &[u8]) -> String {
    let p = tmp(name);
    std::fs::write(&p, bytes).expect("write");
    p.display().to_string()
}

fn relu_model(opset: i64) -> Vec<u8> {
    model(
        opset,
        vec![common::float_value_info("x", &[2, 3])],
        vec![node("act", "Relu", "", &["x"], "y", vec![])],
        "y",
    )
}

#[test]
fn missing_file() {
    expect_error(
        &["inspect", "/nonexistent/model.onnx"],
        &["/nonexistent/model.onnx", "No such file"],
    );
}

#[test]
fn empty_file() {
    let p = write("empty.onnx", b"");
    expect_error(&["inspect", &p], &[&p, "empty (0 bytes)"]);
}

#[test]
fn directory() {
    let d = tmp("a_directory.onnx");
    std::fs::create_dir_all(&d).expect("dir");
    let p = d.display().to_string();
    expect_error(&["inspect", &p], &[&p, "is a directory"]);
}

#[test]
fn not_protobuf() {
    let p = write("text.onnx", b"this is not a model, just some text\n");
    expect_error(&["inspect", &p], &[&p, "not a valid ONNX model"]);
}

#[test]
fn truncated_file() {
    let bytes = std::fs::read(common::root().join("models/onnx/tinyresnet_ts_unfolded.onnx"))
        .expect("fixture");
    let p = write("truncated.onnx", &bytes[..bytes.len() / 2]);
    expect_error(&["inspect", &p, "--batch", "1"], &[&p, "not a valid ONNX model"]);
}

#[test]
fn unknown_op_names_node_and_op() {
    let bytes = model(
        17,
        vec![common::float_value_info("x", &[2, 3])],
        vec![node("mystery", "FrobnicateV2", "", &["x"], "y", vec![])],
        "y",
    );
    let p = write("unknown_op.onnx", &bytes);
    expect_error(&["inspect", &p], &[&p, "node 'mystery'", "unsupported op 'FrobnicateV2'"]);
}

#[test]
fn foreign_domain_op_names_domain() {
    let bytes = model(
        17,
        vec![common::float_value_info("x", &[2, 3])],
        vec![node("fused", "FusedGemm", "com.microsoft", &["x"], "y", vec![])],
        "y",
    );
    let p = write("ms_op.onnx", &bytes);
    expect_error(&["inspect", &p], &["node 'fused'", "FusedGemm", "com.microsoft"]);
}

#[test]
fn unsupported_attribute_names_node_op_and_attribute() {
    let attr = pb::AttributeProto {
        name: Some("flavour".into()),
        r#type: Some(2),
        i: Some(1),
        ..Default::default()
    };
    let bytes = model(
        17,
        vec![common::float_value_info("x", &[2, 3])],
        vec![node("act", "Relu", "", &["x"], "y", vec![attr])],
        "y",
    );
    let p = write("bad_attr.onnx", &bytes);
    expect_error(&["inspect", &p], &[&p, "node 'act' (Relu)", "attribute 'flavour'"]);
}

#[test]
fn unsupported_attribute_value_names_the_attribute() {
    let attr = pb::AttributeProto {
        name: Some("storage_order".into()),
        r#type: Some(2),
        i: Some(2),
        ..Default::default()
    };
    let ks = pb::AttributeProto {
        name: Some("kernel_shape".into()),
        r#type: Some(7),
        ints: vec![2, 2],
        ..Default::default()
    };
    let bytes = model(
        17,
        vec![common::float_value_info("x", &[1, 1, 4, 4])],
        vec![node("pool", "MaxPool", "", &["x"], "y", vec![attr, ks])],
        "y",
    );
    let p = write("bad_attr_value.onnx", &bytes);
    expect_error(&["inspect", &p], &["node 'pool' (MaxPool)", "attribute 'storage_order'"]);
}

#[test]
fn dynamic_dimension_without_value_names_input_and_dimension() {
    let p = common::root().join("models/onnx/tinyresnet_ts_unfolded.onnx").display().to_string();
    // `grad` without --input, --batch or --dim cannot know the batch (`inspect` assumes 1).
    expect_error(
        &["grad", &p],
        &[&p, "input 'input'", "dynamic dimension 'batch'", "--dim batch=N"],
    );
    let (code, out, _) = intrain_text(&["inspect", &p, "--dim", "batch=4"]);
    assert_eq!(code, 0);
    assert!(out.contains("[4, 3, 32, 32]"), "{out}");
}

#[test]
fn opset_out_of_range() {
    for opset in [6, 27] {
        let p = write(&format!("opset{opset}.onnx"), &relu_model(opset));
        expect_error(&["inspect", &p], &[&p, &format!("opset {opset}"), "supported: 7 to 26"]);
    }
}

#[test]
fn shape_mismatch_names_node() {
    let bytes = model(
        17,
        vec![common::float_value_info("a", &[2, 3]), common::float_value_info("b", &[4, 3])],
        vec![node("sum", "Add", "", &["a", "b"], "y", vec![])],
        "y",
    );
    let p = write("mismatch.onnx", &bytes);
    expect_error(&["inspect", &p], &["node 'sum' (Add)", "do not broadcast"]);
}

#[test]
fn dangling_input_names_node_and_tensor() {
    let bytes = model(
        17,
        vec![common::float_value_info("x", &[2, 3])],
        vec![node("act", "Relu", "", &["nowhere"], "y", vec![])],
        "y",
    );
    let p = write("dangling.onnx", &bytes);
    expect_error(&["inspect", &p], &["node 'act'", "'nowhere'", "not produced"]);
}

#[test]
fn bad_flag_values() {
    let p = common::root().join("models/onnx/tinyresnet_ts_unfolded.onnx").display().to_string();
    expect_error(&["inspect", &p, "--input-shape", "input=1,x"], &["--input-shape", "'x'"]);
    expect_error(&["inspect", &p, "--dim", "batch"], &["--dim", "NAME=VALUE"]);
    expect_error(&["inspect", &p, "--input-shape", "nosuch=1,3,32,32"], &["'nosuch'"]);
}

#[test]
fn valid_model_reports_json() {
    let p = write("relu.onnx", &relu_model(17));
    let (code, out, err) = intrain_text(&["inspect", &p, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["opset"], 17);
    assert_eq!(v["inputs"][0]["shape"], serde_json::json!([2, 3]));
    assert_eq!(v["ops"][0]["op"], "Relu");
}

#[test]
fn help_documents_exit_codes() {
    let (code, out, _) = intrain_text(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Exit codes"), "{out}");
}

#[test]
fn missing_or_wrong_onnx_runtime_library_is_a_clear_error() {
    expect_error(
        &["runtime", "--ort-lib", "/nonexistent/libonnxruntime.so"],
        &["--ort-lib", "/nonexistent/libonnxruntime.so", "no such file"],
    );
    let fake = write("libonnxruntime_fake.so", b"not a shared library");
    let out =
        common::intrain_command(&["runtime"]).env("ORT_DYLIB_PATH", &fake).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&fake) && err.contains("Remedy"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
#[cfg_attr(nvidia_driver, ignore = "checks the no-driver error; this machine has an NVIDIA driver")]
fn cuda_without_a_gpu_fails_loudly() {
    expect_error(&["runtime", "--device", "cuda"], &["CUDA", "no NVIDIA driver"]);
    let (code, _, err) = intrain_text(&["runtime", "--device", "auto"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("device auto") && err.contains("CPU"),
        "auto says which provider it used: {err}"
    );
}

/// The build script decides whether the test above is ignored; it must see the driver exactly as
/// intrain does (same paths, and a build on this machine rather than a copied target folder).
#[test]
fn the_build_script_sees_the_nvidia_driver_as_intrain_does() {
    assert_eq!(
        cfg!(nvidia_driver),
        intrain::runtime::library::nvidia_driver_present(),
        "cfg(nvidia_driver) from build.rs disagrees with runtime::library::nvidia_driver_present; \
         align build.rs with it, or rebuild on this machine (`touch build.rs`)"
    );
}

#[test]
fn unknown_proxies_and_modes_are_refused_with_the_known_names() {
    let names = intrain::scoring::Proxy::names();
    let all = format!("[possible values: {names}]");
    expect_error(&["search", "models/spaces/nb201.yaml", "--proxy", "nope"], &["'nope'", &all]);
    let known = format!("unknown proxy 'zz' (known: {names})");
    expect_error(&["eval", "--proxies", "intrain,zz"], &[&known]);
    expect_error(&["eval", "--proxies", "intrain", "--ablations"], &["--ablations", "intrain-agg"]);
    let known = format!("unknown proxy 'nope' (known: {names})");
    expect_error(&["search-table", "--proxies", "snip,nope"], &[&known]);
    expect_error(
        &["score", "models/onnx/tinyresnet_ts_unfolded.onnx", "--bn", "foo"],
        &["'foo'", "[possible values: train, eval]"],
    );
    expect_error(&["sample", "models/spaces/nb201.yaml", "--max-params", "1Q"], &["'1Q'", "450M"]);
}
