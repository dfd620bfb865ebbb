//! Macro chain search spaces: the shipped MobileNetV2 and MobileNetV3 spaces reproduce
//! torchvision's reference networks, architecture strings round-trip, sampling, mutation,
//! enumeration and cost bounds behave, and every class of bad input is a one-line error with
//! exit code 2 naming the YAML path or offending token.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::intrain;
use intrain::space::{Arch, LowerOptions, SearchSpace, rng};

fn space(file: &str) -> SearchSpace {
    SearchSpace::read(&common::root().join("models/spaces").join(file)).expect(file)
}

/// `block` repeated `n` times, joined by `,`.
fn rep(block: &str, n: usize) -> String {
    vec![block; n].join(",")
}

/// Standard MobileNetV2 1.0 in `models/spaces/mobilenetv2.yaml`.
fn mobilenet_v2() -> String {
    let b = "mb-k3-e6-relu6-nose";
    format!(
        "mb1-k3-relu6-nose|w24:{}|w32:{}|w64:{}|w96:{}|w160:{}|w320:{}",
        rep(b, 2),
        rep(b, 3),
        rep(b, 4),
        rep(b, 3),
        rep(b, 3),
        rep(b, 1)
    )
}

/// MobileNetV3-Large in `models/spaces/mobilenetv3.yaml`.
fn mobilenet_v3_large() -> String {
    format!(
        "ir1-k3-relu-nose|w24:ir-k3-e4-relu-nose,ir-k3-e3-relu-nose|w40:{}|\
         w80:ir-k3-e6-hswish-nose,ir-k3-e2.5-hswish-nose,{}|w112:{}|w160:{}",
        rep("ir-k5-e3-relu-se", 3),
        rep("ir-k3-e2.3-hswish-nose", 2),
        rep("ir-k3-e6-hswish-se", 2),
        rep("ir-k5-e6-hswish-se", 3)
    )
}

#[test]
fn mobilenet_v2_reproduces_torchvision_exactly() {
    // torchvision 0.29 `mobilenet_v2()`: sum of parameter sizes 3,504,872; Conv2d + Linear
    // multiply-adds at 1x3x224x224 (forward hooks) 300,774,272.
    let s = space("mobilenetv2.yaml");
    let arch = Arch::parse(&s, &mobilenet_v2()).expect("standard MobileNetV2");
    assert_eq!(arch.format(&s), mobilenet_v2());
    let c = s.cost(&arch).expect("cost");
    assert_eq!(c.params, 3_504_872);
    assert_eq!(c.macs, 300_774_272);
    assert_eq!(c.flops, c.macs, "the space counts FLOPs as multiply-adds");
}

#[test]
fn mobilenet_v3_large_reproduces_torchvision_exactly() {
    // torchvision 0.29 `mobilenet_v3_large()`: 5,483,032 parameters, 216,589,760 multiply-adds.
    let s = space("mobilenetv3.yaml");
    let arch = Arch::parse(&s, &mobilenet_v3_large()).expect("MobileNetV3-Large");
    let c = s.cost(&arch).expect("cost");
    assert_eq!(c.params, 5_483_032);
    assert_eq!(c.macs, 216_589_760);
}

/// Choices that differ between `a` and `b` (a changed depth counts once, whatever blocks it adds
/// or drops; a changed op counts once, whatever options it resets).
fn changed_choices(a: &Arch, b: &Arch) -> usize {
    let mut n = 0;
    let (a, b) = (a.as_chain().expect("chain"), b.as_chain().expect("chain"));
    for (x, y) in a.stages.iter().zip(&b.stages) {
        n += usize::from(x.width != y.width) + usize::from(x.blocks.len() != y.blocks.len());
        for (p, q) in x.blocks.iter().zip(&y.blocks) {
            if p.op != q.op {
                n += 1;
            } else {
                n += p.choices.iter().zip(&q.choices).filter(|(u, v)| u != v).count();
            }
        }
    }
    n
}

#[test]
fn strings_round_trip_and_mutation_changes_one_choice() {
    for file in ["mobilenetv2.yaml", "mobilenetv3.yaml"] {
        let s = space(file);
        assert_eq!(s.size(), None, "{file}: more than 2^64 architectures");
        let mut r = rng(11);
        for _ in 0..200 {
            let a = Arch::sample(&s, &mut r);
            a.check(&s).expect("sample is in the space");
            assert_eq!(Arch::parse(&s, &a.format(&s)).expect("parse"), a);
            assert_eq!(a.canonical(&s), a, "a chain architecture holds no dead choices");
            let m = a.mutate(&s, &mut r);
            assert_ne!(m, a, "{file}: mutation changes the architecture");
            assert_eq!(changed_choices(&a, &m), 1, "{} -> {}", a.format(&s), m.format(&s));
            assert_eq!(Arch::parse(&s, &m.format(&s)).expect("parse mutant"), m);
        }
    }
}

