//! The baseline proxies reproduce their reference code: on the tiny CNN of
//! `models/scripts/proxy_goldens.py` (stem Conv-BN-ReLU, an NAS-Bench-201-style block summing a
//! ReLU-Conv-BN edge, an average-pool edge and the skip, BN-ReLU, global pooling, Linear), with
//! its weights as stored, the golden's batch of 8 and labels, and BatchNorm batch statistics,
//! every proxy equals the float64 value of its NASLib port in PyTorch to 1e-4 relative.

mod common;

use std::path::PathBuf;

use intrain::ir::Tensor;
use intrain::onnx::{ImportOptions, load_model};
use intrain::scoring::passes::{
    PassOutput, az_blocks, block_outputs, evaluate, meco, ntk_condition, vkdnw, weight_grads_on,
    zen_score,
};
use intrain::scoring::{Conventions, InitMode, Protocol, Proxy, Target};
use serde_json::Value;

/// Tolerance relative to the PyTorch float64 value (intrain computes in float32).
const REL_TOL: f64 = 1e-4;

/// GraSP's tolerance: its Hessian-vector product is a finite difference of f32 gradients (see
/// `src/scoring/passes/grasp.rs`), measured 1e-3 off PyTorch's double backward on this network,
/// whose GraSP value (3e-3) is small enough for f32 rounding to show.
const GRASP_REL_TOL: f64 = 2e-3;

fn dir() -> PathBuf {
    common::root().join("tests/goldens/proxies")
}

fn golden(name: &str) -> f64 {
    let text = std::fs::read_to_string(dir().join("values.json")).expect("values.json");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["values"][name].as_f64().unwrap_or_else(|| panic!("no golden '{name}'"))
}

/// The golden's protocol: weights as stored, batch 8 of the golden's images, batch statistics.
fn protocol() -> Protocol {
    Protocol {
        batch: 8,
        init: InitMode::AsIs,
        conventions: Conventions::Protocol,
        images: Some(dir().join("batch.npz")),
        ..Protocol::default()
    }
}

#[test]
fn every_proxy_matches_its_pytorch_reference() {
    let rt = common::runtime();
    let p = protocol();
    let model = dir().join("tiny.onnx");
    let import = ImportOptions::default();
    let proxies: Vec<Proxy> = Proxy::names()
        .split(", ")
        .filter_map(Proxy::named)
        .filter(|x| x.pass().is_some() && x.name() != "zen" && x.name() != "zico")
        .filter(|x| !x.name().starts_with("az-") && !x.name().starts_with("vkdnw"))
        .filter(|x| !["meco", "ntk"].contains(&x.name()))
        .collect();
    assert_eq!(proxies.len(), 11, "{proxies:?}");
    let images = intrain::images::Images::open(p.images.as_deref().expect("images")).expect("npz");
    let computed =
        evaluate(&rt, Target::Model { path: &model, import: &import }, &p, &proxies, Some(&images))
            .expect("proxies");
    assert!(computed.unavailable.is_empty(), "{:?}", computed.unavailable);
    // Gradient, GraSP, input-Jacobian and SynFlow passes: one each.
    assert_eq!(computed.passes.len(), 4, "{:?}", computed.passes);
    for (ours, reference) in [
        ("grad-norm", "grad_norm"),
        ("snip", "snip"),
        ("plain", "plain"),
        ("l2-norm", "l2_norm"),
        ("fisher", "fisher"),
        ("naswot", "nwot"),
        ("jacov", "jacov"),
        ("epe-nas", "epe_nas"),
        ("synflow", "synflow_log"),
        ("grasp", "grasp"),
        ("linear-regions", "linear_regions"),
    ] {
        let v = computed.values[ours];
        let g = golden(reference);
        let rel = (v - g).abs() / g.abs();
        let tol = if ours == "grasp" { GRASP_REL_TOL } else { REL_TOL };
        assert!(rel < tol, "{ours}: ours {v}, PyTorch {g} (relative {rel:.2e})");
    }
}

