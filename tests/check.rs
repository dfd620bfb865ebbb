//! `intrain score SPACE --arch/--sample` and the CI gate `intrain check`: exit codes, the
//! grammar's layers, resumable batch records, GitHub annotations and JUnit.

mod common;

use common::{intrain, stdout_json};

const NB201: &str = "models/spaces/nb201.yaml";
const DENSE: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";
const EMPTY: &str = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";
const FAST: [&str; 6] = ["--batch", "8", "--resolution", "16", "--threads", "1"];

#[test]
fn a_space_architecture_counts_stem_reduction_and_cell_outputs() {
    let mut args = vec!["score", NB201, "--arch", DENSE, "--json"];
    args.extend(FAST);
    let v = stdout_json(&intrain(&args));
    let layers = v["layers"].as_array().expect("layers");
    // stem + 2 reductions + 15 cells, as the paper counts them.
    assert_eq!(layers.len(), 18);
    assert_eq!(layers[0]["name"], "stem/bn");
    assert_eq!(layers[6]["name"], "reduction1/add");
    assert_eq!(v["arch"], DENSE);
    assert_eq!(v["costs"]["params"], 1_531_546, "NAS-Bench-201's count for the dense cell");
    assert_eq!(v["protocol"]["resolution"], 16);
    assert_eq!(v["seed"], 0);
}

#[test]
fn check_fails_with_exit_1_naming_the_dead_layers_and_writes_junit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junit = dir.path().join("intrain.xml");
    let junit_s = junit.to_str().expect("utf-8");
    let mut args = vec!["check", NB201, "--arch", EMPTY, "--junit", junit_s];
    args.extend(FAST);
    let out = intrain(&args);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL  max_dead_layers       17 dead layers"), "{text}");
    assert!(text.contains("stage1/cell0/node3_zero"), "{text}");
    // No signal reaches the head, so no gradient comes back either.
    assert!(text.contains("tensors with an all-zero gradient are left out"), "{text}");
    assert!(
        text.contains(
            "FAIL  min_gradient_ratio    the first weight 'stem/conv.weight' gets no gradient"
        ),
        "{text}"
    );
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.contains("failures=\"2\"") && xml.contains("<failure message=\"17 dead layers"));

    let mut args =
        vec!["check", NB201, "--arch", DENSE, "--min-intrain", "1", "--format", "github"];
    args.extend(FAST);
    let out = intrain(&args);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().all(|l| l.starts_with("::notice file=models/spaces/nb201.yaml")),
        "{text}"
    );

    let mut args =
        vec!["check", NB201, "--arch", DENSE, "--min-intrain", "1e9", "--format", "github"];
    args.extend(FAST);
    let out = intrain(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("::error file="));
}

