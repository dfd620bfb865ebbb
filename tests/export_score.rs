//! The same architecture scores the same, exported or in its space: `intrain export` records the
//! grammar's layers in the model's metadata and `intrain score model.onnx` measures them. Also:
//! a dynamic batch axis is costed per sample by `inspect` and sized from `--input` by `grad`.

mod common;

use std::path::{Path, PathBuf};

use common::intrain_text;

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("export_score");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

fn json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = intrain_text(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).expect("json")
}

const ARCH: &str =
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|";

#[test]
fn exported_architecture_scores_like_its_space() {
    let space = common::root().join("models/spaces/nb201.yaml");
    let space = space.to_str().expect("utf-8 path");
    let model = tmp("arch.onnx");
    let model = model.to_str().expect("utf-8 path");
    let (code, _, err) = intrain_text(&[
        "export",
        space,
        "--arch",
        ARCH,
        "--batch",
        "8",
        "--resolution",
        "32",
        "--seed",
        "5",
        "-o",
        model,
    ]);
    assert_eq!(code, 0, "export: {err}");
    let from_file = json(&["score", model, "--seed", "5", "--json"]);
    let from_space = json(&[
        "score",
        space,
        "--arch",
        ARCH,
        "--batch",
        "8",
        "--resolution",
        "32",
        "--seed",
        "5",
        "--json",
    ]);
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["name"].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(names(&from_file), names(&from_space), "the grammar's layers, from the metadata");
    assert_eq!(from_file["score"], from_space["score"], "the same score, bit for bit");
    assert_eq!(from_file["arch"].as_str(), Some(ARCH), "the architecture, from the metadata");

    // Without the metadata the activation rule picks other layers: the metadata is what
    // makes the two agree.
    let activations =
        json(&["score", model, "--seed", "5", "--layer-rule", "activations", "--json"]);
    assert_ne!(names(&activations), names(&from_space));
}

#[test]
fn dynamic_batch_is_per_sample_for_inspect_and_sized_by_input_for_grad() {
    let model = common::root().join("models/onnx/tinyresnet_ts_unfolded.onnx");
    let model = model.to_str().expect("utf-8 path");
    let report = json(&["inspect", model, "--json"]);
    assert_eq!(report["per_sample"], true, "{report}");
    assert_eq!(report["inputs"][0]["shape"][0], 1);
    let batch8 = json(&["inspect", model, "--batch", "8", "--json"]);
    assert_eq!(batch8["per_sample"], false);
    assert_eq!(batch8["macs"].as_u64(), report["macs"].as_u64().map(|m| 8 * m));

    let input = tmp("batch3.npy");
    let x = intrain::init::Init::new(1).normal_tensor(&[3, 3, 32, 32], 1.0);
    intrain::npy::write(&input, &x).expect("write npy");
    let input = input.to_str().expect("utf-8 path");
    let grad = json(&["grad", model, "--input", input, "--json"]);
    assert!(grad["loss"].as_f64().is_some_and(f64::is_finite), "{grad}");
    let (code, _, err) = intrain_text(&["grad", model, "--json"]);
    assert_eq!(code, 2, "without --input or --batch the batch is unknown");
    assert!(err.contains("--dim batch=N"), "{err}");
}