#[test]
fn zen_score_matches_its_pytorch_reference() {
    let m = load_model(&dir().join("tiny.onnx"), &ImportOptions::default()).expect("import");
    let x = intrain::npy::read(&dir().join("x.npy")).expect("x.npy");
    let eps = intrain::npy::read(&dir().join("eps.npy")).expect("eps.npy");
    let zen = zen_score(&common::runtime(), &m.graph, intrain::scoring::BnMode::Train, &x, &eps)
        .expect("zen");
    let g = golden("zen");
    // The score is a log: compared absolutely (measured 1.2e-7).
    assert!((zen - g).abs() < 1e-5, "zen: ours {zen}, PyTorch {g}");
}

#[test]
fn zico_matches_its_pytorch_reference_on_two_batches() {
    let m = load_model(&dir().join("tiny.onnx"), &ImportOptions::default()).expect("import");
    let read = |f: &str| intrain::npy::read(&dir().join(f)).expect("npy");
    let batches = [
        (read("x.npy"), read("labels.npy").to_i64()),
        (read("x2.npy"), read("labels2.npy").to_i64()),
    ];
    let (_, mut grads) =
        weight_grads_on(&common::runtime(), &m.graph, intrain::scoring::BnMode::Train, &batches)
            .expect("gradients");
    assert_eq!(grads.len(), 2);
    let further = grads.split_off(1);
    let out =
        PassOutput { weights: grads.remove(0), further_batches: further, ..Default::default() };
    let zico = Proxy::named("zico").and_then(|p| p.reduce(&out)).expect("zico");
    let g = golden("zico");
    // A sum of logs: compared absolutely.
    assert!((zico - g).abs() < 1e-4, "zico: ours {zico}, PyTorch {g}");
}

#[test]
fn az_nas_components_match_their_pytorch_reference() {
    let m = load_model(&dir().join("tiny.onnx"), &ImportOptions::default()).expect("import");
    let g = &m.graph;
    let features = block_outputs(g);
    // stem conv, stem BN, stem ReLU, the block's sum, final BN, final ReLU, global pooling.
    assert_eq!(features.len(), 7, "{features:?}");
    let flat = intrain::npy::read(&dir().join("az_signs.npy")).expect("signs").to_f64();
    let mut at = 0;
    let signs: Vec<Tensor> = features[1..]
        .iter()
        .map(|f| {
            let shape = g.value(g.find(f).expect("feature")).ty.shape.clone();
            let n: usize = shape.iter().product();
            at += n;
            Tensor::f32(shape, flat[at - n..at].iter().map(|&v| v as f32).collect())
        })
        .collect();
    assert_eq!(at, flat.len());
    let x = intrain::npy::read(&dir().join("x.npy")).expect("x.npy");
    let blocks =
        az_blocks(&common::runtime(), g, intrain::scoring::BnMode::Train, &x, &signs).expect("az");
    let out = PassOutput { az: Some(blocks), ..Default::default() };
    for (ours, reference) in [
        ("az-expressivity", "az_expressivity"),
        ("az-progressivity", "az_progressivity"),
        ("az-trainability", "az_trainability"),
    ] {
        let v = Proxy::named(ours).and_then(|p| p.reduce(&out)).expect(ours);
        let g = golden(reference);
        assert!((v - g).abs() < 1e-4 * g.abs().max(1.0), "{ours}: ours {v}, PyTorch {g}");
    }
}

#[test]
fn vkdnw_matches_its_pytorch_reference() {
    let m = load_model(&dir().join("tiny.onnx"), &ImportOptions::default()).expect("import");
    let x = intrain::npy::read(&dir().join("x.npy")).expect("x.npy");
    let v = vkdnw(&common::runtime(), &m.graph, &x).expect("vkdnw");
    let text = std::fs::read_to_string(dir().join("values.json")).expect("values.json");
    let j: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(Some(v.tensors as u64), j["proxies"]["vkdnw"]["tensors"].as_u64(), "tensors");
    let g = golden("vkdnw");
    assert!((v.entropy - g).abs() < 1e-4, "vkdnw: ours {}, PyTorch {g}", v.entropy);
}