#[test]
fn sampling_is_seeded() {
    let s = space("mobilenetv2.yaml");
    let draw = |seed| {
        let mut r = rng(seed);
        (0..20).map(|_| Arch::sample(&s, &mut r)).collect::<Vec<_>>()
    };
    assert_eq!(draw(4), draw(4));
    assert_ne!(draw(4), draw(5));
    assert_eq!(draw(4).iter().collect::<BTreeSet<_>>().len(), 20, "samples vary");
}

/// 480 architectures: stage 1 has widths {8, 16} × (3 + 3²) fillings, stage 2 one width ×
/// (4 + 4²) (op `mb` with 3 expansions or the fixed `conv`). Expansion 0.9 costs more than 1,
/// which has no expansion conv: the bounds must not assume costs grow with the ratio.
const SMALL: &str = "name: small
input: { channels: 3, resolution: 16, classes: 5 }
flops: macs
ops:
  mb: { inverted_residual: { kernel: 3, expansion: [0.9, 1, 2], act: relu6 } }
  conv: { conv_bn_act: { kernel: 3, act: hswish } }
  skip: identity
  none: zero
stem: { conv_bn_act: { kernel: 3, stride: 2, channels: 8, act: relu } }
chain:
  - { ops: [mb], channels: [8, 16], depth: [1, 2] }
  - { ops: [mb, conv], channels: 16, depth: [1, 2], stride: 2 }
head: gap_linear
";

#[test]
fn a_small_space_enumerates_and_its_bounds_are_exact() {
    let s = SearchSpace::from_yaml(SMALL, "small.yaml").expect("small space");
    assert_eq!(s.size(), Some(480));
    let all: Vec<Arch> = (0..480).map(|i| Arch::from_index(&s, i).expect("index")).collect();
    assert!(Arch::from_index(&s, 480).is_none());
    let strings: BTreeSet<String> = all.iter().map(|a| a.format(&s)).collect();
    assert_eq!(strings.len(), 480, "every index is a different architecture");
    for a in &all {
        assert_eq!(&Arch::parse(&s, &a.format(&s)).expect("parse"), a);
    }
    let costs: Vec<_> = all.iter().map(|a| s.cost(a).expect("cost")).collect();
    let b = s.bounds().expect("bounds").expect("a chain space has bounds");
    assert_eq!(b.min_flops.1.flops, costs.iter().map(|c| c.flops).min().expect("min"));
    assert_eq!(b.max_flops.1.flops, costs.iter().map(|c| c.flops).max().expect("max"));
    assert_eq!(b.min_params.1.params, costs.iter().map(|c| c.params).min().expect("min"));
    assert_eq!(b.max_params.1.params, costs.iter().map(|c| c.params).max().expect("max"));
    assert_eq!(all[0].format(&s), "w8:mb-e0.9|mb-e0.9");
    // A stage whose width never changes may use an identity op; it adds no node.
    let with_skip = SMALL.replace(
        "ops: [mb, conv], channels: 16, depth: [1, 2], stride: 2",
        "ops: [mb, skip], channels: 16, depth: [1, 2]",
    );
    let with_skip = with_skip.replace("channels: [8, 16], depth", "channels: 16, depth");
    let s = SearchSpace::from_yaml(&with_skip, "skip.yaml").expect("identity in a chain");
    let a = Arch::parse(&s, "mb-e2|skip,skip").expect("parse");
    let l = s.lower_with_layers(&a, &LowerOptions::default()).expect("lower");
    assert_eq!(l.layers.len(), 4, "stem and three blocks");
    assert_eq!(l.layers[2], l.layers[3], "an identity block repeats its input's name");
}