#[test]
fn check_policy_errors_exit_2_with_the_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "min_pr_over_c: 3\n").expect("write");
    let out = intrain(&[
        "check",
        "models/onnx/tinyresnet_ts_unfolded.onnx",
        "--policy",
        policy.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.yaml: min_pr_over_c: 3 is outside [0, 1]"), "{err}");
    assert_eq!(err.lines().count(), 1);
    std::fs::write(&policy, "min_intrain: 1\nmax_dead: 0\n").expect("write");
    let out = intrain(&[
        "check",
        "models/onnx/tinyresnet_ts_unfolded.onnx",
        "--policy",
        policy.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `max_dead`"));
}

#[test]
fn check_passes_a_healthy_model_against_a_policy_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    // A policy file replaces the default policy: its three checks and the NaN/Inf check, always
    // made unless allowed.
    std::fs::write(&policy, "min_intrain: 5\nmin_pr_over_c: 0.05\nmin_health: 0.01\n")
        .expect("write");
    let out = intrain(&[
        "check",
        "models/onnx/tinyresnet_ts_unfolded.onnx",
        "--batch",
        "8",
        "--policy",
        policy.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    let v = stdout_json(&out);
    assert_eq!(v["passed"], true);
    let names: Vec<&str> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["check"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["min_intrain", "min_pr_over_c", "min_health", "allow_non_finite"]);
}

#[test]
fn batch_scoring_resumes_and_skips_what_is_already_scored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("scores.csv");
    let out_s = out.to_str().expect("utf-8");
    let mut args = vec!["score", NB201, "--sample", "3", "--out", out_s, "--json"];
    args.extend(FAST);
    let first = stdout_json(&intrain(&args));
    assert_eq!((first["scored"].as_u64(), first["skipped"].as_u64()), (Some(3), Some(0)));
    // A kill in the middle of writing a fourth line leaves a partial line behind.
    let mut text = std::fs::read_to_string(&out).expect("records");
    assert_eq!(text.lines().count(), 4, "header + 3 records");
    text.push_str("nas-bench-201@");
    std::fs::write(&out, &text).expect("write");
    let mut args = vec!["score", NB201, "--sample", "5", "--out", out_s, "--json"];
    args.extend(FAST);
    let second = stdout_json(&intrain(&args));
    assert_eq!((second["scored"].as_u64(), second["skipped"].as_u64()), (Some(2), Some(3)));
    let text = std::fs::read_to_string(&out).expect("records");
    assert_eq!(text.lines().count(), 6);
    assert!(text.starts_with("key,arch,intrain,gamma,o,"));
    // A different protocol (seed) is a different key: nothing is skipped.
    let mut args = vec!["score", NB201, "--sample", "2", "--seed", "1", "--out", out_s, "--json"];
    args.extend(FAST);
    let third = stdout_json(&intrain(&args));
    assert_eq!(third["skipped"].as_u64(), Some(0));
}

#[test]
fn space_scoring_errors_name_the_problem() {
    let out = intrain(&["score", NB201]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --arch"));
    let out = intrain(&["score", NB201, "--arch", "|conv~0|+|x~0|y~1|+|a~0|b~1|c~2|"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'conv' is not an op of this space"));
    let out = intrain(&["score", "models/onnx/tinyresnet_ts_unfolded.onnx", "--arch", DENSE]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn argument_errors_are_one_line_with_exit_2() {
    let out = intrain(&["sample", NB201, "--max-flops", "45x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--max-flops") && err.contains("45x"), "{err}");
}

/// A two-layer MLP whose hidden biases are -10: every ReLU unit is dead as the model is shipped;
/// a Kaiming re-initialisation (biases 0) would revive them.
fn dead_relu_model(dir: &std::path::Path) -> std::path::PathBuf {
    use intrain::ir::{GraphBuilder, Tensor, TensorType};
    let mut b = GraphBuilder::new("dead_relu");
    let x = b.input("x", TensorType::f32([8, 6])).expect("input");
    let w1 = b.param("fc1.weight", Tensor::f32([16, 6], vec![0.1; 96])).expect("w1");
    let b1 = b.param("fc1.bias", Tensor::f32([16], vec![-10.0; 16])).expect("b1");
    let h = b.gemm("fc1", x, w1, Some(b1), true).expect("fc1");
    let r = b.relu("relu", h).expect("relu");
    let w2 = b.param("fc2.weight", Tensor::f32([4, 16], vec![0.1; 64])).expect("w2");
    let y = b.gemm("fc2", r, w2, None, true).expect("fc2");
    b.output(y);
    let path = dir.join("dead_relu.onnx");
    intrain::onnx::save(&b.finish(), &path).expect("save");
    path
}

#[test]
fn check_judges_the_model_as_shipped_unless_told_to_reinitialise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dead_relu_model(dir.path());
    let m = model.to_str().expect("utf-8");
    let out = intrain(&["check", m, "--batch", "8", "--threads", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL  max_dead_layers       1 dead layers"), "{text}");
    assert!(text.contains("relu"), "{text}");
    // `score` keeps the paper's protocol (Kaiming, biases 0): the layer is alive.
    let v = stdout_json(&intrain(&["score", m, "--batch", "8", "--threads", "1", "--json"]));
    assert_eq!(v["protocol"]["init"], "kaiming");
    assert_eq!(v["score"]["dead_layers"], 0, "{v}");
    let out = intrain(&["check", m, "--batch", "8", "--threads", "1", "--init", "kaiming"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PASS  max_dead_layers       0 dead layers"), "{text}");
}

/// An MLP of `depth` hidden layers of width 32 with `activation` after each, weights
/// N(0, `gain`² / fan_in), biases 0, and a 10-way head (all zero when `zero_head`).
fn mlp_model(
    dir: &std::path::Path,
    name: &str,
    depth: usize,
    activation: &str,
    gain: f64,
    zero_head: bool,
) -> String {
    use intrain::ir::{GraphBuilder, OpType, TensorType};
    let mut init = intrain::init::Init::new(3);
    let mut b = GraphBuilder::new(name);
    let mut h = b.input("x", TensorType::f32([64, 32])).expect("input");
    for i in 0..=depth {
        let out = if i == depth { 10 } else { 32 };
        let scale = if i == depth && zero_head { 0.0 } else { gain / 32f64.sqrt() };
        let w = init.normal_tensor(&[out, 32], scale);
        let w = b.param(&format!("fc{i}.weight"), w).expect("weight");
        h = b.gemm(&format!("fc{i}"), h, w, None, true).expect("gemm");
        if i < depth {
            h = match activation {
                "relu" => b.relu(&format!("act{i}"), h),
                _ => b.op(OpType::Sigmoid, &format!("act{i}"), &[h], vec![]),
            }
            .expect("activation");
        }
    }
    b.output(h);
    let path = dir.join(format!("{name}.onnx"));
    intrain::onnx::save(&b.finish(), &path).expect("save");
    path.to_str().expect("utf-8").to_string()
}

#[test]
fn the_default_policy_passes_a_healthy_mlp_and_names_vanishing_and_exploding_signals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let healthy = mlp_model(dir.path(), "healthy", 3, "relu", 2f64.sqrt(), false);
    let out = intrain(&["check", &healthy, "--threads", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");

    // A zero-initialised head (as torchvision's ViT has) holds the gradient back for one step.
    let zero_head = mlp_model(dir.path(), "zero_head", 3, "relu", 2f64.sqrt(), true);
    let out = intrain(&["check", &zero_head, "--threads", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("zero-initialised 'fc3.weight' get one and pass it back"), "{text}");

    // Twelve sigmoids at PyTorch's default scale: each passes back under a seventh of the
    // gradient it receives.
    let sigmoids = mlp_model(dir.path(), "sigmoids", 12, "sigmoid", (1.0f64 / 3.0).sqrt(), false);
    let out = intrain(&["check", &sigmoids, "--threads", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  min_gradient_ratio    the first weight 'fc0.weight'"), "{text}");
    // Deep enough, the sigmoids' outputs are the same for every sample in f32.
    assert!(text.contains("the same for every sample (no signal reaches it)"), "{text}");

    // Kaiming weights times ten: the scale grows tenfold per layer, and the logits with it.
    let exploding = mlp_model(dir.path(), "exploding", 6, "relu", 10.0 * 2f64.sqrt(), false);
    let out = intrain(&["check", &exploding, "--threads", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let failing: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(failing.len(), 1, "{text}");
    assert!(failing[0].contains("max_loss_over_chance  initial loss"), "{text}");
    assert!(failing[0].contains("times that of an uninformed prediction (2.303)"), "{text}");
    assert!(failing[0].contains("the largest layer RMS is 6.28e5 times the input's"), "{text}");
}