#[test]
fn meco_matches_its_pytorch_reference() {
    // The golden's batch of 8: the correlations over all its positions (the authors' batch is
    // one image, whose positions are all there is).
    let m = load_model(&dir().join("tiny.onnx"), &ImportOptions::default()).expect("import");
    let x = intrain::npy::read(&dir().join("x.npy")).expect("x.npy");
    let v = meco(&common::runtime(), &m.graph, intrain::scoring::BnMode::Train, &x).expect("meco");
    let g = golden("meco");
    assert!((v - g).abs() < 1e-4, "meco: ours {v}, PyTorch {g}");
}

#[test]
fn ntk_condition_matches_its_pytorch_reference() {
    let m = load_model(&dir().join("tiny.onnx"), &ImportOptions::default()).expect("import");
    let x = intrain::npy::read(&dir().join("x.npy")).expect("x.npy");
    let k = ntk_condition(&common::runtime(), &m.graph, intrain::scoring::BnMode::Train, &x)
        .expect("ntk");
    let g = golden("ntk_condition");
    assert!((k - g).abs() / g < REL_TOL, "NTK condition: ours {k}, PyTorch {g}");
}

#[test]
fn score_computes_proxies_in_shared_passes_and_says_which_cannot_be_computed() {
    let d = dir();
    let (tiny, batch) = (d.join("tiny.onnx"), d.join("batch.npz"));
    let out = common::intrain(&[
        "score".as_ref(),
        tiny.as_os_str(),
        "--init".as_ref(),
        "as-is".as_ref(),
        "--conventions".as_ref(),
        "protocol".as_ref(),
        "--images".as_ref(),
        batch.as_os_str(),
        "--proxies".as_ref(),
        "snip,naswot,grad-norm".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let j = common::stdout_json(&out);
    // One gradient pass serves all three.
    assert_eq!(j["passes"].as_array().map(Vec::len), Some(1), "{}", j["passes"]);
    assert_eq!(j["passes"][0]["proxies"].as_array().map(Vec::len), Some(3));
    let snip = j["proxies"]["snip"].as_f64().expect("snip");
    assert!((snip - golden("snip")).abs() / golden("snip") < REL_TOL, "snip {snip}");
    assert_eq!(j["protocol"]["conventions"], "protocol");

    // A transformer has no ReLU to code and no pooled feature map: said per proxy, not fatal.
    let vit = common::root().join("models/onnx/vit_tiny.onnx");
    let out = common::intrain(&[
        "score".as_ref(),
        vit.as_os_str(),
        "--batch".as_ref(),
        "4".as_ref(),
        "--conventions".as_ref(),
        "protocol".as_ref(),
        "--proxies".as_ref(),
        "naswot,zen,snip".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let j = common::stdout_json(&out);
    assert!(j["unavailable"]["naswot"].as_str().is_some_and(|r| r.contains("no ReLU")), "{j}");
    assert!(j["unavailable"]["zen"].as_str().is_some_and(|r| r.contains("global average")));
    assert!(j["proxies"]["snip"].as_f64().is_some_and(f64::is_finite));
}

#[test]
fn reference_conventions_without_images_are_a_one_line_error() {
    let tiny = dir().join("tiny.onnx");
    let (code, _, err) = common::intrain_text(&[
        "score".as_ref(),
        tiny.as_os_str(),
        "--proxies".as_ref(),
        "snip".as_ref(),
    ]);
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--images") && err.contains("--conventions protocol"), "{err}");
    let (code, _, err) = common::intrain_text(&["score", "x.onnx", "--proxies", "snip,nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown proxy 'nope'"), "{err}");
}

#[test]
fn proxies_with_equal_pass_settings_share_one_pass() {
    let names = ["grad-norm", "snip", "fisher", "naswot", "jacov", "epe-nas", "synflow", "zen"];
    let proxies: Vec<Proxy> = names.iter().filter_map(|n| Proxy::named(n)).collect();
    let reference = intrain::scoring::passes::plan(&proxies, &Protocol::default());
    // gradient (grad-norm, snip, fisher, naswot), input Jacobian (jacov, epe-nas), SynFlow, Zen.
    assert_eq!(reference.len(), 4);
    assert_eq!(reference[0].2.len(), 4);
    let p = Protocol { conventions: Conventions::Protocol, ..Protocol::default() };
    let common_protocol = intrain::scoring::passes::plan(&proxies, &p);
    assert_eq!(common_protocol.len(), 4);
    assert!(common_protocol.iter().all(|(s, _, _)| s.kind
        == intrain::scoring::passes::PassKind::SynFlow
        || s.batch == p.batch));
}

#[test]
fn check_bounds_any_proxy_and_fails_one_the_model_cannot_have() {
    let d = dir();
    let (tiny, batch) = (d.join("tiny.onnx"), d.join("batch.npz"));
    let run = |model: &std::path::Path, extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = vec!["check".into(), model.into()];
        args.extend(
            ["--conventions", "protocol", "--format", "json", "--batch", "8"].map(Into::into),
        );
        args.extend(extra.iter().map(Into::into));
        common::intrain(&args)
    };
    let images = batch.to_str().expect("path");
    // SynFlow of the golden model is 4.869 (its weights as stored, as `check` scores them).
    let out = run(
        &tiny,
        &["--images", images, "--proxy-min", "synflow=4.5", "--proxy-max", "synflow=4.8"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    let checks = j["checks"].as_array().expect("checks");
    let find = |name: &str| checks.iter().find(|c| c["check"] == name).expect(name).clone();
    assert_eq!(find("proxies.synflow.min")["passed"], true);
    assert_eq!(find("proxies.synflow.max")["passed"], false);
    assert!(
        (find("proxies.synflow.max")["value"].as_f64().expect("value") - golden("synflow_log"))
            .abs()
            < 1e-4
    );

    let vit = common::root().join("models/onnx/vit_tiny.onnx");
    let out = run(&vit, &["--proxy-min", "naswot=1"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    let c = j["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["check"] == "proxies.naswot.min")
        .cloned();
    assert!(
        c.is_some_and(|c| c["passed"] == false
            && c["message"].as_str().is_some_and(|m| m.contains("no ReLU")))
    );

    let out = run(&tiny, &["--proxy-min", "nope=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("proxies.nope: unknown proxy"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn search_by_a_rank_aggregate_ranks_over_its_history() {
    let space = common::root().join("models/spaces/nb201.yaml");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::intrain(&[
        "search".as_ref(),
        space.as_os_str(),
        "--proxy".as_ref(),
        "az-nas".as_ref(),
        "-T".as_ref(),
        "3".as_ref(),
        "--batch".as_ref(),
        "4".as_ref(),
        "--resolution".as_ref(),
        "8".as_ref(),
        "--json".as_ref(),
        "-o".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v = common::stdout_json(&out);
    // Over a pool of one, the first candidate's log-ranks are all ln(1/1) = 0.
    assert_eq!(v["scores"][0].as_f64(), Some(0.0), "{v}");
    assert!(v["best"]["score"].as_f64().is_some_and(f64::is_finite), "{v}");
}

#[test]
fn vkdnw_and_az_nas_read_the_protocols_images() {
    let d = dir();
    let (tiny, batch) = (d.join("tiny.onnx"), d.join("batch.npz"));
    let out = common::intrain(&[
        "score".as_ref(),
        tiny.as_os_str(),
        "--init".as_ref(),
        "as-is".as_ref(),
        "--batch".as_ref(),
        "8".as_ref(),
        "--conventions".as_ref(),
        "protocol".as_ref(),
        "--images".as_ref(),
        batch.as_os_str(),
        "--proxies".as_ref(),
        "vkdnw,az-expressivity".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let j = common::stdout_json(&out);
    // The golden's batch is the images file's (in another order, which neither depends on).
    for (ours, reference) in [("vkdnw", "vkdnw"), ("az-expressivity", "az_expressivity")] {
        let v = j["proxies"][ours].as_f64().expect(ours);
        assert!((v - golden(reference)).abs() < 1e-4, "{ours}: {v} vs {}", golden(reference));
    }
}

#[test]
fn check_refuses_a_bound_on_a_rank_aggregate() {
    let tiny = dir().join("tiny.onnx");
    let out = common::intrain(&[
        "check".as_ref(),
        tiny.as_os_str(),
        "--proxy-min".as_ref(),
        "vkdnw-agg=0".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(err.contains("proxies.vkdnw-agg: a rank aggregate") && err.contains("jacov"), "{err}");
}

/// The NTK and VKDNW run their forward once and the backward per sample or class; under a memory
/// budget too small to carry every forward result they recompute the unfolded convolution inputs
/// per run, and under one too small for that they run the whole graph per run: the same values
/// every way. (On this network, when written: 200 kB holds the recomputing split but not the
/// carrying one, 180 kB only the whole graph, and InTrain's own pass needs 176 kB.)
#[test]
fn staged_passes_give_the_same_values_under_any_memory_budget() {
    let d = dir();
    let (tiny, batch) = (d.join("tiny.onnx"), d.join("batch.npz"));
    let values = |budget: Option<&str>| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "score".into(),
            tiny.clone().into(),
            "--init".into(),
            "as-is".into(),
            "--conventions".into(),
            "protocol".into(),
            "--images".into(),
            batch.clone().into(),
            "--proxies".into(),
            "ntk,vkdnw".into(),
            "--json".into(),
        ];
        if let Some(b) = budget {
            args.extend(["--max-memory".into(), b.into()]);
        }
        let out = common::intrain(&args);
        assert_eq!(out.status.code(), Some(0), "{budget:?}: {}", common::stderr(&out));
        let j = common::stdout_json(&out);
        let get = |k: &str| j["proxies"][k].as_f64().unwrap_or_else(|| panic!("no {k}"));
        (get("ntk"), get("vkdnw"))
    };
    let (ntk, vkdnw) = values(None);
    assert!(ntk.is_finite() && ntk < 0.0 && vkdnw.is_finite(), "ntk {ntk}, vkdnw {vkdnw}");
    for budget in ["200K", "180K"] {
        let (n, v) = values(Some(budget));
        assert!((n - ntk).abs() <= 1e-9 * ntk.abs(), "{budget}: ntk {n} against {ntk}");
        assert!((v - vkdnw).abs() <= 1e-9 * vkdnw.abs(), "{budget}: vkdnw {v} against {vkdnw}");
    }
}

/// A model exported with a static batch of one has a 1x1 NTK, whose condition number says
/// nothing: the NTK is named unavailable with the reason, not reported as 1.
#[test]
fn ntk_of_a_single_sample_is_unavailable() {
    let model = common::root().join("models/onnx/tinyresnet_dynamo.onnx");
    let out = common::intrain(&[
        "score".as_ref(),
        model.as_os_str(),
        "--conventions".as_ref(),
        "protocol".as_ref(),
        "--proxies".as_ref(),
        "ntk,vkdnw".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let j = common::stdout_json(&out);
    let reason = j["unavailable"]["ntk"].as_str().unwrap_or_default();
    assert!(reason.contains("at least 2 samples"), "{}", j["unavailable"]);
    assert!(j["proxies"]["vkdnw"].as_f64().is_some_and(f64::is_finite), "{}", j["proxies"]);
}