#[test]
fn sample_meets_the_450m_600m_and_1g_budgets() {
    for (budget, limit) in [("450M", 450e6), ("600M", 600e6), ("1G", 1e9)] {
        let out = intrain(&[
            "sample",
            "models/spaces/mobilenetv2.yaml",
            "-n",
            "5",
            "--max-flops",
            budget,
            "--json",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(rows.len(), 5);
        for r in rows {
            let f = r["flops"].as_u64().expect("flops");
            assert!(f as f64 <= limit, "{budget}: {f}");
            assert_eq!(r["macs"], r["flops"], "FLOPs are multiply-adds in this space");
        }
    }
}

fn write(name: &str, text: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// Runs `args`, expects exit code 2 and one line of stderr containing every fragment.
fn fails(args: &[&str], frags: &[&str]) {
    let out = intrain(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for f in frags {
        assert!(err.contains(f), "{args:?}: '{err}' lacks '{f}'");
    }
}

#[test]
fn bad_spaces_are_one_line_errors_naming_the_yaml_path() {
    let good = std::fs::read_to_string(common::root().join("models/spaces/mobilenetv2.yaml"))
        .expect("yaml");
    for (name, from, to, frags) in [
        (
            "wrong_type.yaml",
            "kernel: [3, 5, 7], expansion: [3",
            "kernel: [3, five, 7], expansion: [3",
            vec!["ops.mb.inverted_residual.kernel[1]", "invalid type", "line 19"],
        ),
        (
            "unknown_op.yaml",
            "- { ops: [mb], channels: [24, 32",
            "- { ops: [mbx], channels: [24, 32",
            vec!["chain[2].ops[0]", "unknown op 'mbx'", "line 25"],
        ),
        (
            "unknown_key.yaml",
            "depth: [2, 3, 4, 5], stride: 2 }",
            "depth: [2, 3, 4, 5], strides: 2 }",
            vec!["chain[2]", "unknown field `strides`", "line 25"],
        ),
        (
            "mismatch.yaml",
            "- { ops: [mb], channels: [48, 64",
            "- { ops: [mb, dw], channels: [48, 64",
            vec!["chain[3].ops[1]", "channel mismatch", "from 24 to 48", "line 26"],
        ),
        (
            "bad_depth.yaml",
            "depth: [1, 2, 3], stride: 1 }",
            "depth: [1, 2, 0], stride: 1 }",
            vec!["chain[6].depth", "must be positive", "line 29"],
        ),
        (
            "too_deep.yaml",
            "depth: [1, 2, 3], stride: 1 }",
            "depth: [1, 2, 3000], stride: 1 }",
            vec!["too_deep.yaml: chain: the deepest network has", "--max-blocks"],
        ),
    ] {
        let text = good.replace(from, to);
        assert_ne!(text, good, "{name}: replacement applies");
        let text =
            text.replace("stem:", "  dw: { dw_conv_bn_act: { kernel: 3, act: relu } }\nstem:");
        let p = write(name, &text);
        let path = p.to_string_lossy();
        fails(&["space", &path], &frags);
        fails(&["sample", &path, "-n", "1"], &frags);
    }
}

#[test]
fn bad_budgets_and_arch_strings_are_one_line_errors() {
    let s = "models/spaces/mobilenetv2.yaml";
    fails(
        &["sample", s, "-n", "3", "--max-flops", "50M"],
        &["--max-flops", "the cheapest has 93168720"],
    );
    fails(&["sample", s, "-n", "3", "--max-params", "1M"], &["--max-params", "the smallest has"]);
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("never.onnx");
    let o = out.to_string_lossy();
    let std = mobilenet_v2();
    for (arch, frag) in [
        ("mb1-k3-relu6-nose|w24:mb-k3-e6-relu6-nose".to_string(), "expected 7 stages"),
        (std.replacen("mb-k3-e6", "mb-k9-e6", 1), "'k9' is not a kernel option of 'mb'"),
        (std.replace("w24:", "w25:"), "width 'w25' is not an option"),
        (std.replace("w24:", ""), "lacks its width"),
        (std.replacen("mb-k3-e6-relu6-nose", "mb-k3-e6-relu6", 1), "takes 4 choice token(s)"),
        (std.replacen("mb-k3", "conv-k3", 1), "'conv' is not an op of this stage (mb)"),
        (std.replace("w96:", "w96:mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose,"), "stage 5: 7 block(s), but its depth is one of 2, 3, 4, 5, 6"),
    ] {
        fails(&["export", s, "--arch", &arch, "-o", &o], &["arch", frag]);
    }
}

#[test]
fn library_validation_names_paths() {
    for (from, to, frags) in [
        ("ops: [mb, conv]", "ops: [mb, none]", vec!["chain[1].ops[1]", "zero op"]),
        ("ops: [mb, conv]", "ops: [mb, skip]", vec!["chain[1].ops[1]", "channel mismatch"]),
        (
            "kernel: 3, expansion",
            "kernel: [3, 4], expansion",
            vec!["ops.mb.inverted_residual.kernel", "odd"],
        ),
        (
            "kernel: 3, expansion",
            "kernel: [3, 3], expansion",
            vec!["ops.mb.inverted_residual.kernel", "'k3' twice"],
        ),
        (
            "expansion: [0.9, 1, 2]",
            "expansion: [0.9, 0, 2]",
            vec!["ops.mb.inverted_residual.expansion", "positive"],
        ),
        ("channels: [8, 16]", "channels: [8, 8]", vec!["chain[0].channels", "lists 8 twice"]),
        ("channels: [8, 16]", "channels: []", vec!["chain[0].channels", "empty list"]),
        (
            "head: gap_linear",
            "head: gap_linear\ncell: { nodes: 3, ops: [skip] }",
            vec!["has `cell` and `chain`"],
        ),
        (
            "act: relu6",
            "act: relu7",
            vec!["ops.mb.inverted_residual.act", "unknown variant `relu7`"],
        ),
    ] {
        let text = SMALL.replace(from, to);
        assert_ne!(text, SMALL, "{to}");
        let e = SearchSpace::from_yaml(&text, "bad.yaml").expect_err(to).to_string();
        for f in frags {
            assert!(e.contains(f), "{to}: '{e}' lacks '{f}'");
        }
    }
    let no_family = SMALL.split("chain:").next().expect("head").to_string() + "head: gap_linear\n";
    let e = SearchSpace::from_yaml(&no_family, "bad.yaml").expect_err("neither").to_string();
    assert!(e.contains("needs a `cell`"), "{e}");
}

#[test]
fn exported_samples_run_with_readable_names() {
    let s = space("mobilenetv3.yaml");
    let arch = Arch::parse(&s, &mobilenet_v3_large()).expect("arch");
    let g = s.lower(&arch, &LowerOptions { batch: 2, ..Default::default() }).expect("lower");
    for name in [
        "stem/conv",
        "stage1/block0/dw/conv",
        "stage3/block0/se/fc1",
        "stage4/block1/expand/hswish",
        "stage4/block1/add",
        "head/conv",
        "head/hidden",
        "logits",
    ] {
        assert!(g.find_node(name).is_some(), "node {name}");
    }
    let x = intrain::init::Init::new(0).normal_tensor(&[2, 3, 224, 224], 1.0);
    let mut sess = common::runtime().session(&intrain::onnx::to_bytes(&g)).expect("session");
    let y = sess.run(&[("x", &x)]).expect("run");
    assert_eq!(y["logits"].shape, vec![2, 1000]);
    assert!(y["logits"].to_f64().iter().all(|v| v.is_finite()));
}

/// The FBNet-style space's `skip` (identity, or a 1x1 conv + BN projection where a block
/// changes stride or width) and `conv_bn_act` with `act: none`: parameters and multiply-adds of
/// six architectures equal a PyTorch model of the same space
/// (`tests/goldens/make_skip_space_counts.py`).
#[test]
fn skip_projection_and_activation_free_convs_match_pytorch_counts() {
    let s = space("fbnet_cifar.yaml");
    let path = common::root().join("tests/goldens/spaces/fbnet_cifar_counts.json");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("counts")).expect("json");
    let golden = golden.as_object().expect("object");
    assert!(golden.len() >= 6);
    for (arch, want) in golden {
        let a = Arch::parse(&s, arch).expect(arch);
        let c = s.cost(&a).expect("cost");
        assert_eq!(c.params, want["params"].as_u64().expect("params"), "{arch}: parameters");
        assert_eq!(c.macs, want["macs"].as_u64().expect("macs"), "{arch}: multiply-adds");
        // `act: none` leaves no activation after the BN, and a stride-1 same-width skip no node.
        let g = s.lower(&a, &LowerOptions::default()).expect("lower");
        for n in g.nodes() {
            let in_none_conv = arch.split('|').enumerate().any(|(k, stage)| {
                stage.split(':').next_back().unwrap_or("").split(',').enumerate().any(|(j, b)| {
                    b.ends_with("-none") && n.name.starts_with(&format!("stage{}/block{j}/", k + 1))
                })
            });
            assert!(
                !(in_none_conv && n.op == intrain::ir::OpType::Relu),
                "{arch}: {} is an activation in a conv without one",
                n.name
            );
        }
    }
    let first = Arch::parse(&s, "skip|w24:skip,skip|w48:skip|w96:skip").expect("parse");
    let g = s.lower(&first, &LowerOptions::default()).expect("lower");
    assert!(
        !g.nodes().iter().any(|n| n.name.starts_with("stage1/block0/")),
        "stage 1 keeps 16 channels at stride 1: its skip is the identity"
    );
    assert!(
        g.nodes().iter().any(|n| n.name.starts_with("stage2/block0/project/")),
        "stage 2 changes stride and width: its skip is a projection"
    );
    assert!(
        !g.nodes().iter().any(|n| n.name.starts_with("stage2/block1/")),
        "the stage's second skip keeps stride and width"
    );
}
