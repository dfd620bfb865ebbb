//! Search spaces from YAML: the shipped NAS-Bench-201 space emits the benchmark's exact network,
//! architecture strings round-trip, and bad spaces or arch strings are clear errors.

mod common;

use intrain::ir::cost::{graph_cost, parameter_count};
use intrain::space::{Arch, LowerOptions, SearchSpace, rng};

fn nb201() -> SearchSpace {
    SearchSpace::read(&common::root().join("models/spaces/nb201.yaml")).expect("nb201.yaml")
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (NAS-Bench-201 tables)")]
fn nb201_space_emits_the_benchmark_network() {
    let data = common::shared_data();
    let s = nb201();
    assert_eq!(s.size(), Some(15_625));
    let text = std::fs::read_to_string(data.join("nasbench201/nb201_all.csv")).expect("csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).expect("column");
    let (a, p, f) = (col("arch_str"), col("params"), col("flops"));
    let mut checked = 0;
    for (i, l) in lines.enumerate() {
        if i % 61 != 0 {
            continue;
        }
        let c: Vec<&str> = l.split(',').collect();
        let arch = Arch::parse(&s, c[a]).expect("arch");
        assert_eq!(arch.format(&s), c[a], "string form round-trips");
        let g = s.lower(&arch, &LowerOptions { seed: None, ..Default::default() }).expect("lower");
        assert_eq!(format!("{:.6}", parameter_count(&g) as f64 / 1e6), c[p], "{}: params", c[a]);
        assert_eq!(format!("{:.6}", graph_cost(&g).flops as f64 / 1e6), c[f], "{}: FLOPs", c[a]);
        checked += 1;
    }
    assert!(checked >= 250, "{checked}");
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (NAS-Bench-201 tables)")]
fn canonical_forms_of_the_whole_space_are_the_9445_cells() {
    let data = common::shared_data();
    let s = nb201();
    let text =
        std::fs::read_to_string(data.join("nasbench201/nb201_unique_9445.csv")).expect("csv");
    let listed: std::collections::BTreeSet<String> =
        text.lines().skip(1).map(|l| l.split(',').nth(1).expect("arch").to_string()).collect();
    let ours: std::collections::BTreeSet<String> = (0..15_625)
        .map(|i| Arch::from_index(&s, i).expect("index").canonical(&s).format(&s))
        .collect();
    assert_eq!(ours, listed);
    assert!(Arch::from_index(&s, 15_625).is_none());
}

#[test]
fn sampling_and_mutation_are_seeded_and_stay_in_the_space() {
    let s = nb201();
    let (mut r1, mut r2) = (rng(5), rng(5));
    let a: Vec<Arch> = (0..20).map(|_| Arch::sample(&s, &mut r1)).collect();
    let b: Vec<Arch> = (0..20).map(|_| Arch::sample(&s, &mut r2)).collect();
    assert_eq!(a, b, "same seed, same samples");
    assert!(a.windows(2).any(|w| w[0] != w[1]), "samples vary");
    for x in &a {
        let m = x.mutate(&s, &mut r1);
        let (xe, me) = (&x.as_cell().expect("cell").edges, &m.as_cell().expect("cell").edges);
        let diff: usize =
            xe.iter().flatten().zip(me.iter().flatten()).filter(|(p, q)| p != q).count();
        assert_eq!(diff, 1, "a mutation changes exactly one edge");
        assert_eq!(Arch::parse(&s, &m.format(&s)).expect("parse"), m);
    }
}

#[test]
fn bad_arch_strings_name_the_offending_token() {
    let s = nb201();
    for (arch, frag) in [
        ("|nor_conv_3x3~0|+|none~0|none~1|", "expected 3 groups"),
        ("|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'nor_conv_5x5' is not an op"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "expected source node 0"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 edges"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "wrapped in '|'"),
    ] {
        let e = Arch::parse(&s, arch).expect_err(arch).to_string();
        assert!(e.contains(frag), "{arch}: {e}");
    }
}

const GOOD: &str = "name: t
input: { channels: 3, resolution: 8, classes: 4 }
ops:
  none: zero
  conv: { relu_conv_bn: { kernel: 3 } }
cell: { nodes: 3, ops: [none, conv] }
stem: { conv_bn: { kernel: 3, channels: 4 } }
stages:
  - { channels: 4, cells: 1 }
  - { channels: 8, cells: 1, reduction: resnet_basic }
head: gap_linear
";

#[test]
fn bad_spaces_name_the_yaml_path_and_line() {
    assert!(SearchSpace::from_yaml(GOOD, "good.yaml").is_ok());
    for (from, to, frags) in [
        (
            "cells: 1 }\n  - {",
            "cels: 1 }\n  - {",
            vec!["stages[0]", "unknown field `cels`", "line 9"],
        ),
        ("kernel: 3 } }\ncell", "kernel: three } }\ncell", vec!["ops.conv", "line 5"]),
        (
            "ops: [none, conv]",
            "ops: [none, conv5]",
            vec!["cell.ops[1]", "unknown op 'conv5'", "line 6"],
        ),
        (
            "- { channels: 8, cells: 1, reduction: resnet_basic }",
            "- { channels: 8, cells: 1 }",
            vec!["stages[1].channels", "add a resnet_basic reduction"],
        ),
        ("resolution: 8", "resolution: 7", vec!["stages[1].reduction", "halves the resolution"]),
        ("kernel: 3 } }\ncell", "kernel: 2 } }\ncell", vec!["ops.conv", "kernel must be odd"]),
        ("nodes: 3", "nodes: 1", vec!["cell.nodes", "at least 2 nodes"]),
        ("name: t\n", "name: [t\n", vec!["bad.yaml", "line 1"]),
    ] {
        let text = GOOD.replace(from, to);
        assert_ne!(text, GOOD, "replacement {from:?} applies");
        let e = SearchSpace::from_yaml(&text, "bad.yaml").expect_err(to).to_string();
        for f in frags {
            assert!(e.contains(f), "{to}: '{e}' lacks '{f}'");
        }
    }
}

#[test]
fn export_writes_a_model_that_runs_with_readable_names() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("nb201_cell.onnx");
    let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    let status =
        common::intrain_command(&["export", "models/spaces/nb201.yaml", "--arch", arch, "-o"])
            .arg(&out)
            .args(["--batch", "2"])
            .status()
            .expect("run");
    assert!(status.success());
    let m = intrain::onnx::load_model(&out, &Default::default()).expect("load");
    assert!(
        m.graph.find_node("stage2/cell3/edge_2_1/avgpool").is_some(),
        "stage/cell/edge/op names"
    );
    assert!(m.graph.find_node("reduction1/conv_a/conv").is_some());
    let x = intrain::init::Init::new(0).normal_tensor(&[2, 3, 32, 32], 1.0);
    let mut s = common::runtime().session(&std::fs::read(&out).expect("bytes")).expect("session");
    let y = s.run(&[("x", &x)]).expect("run");
    assert_eq!(y["logits"].shape, vec![2, 10]);
}

#[test]
fn sample_respects_the_budget_and_fails_clearly_when_none_fits() {
    let out = common::intrain(&[
        "sample",
        "models/spaces/nb201.yaml",
        "-n",
        "5",
        "--max-params",
        "4e5",
        "--json",
        "--seed",
        "3",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|v| v["params"].as_u64().expect("params") <= 400_000));
    let out = common::intrain(&[
        "sample",
        "models/spaces/nb201.yaml",
        "-n",
        "1",
        "--max-params",
        "1000",
        "--max-tries",
        "50",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("meet the budget"));
}

#[test]
fn every_shipped_space_validates_and_a_sample_runs() {
    for entry in std::fs::read_dir(common::root().join("models/spaces")).expect("spaces") {
        let path = entry.expect("entry").path();
        let s = SearchSpace::read(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut r = rng(1);
        let arch = Arch::sample(&s, &mut r);
        let g = s.lower(&arch, &LowerOptions { batch: 2, ..Default::default() }).expect("lower");
        let res = s.spec.input.resolution;
        let x =
            intrain::init::Init::new(0).normal_tensor(&[2, s.spec.input.channels, res, res], 1.0);
        let mut sess = common::runtime().session(&intrain::onnx::to_bytes(&g)).expect("session");
        let y = sess.run(&[("x", &x)]).expect("run");
        assert_eq!(y["logits"].shape, vec![2, s.spec.input.classes], "{}", path.display());
        assert!(y["logits"].to_f64().iter().all(|v| v.is_finite()), "{}", path.display());
    }
}
