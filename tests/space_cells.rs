//! NAS-Bench-101 and DARTS cell spaces: the shipped spaces build the reference networks (parameter
//! and multiply-add counts of 200 seeded cells of each equal PyTorch ports of the benchmarks'
//! code, `tests/goldens/make_cell_space_counts.py`), NAS-Bench-101's module hashes and
//! isomorphism classes are reproduced, strings round-trip, sampling and mutation stay in the
//! space, and bad strings and spaces are one-line errors naming what is wrong.

mod common;

use std::collections::{BTreeMap, HashMap};

use intrain::space::{Arch, LowerOptions, SearchSpace, rng};

fn space(file: &str) -> SearchSpace {
    SearchSpace::read(&common::root().join("models/spaces").join(file)).expect(file)
}

fn golden(file: &str) -> BTreeMap<String, serde_json::Value> {
    let path = common::root().join("tests/goldens/spaces").join(file);
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden")).expect("json")
}

fn count(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key}"))
}

/// The benchmark API's README cell (Inception-like): its module hash as the benchmark's own
/// code and tests know it.
const README_CELL: &str = "ModelSpec(matrix=[[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], \
    [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], \
    [0, 0, 0, 0, 0, 0, 0]], ops=['input', 'conv1x1-bn-relu', 'conv3x3-bn-relu', \
    'conv3x3-bn-relu', 'conv3x3-bn-relu', 'maxpool3x3', 'output'])";

const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), \
    ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), \
    ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], \
    reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), \
    ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], \
    reduce_concat=[2, 3, 4, 5])";

#[test]
fn nb101_cells_match_the_ported_benchmark_code() {
    let s = space("nb101.yaml");
    let g = golden("nb101_counts.json");
    assert!(g.len() >= 200, "{}", g.len());
    for (arch, want) in &g {
        let a = Arch::parse(&s, arch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Arch::parse(&s, &a.format(&s)).expect("round trip"), a);
        let c = s.cost(&a).expect("cost");
        assert_eq!(c.params, count(want, "params"), "{arch}: parameters");
        assert_eq!(c.macs, count(want, "macs"), "{arch}: multiply-adds");
        let cell = a.as_node_cell().expect("node cell");
        assert_eq!(cell.module_hash().as_deref(), want["module_hash"].as_str(), "{arch}: hash");
        // The canonical form is the same cell up to which vertices take the remainder channels
        // of the benchmark's channel split (it follows the vertex numbering): within 1%.
        let cc = s.cost(&a.canonical(&s)).expect("cost");
        assert!(cc.params.abs_diff(c.params) * 100 <= c.params, "{arch}: canonical form");
    }
    let a = Arch::parse(&s, README_CELL).expect("README cell");
    let hash = a.as_node_cell().and_then(|c| c.module_hash());
    assert_eq!(hash.as_deref(), Some("28cfc7874f6d200472e1a9dcd8650aa0"));
}

#[test]
fn darts_genotypes_match_the_ported_darts_code() {
    let small = space("darts.yaml");
    let large = space("darts_c36_l20.yaml");
    let g = golden("darts_counts.json");
    assert!(g.len() >= 200, "{}", g.len());
    for (arch, want) in &g {
        for (s, key) in [(&small, "c16_l8"), (&large, "c36_l20")] {
            let a = Arch::parse(s, arch).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&a.format(s), arch, "the DARTS form round-trips");
            let c = s.cost(&a).expect("cost");
            assert_eq!(c.params, count(&want[key], "params"), "{arch} {key}: parameters");
            assert_eq!(c.macs, count(&want[key], "macs"), "{arch} {key}: multiply-adds");
        }
    }
    // DARTS-V2, the paper's "3.3M" network on CIFAR-10.
    let a = Arch::parse(&large, DARTS_V2).expect("DARTS-V2");
    let p = large.cost(&a).expect("cost").params;
    assert_eq!(p, count(&g[DARTS_V2]["c36_l20"], "params"));
    assert!((3_250_000..3_350_000).contains(&p), "{p}");
}

fn cell(rows: &[&str], ops: &[&str]) -> String {
    let m: Vec<String> = rows
        .iter()
        .map(|r| {
            let bits: Vec<String> = r.chars().map(|c| c.to_string()).collect();
            format!("[{}]", bits.join(","))
        })
        .collect();
    let mut names = vec!["input"];
    names.extend(ops);
    names.push("output");
    format!("ModelSpec(matrix=[{}], ops=[{}])", m.join(","), names.join(","))
}

#[test]
fn isomorphic_nb101_cells_share_one_canonical_form() {
    let s = space("nb101.yaml");
    let canon = |x: &str| {
        let a = Arch::parse(&s, x).unwrap_or_else(|e| panic!("{e}"));
        a.canonical(&s).format(&s)
    };
    let (c3, c1, mp) = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3");
    // The same graph with its interior vertices numbered differently.
    let a = cell(&["01100", "00010", "00001", "00001", "00000"], &[c3, c1, mp]);
    let b = cell(&["01100", "00001", "00010", "00001", "00000"], &[c1, c3, mp]);
    assert_eq!(canon(&a), canon(&b));
    // An extraneous vertex (fed by nothing, or feeding nothing) is pruned away.
    let c = cell(&["011000", "000100", "000001", "000001", "000000", "000000"], &[c3, c1, mp, c3]);
    assert_eq!(canon(&a), canon(&c));
    let d = cell(&["0110", "0001", "0000", "0000"], &[c3, mp]);
    assert_eq!(canon(&d), canon(&cell(&["010", "001", "000"], &[c3])));
    // A different operation, or a different edge, is a different cell.
    let e = cell(&["01100", "00010", "00001", "00001", "00000"], &[c3, c3, mp]);
    let f = cell(&["01110", "00010", "00001", "00001", "00000"], &[c3, c1, mp]);
    assert_ne!(canon(&a), canon(&e));
    assert_ne!(canon(&a), canon(&f));
    // On many sampled cells, equal canonical forms are exactly equal benchmark hashes.
    let mut r = rng(7);
    let mut by_canon: HashMap<Arch, String> = HashMap::new();
    let mut by_hash: HashMap<String, Arch> = HashMap::new();
    for _ in 0..3000 {
        let a = Arch::sample(&s, &mut r);
        let cf = a.canonical(&s);
        assert_eq!(cf.canonical(&s), cf, "canonical forms are fixed points");
        let h = a.as_node_cell().and_then(|c| c.module_hash()).expect("hash");
        let hc = cf.as_node_cell().and_then(|c| c.module_hash()).expect("hash");
        assert_eq!(h, hc, "a cell and its canonical form hash alike");
        assert_eq!(by_canon.entry(cf.clone()).or_insert_with(|| h.clone()), &h);
        assert_eq!(by_hash.entry(h).or_insert_with(|| cf.clone()), &cf);
    }
    // The benchmark's sampler favours cells with many labellings: its own code finds 761
    // distinct cells in 3000 draws (seed 0).
    assert!(by_canon.len() > 600, "{} distinct cells", by_canon.len());
}

#[test]
fn sampling_and_mutation_respect_the_spaces() {
    let s = space("nb101.yaml");
    let (mut r1, mut r2) = (rng(3), rng(3));
    let first: Vec<Arch> = (0..20).map(|_| Arch::sample(&s, &mut r1)).collect();
    let mut same = 0;
    assert_eq!(first, (0..20).map(|_| Arch::sample(&s, &mut r2)).collect::<Vec<_>>(), "seeded");
    for _ in 0..300 {
        let a = Arch::sample(&s, &mut r1);
        let c = a.as_node_cell().expect("node cell");
        assert_eq!(c.vertices(), 7);
        assert!(c.pruned().is_some_and(|p| p.edges() <= 9), "valid, 9 edges once pruned");
        let m = a.mutate(&s, &mut r1);
        let mc = m.as_node_cell().expect("node cell");
        let flips =
            c.matrix.iter().flatten().zip(mc.matrix.iter().flatten()).filter(|(x, y)| x != y);
        let changed = flips.count() + c.ops.iter().zip(&mc.ops).filter(|(x, y)| x != y).count();
        assert_eq!(changed, 1, "one edge or one op");
        assert!(mc.pruned().is_some_and(|p| p.edges() <= 9));
        if m.canonical(&s) == a.canonical(&s) {
            // Only a cell with no function-changing neighbour (say, input→output live, every
            // other edge between pruned vertices): it moves to a neighbour to go on from.
            same += 1;
        }
        assert_eq!(Arch::parse(&s, &m.format(&s)).expect("parse"), m);
    }
    assert!(same <= 30, "{same} of 300 mutations kept the function");
    let s = space("darts.yaml");
    for _ in 0..300 {
        let a = Arch::sample(&s, &mut r1);
        let g = a.as_genotype().expect("genotype");
        for cell in [&g.normal, &g.reduce] {
            for (i, [x, y]) in cell.iter().enumerate() {
                assert!(x.1 != y.1 && x.1 < i + 2 && y.1 < i + 2, "two different earlier nodes");
            }
        }
        let m = a.mutate(&s, &mut r1);
        let mg = m.as_genotype().expect("genotype");
        let inputs = |g: &intrain::space::Genotype| -> Vec<(usize, usize)> {
            g.normal.iter().chain(&g.reduce).flatten().copied().collect()
        };
        let changed = inputs(g).iter().zip(inputs(mg)).filter(|(x, y)| **x != *y).count();
        assert_eq!(changed, 1, "one input's op or source");
        assert_eq!(Arch::parse(&s, &m.format(&s)).expect("parse"), m);
    }
    // Enumeration: 10^18 genotypes; the last index is the last genotype.
    let n = s.size().expect("size");
    assert_eq!(n, (180u64 * 7u64.pow(8)).pow(2));
    let last = Arch::from_index(&s, n - 1).expect("last");
    assert_eq!(Arch::parse(&s, &last.format(&s)).expect("parse"), last);
    assert!(Arch::from_index(&s, n).is_none());
}

#[test]
fn genotype_inputs_in_either_order_are_one_network() {
    let s = space("darts.yaml");
    let a = Arch::parse(&s, DARTS_V2).expect("parse");
    let swapped = DARTS_V2.replacen(
        "('sep_conv_3x3', 0), ('sep_conv_3x3', 1)",
        "('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
        1,
    );
    let b = Arch::parse(&s, &swapped).expect("parse");
    assert_ne!(a, b);
    assert_eq!(a.canonical(&s), b.canonical(&s));
    // range() concatenations, double quotes and free spacing read as well.
    let loose = DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)").replace('\'', "\"");
    assert_eq!(Arch::parse(&s, &loose).expect("loose"), a);
}

#[test]
fn bad_cell_strings_name_what_is_wrong() {
    let nb = space("nb101.yaml");
    let c3 = "conv3x3-bn-relu";
    let ten_edges = cell(
        &["0111111", "0011111", "0000001", "0000001", "0000001", "0000001", "0000000"],
        &[c3, c3, c3, c3, c3],
    );
    for (arch, frag) in [
        (cell(&["010", "101", "000"], &[c3]), "upper triangular"),
        (cell(&["010", "000", "000"], &[c3]), "does not reach the output"),
        (cell(&["010", "001", "000"], &["conv5x5"]), "'conv5x5' is not an op"),
        (ten_edges, "at most 9"),
        ("ModelSpec(matrix=[[0,1],[0,0]], ops=[input])".into(), "1 ops for a 2×2 matrix"),
        ("ModelSpec(matrix=[[0,1],[0,0]], ops=[output,input])".into(), "must be 'input'"),
        ("ModelSpec(matrix=[[0,2],[0,0]], ops=[input,output])".into(), "must be 0 or 1"),
        ("ModelSpec(matrix=[[0,1],[0,0]]".into(), "expected"),
        (format!("x=[{}]", vec!["range(4096)"; 3000].join(",")), "too many values"),
    ] {
        let e = Arch::parse(&nb, &arch).expect_err(&arch).to_string();
        assert!(e.contains(frag), "{arch}: '{e}' lacks '{frag}'");
    }
    let d = space("darts.yaml");
    for (arch, frag) in [
        (DARTS_V2.replacen("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)", 1), "node 5 can read"),
        (DARTS_V2.replacen("('dil_conv_3x3', 2)", "('conv_7x1_1x7', 2)", 1), "is not an op"),
        (DARTS_V2.replacen("normal_concat=[2, 3, 4, 5]", "normal_concat=[4, 5]", 1), "concat"),
        (DARTS_V2.replacen(", ('dil_conv_3x3', 2)", "", 1), "normal has 7 inputs"),
        (DARTS_V2.replacen("Genotype(", "Genotyp(", 1), "expected Genotype"),
        (DARTS_V2.replacen("('sep_conv_3x3', 1)", "('sep_conv_3x3', 0)", 1), "reads node 0 twice"),
    ] {
        let e = Arch::parse(&d, &arch).expect_err(&arch).to_string();
        assert!(e.contains(frag), "{arch}: '{e}' lacks '{frag}'");
    }
}

#[test]
fn bad_cell_spaces_name_the_yaml_path() {
    let base = std::fs::read_to_string(common::root().join("models/spaces/darts.yaml"))
        .expect("darts.yaml");
    for (from, to, frag) in [
        (
            "channels: 32, cells: 2, reduction: cell",
            "channels: 33, cells: 2, reduction: cell",
            "stages[1].channels",
        ),
        (
            "reduction: cell }\n  - { channels: 64",
            "reduction: max_pool }\n  - { channels: 64",
            "stages[1].reduction",
        ),
        ("  nodes: 4\n", "  nodes: 0\n", "two_input_cell.nodes"),
        ("sep_conv_5x5, dil", "sep_conv_7x7, dil", "two_input_cell.ops[4]: unknown op"),
        (
            "head: gap_linear",
            "head: gap_linear\ncell: { nodes: 4, ops: [skip_connect] }",
            "has `cell` and `two_input_cell`",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let e = SearchSpace::from_yaml(&base.replacen(from, to, 1), "darts.yaml")
            .expect_err(to)
            .to_string();
        assert!(e.contains(frag), "'{e}' lacks '{frag}'");
    }
    let nb =
        std::fs::read_to_string(common::root().join("models/spaces/nb101.yaml")).expect("yaml");
    for (from, to, frag) in [
        ("max_edges: 9", "max_edges: 0", "node_cell.max_edges"),
        ("reduction: max_pool }", "reduction: cell }", "stages[1].reduction"),
        (
            "  maxpool3x3: { max_pool: { kernel: 3 } }",
            "  input: { max_pool: { kernel: 3 } }",
            "'input' names",
        ),
    ] {
        assert!(nb.contains(from), "{from}");
        let text = nb
            .replacen(from, to, 1)
            .replace("maxpool3x3]", if to.contains("input:") { "input]" } else { "maxpool3x3]" });
        let e = SearchSpace::from_yaml(&text, "nb101.yaml").expect_err(to).to_string();
        assert!(e.contains(frag), "'{e}' lacks '{frag}'");
    }
}

#[test]
fn sample_reports_the_benchmark_hash_of_nb101_cells() {
    let out = common::intrain(&["sample", "models/spaces/nb101.yaml", "-n", "3", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let s = space("nb101.yaml");
    for line in common::stdout(&out).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let a = Arch::parse(&s, v["arch"].as_str().expect("arch")).expect("parse");
        let want = a.as_node_cell().and_then(|c| c.module_hash()).expect("hash");
        assert_eq!(v["module_hash"].as_str(), Some(want.as_str()));
        assert_eq!(want.len(), 32);
    }
    let out = common::intrain(&["sample", "models/spaces/darts.yaml", "-n", "1", "--json"]);
    assert!(common::stdout_json(&out).get("module_hash").is_none(), "only node cells have one");
}

#[test]
fn cell_spaces_export_score_and_search_from_the_cli() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (file, arch, node) in [
        ("nb101.yaml", README_CELL, "stage2/cell0/vertex3/conv"),
        ("darts.yaml", DARTS_V2, "stage2/cell0/preprocess0/conv_1"),
    ] {
        let path = format!("models/spaces/{file}");
        let out = dir.join(format!("{file}.onnx"));
        let st = common::intrain_command(&["export", &path, "--arch", arch, "--batch", "2", "-o"])
            .arg(&out)
            .status()
            .expect("run");
        assert!(st.success(), "{file}: export");
        let m = intrain::onnx::load_model(&out, &Default::default()).expect("load");
        assert!(m.graph.find_node(node).is_some(), "{file}: {node}");
        let x = intrain::init::Init::new(0).normal_tensor(&[2, 3, 32, 32], 1.0);
        let mut sess =
            common::runtime().session(&std::fs::read(&out).expect("bytes")).expect("session");
        assert_eq!(sess.run(&[("x", &x)]).expect("run")["logits"].shape, vec![2, 10]);
        let o = common::intrain(&["score", &path, "--arch", arch, "--batch", "8", "--json"]);
        assert!(o.status.success(), "{file}: {}", common::stderr(&o));
        let v = common::stdout_json(&o);
        let score = &v["score"]["intrain"];
        assert!(score.as_f64().is_some_and(|x| x.is_finite() && x > 0.0), "{file}: {score}");
        // A short search under a parameter budget: candidates are distinct cells in budget.
        let run = dir.join(format!("{file}.search"));
        let _ = std::fs::remove_dir_all(&run);
        let args = [
            "search",
            &path,
            "-T",
            "6",
            "-k",
            "2",
            "--batch",
            "4",
            "--resolution",
            "16",
            "--threads",
            "1",
            "--max-params",
            "2M",
            "--seed",
            "1",
            "--out",
        ];
        let o = common::intrain_command(&args).arg(&run).output().expect("run");
        assert!(o.status.success(), "{file}: {}", common::stderr(&o));
        let text = std::fs::read_to_string(run.join("history.jsonl")).expect("history");
        let lines: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert!(lines.len() >= 6, "{file}: {} history lines", lines.len());
        for l in &lines {
            let arch = l["arch"].as_str().expect("arch");
            let a = Arch::parse(&space(file), arch).expect("a history arch parses");
            assert!(space(file).cost(&a).expect("cost").params <= 2_000_000, "{arch}");
        }
    }
}

/// darts.yaml with `none: zero` among its operations (as `make_cell_space_logits.py` writes it).
fn darts_with_none(text: &str) -> String {
    text.replacen("ops:\n", "ops:\n  none: zero\n", 1).replacen(
        "ops: [max_pool_3x3,",
        "ops: [none, max_pool_3x3,",
        1,
    )
}

/// The networks compute what the reference code computes: logits of NAS-Bench-101 networks
/// (cells with a remainder split of channels and truncated vertices among them) and DARTS
/// networks (a DARTS-V2-like genotype with `none` included), with training-mode BatchNorm as
/// scoring runs it, equal those of the PyTorch ports with intrain's weights copied in
/// (`tests/goldens/make_cell_space_logits.py`); parameter counts alone cannot show a node that
/// reads the wrong earlier node of the same shape, or a misplaced BatchNorm.
#[test]
fn cell_networks_compute_what_the_reference_code_computes() {
    let path = common::root().join("tests/goldens/spaces/cell_logits.json");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("logits")).expect("json");
    let seed = golden["seed"].as_u64().expect("seed");
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 15);
    let n = 2 * 3 * 32 * 32;
    let x: Vec<f32> = (0..n).map(|i| (0.37 * i as f64).sin() as f32).collect();
    let x = intrain::ir::Tensor::f32([2, 3, 32, 32], x);
    let rt = common::runtime();
    for case in cases {
        let file = case["space"].as_str().expect("space");
        let text = std::fs::read_to_string(common::root().join("models/spaces").join(file))
            .expect("space");
        let text =
            if case["with_none"].as_bool() == Some(true) { darts_with_none(&text) } else { text };
        let s = SearchSpace::from_yaml(&text, file).expect("space");
        let arch = case["arch"].as_str().expect("arch");
        let a = Arch::parse(&s, arch).expect("arch");
        let opts = LowerOptions {
            batch: 2,
            batch_norm: intrain::autodiff::BnMode::Train,
            seed: Some(seed),
            ..Default::default()
        };
        let g = s.lower(&a, &opts).expect("lower");
        let mut sess = rt.session(&intrain::onnx::to_bytes(&g)).expect("session");
        let ours = sess.run(&[("x", &x)]).expect("run")["logits"].to_f64();
        let want: Vec<f64> =
            case["logits"].as_array().expect("logits").iter().filter_map(|v| v.as_f64()).collect();
        assert_eq!(ours.len(), want.len());
        // Held to PyTorch's own float32 error on the same network (some cells are ill
        // conditioned: a chain of five 3x3 convolutions with batch statistics of two samples
        // loses 7e-4 in PyTorch float32); a wiring error is of the order of the logits.
        let floor = case["torch_f32_error"].as_f64().expect("torch_f32_error");
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = ours.iter().zip(&want).fold(0.0f64, |m, (a, b)| m.max((a - b).abs())) / scale;
        assert!(
            err <= (4.0 * floor).max(2e-5),
            "{file} {arch}: error {err:.2e}, PyTorch float32's {floor:.2e}"
        );
    }
}

/// `intrain space` counts NAS-Bench-101's space: its canonical forms make exactly the
/// benchmark's 423,624 distinct cells (every cell of 2 to 7 vertices and at most 9 edges with
/// every vertex on an input-to-output path, three operations, up to isomorphism), and the
/// labelled cells sampling draws from are 1,538,083 7-vertex matrices valid with at most 9 edges
/// once pruned (as a Python enumeration with the benchmark's pruning counts them) times 3^5
/// labellings.
#[test]
fn space_counts_the_benchmarks_423624_cells() {
    let out = common::intrain(&["space", "models/spaces/nb101.yaml", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v = common::stdout_json(&out);
    assert_eq!(v["canonical"].as_u64(), Some(423_624));
    assert_eq!(v["size"].as_u64(), Some(1_538_083 * 243));
    assert_eq!(v["kind"].as_str(), Some("node_cell"));
}

/// The limits apply to the cell once pruned, as the benchmark's `is_valid` applies them: a cell
/// with ten edges, five of them on a vertex nothing feeds, is in the space; a smaller cell
/// mutates within the space's full size.
#[test]
fn limits_apply_to_the_pruned_cell() {
    let s = space("nb101.yaml");
    let c3 = "conv3x3-bn-relu";
    let ten = cell(
        &["0010000", "0011111", "0001000", "0000100", "0000010", "0000001", "0000000"],
        &[c3, c3, c3, c3, c3],
    );
    let a = Arch::parse(&s, &ten).expect("valid once pruned");
    let c = a.as_node_cell().expect("node cell");
    assert_eq!((c.edges(), c.pruned().expect("valid").edges()), (10, 5));
    // Eight vertices written, seven once pruned (vertex 1 reads nothing): in the space too.
    let eight = cell(
        &[
            "00100000", "00111111", "00010000", "00001000", "00000100", "00000010", "00000001",
            "00000000",
        ],
        &[c3, c3, c3, c3, c3, c3],
    );
    assert!(Arch::parse(&s, &eight).is_ok());
    let small = Arch::parse(&s, &cell(&["010", "001", "000"], &[c3])).expect("small");
    let mut r = rng(4);
    for _ in 0..20 {
        let m = small.mutate(&s, &mut r);
        let mc = m.as_node_cell().expect("node cell");
        assert_eq!(mc.vertices(), 7, "padded to the space's size");
        assert_ne!(m.canonical(&s), small.canonical(&s));
    }
}

/// Spaces whose cells would give a vertex no channel are refused, and a resolution the
/// reductions cannot halve is an error naming it (not a shape error deep in the graph).
#[test]
fn channel_and_resolution_limits_are_clear_errors() {
    let nb =
        std::fs::read_to_string(common::root().join("models/spaces/nb101.yaml")).expect("yaml");
    let e = SearchSpace::from_yaml(
        &nb.replacen("{ channels: 128, cells: 3 }", "{ channels: 3, cells: 3 }", 1),
        "nb101.yaml",
    )
    .expect_err("3 channels")
    .to_string();
    assert!(e.contains("stages[0].channels") && e.contains("at least 5"), "{e}");
    let s = space("darts.yaml");
    let a = Arch::sample(&s, &mut rng(0));
    let opts = LowerOptions { resolution: Some(10), ..Default::default() };
    let e = s.lower(&a, &opts).expect_err("odd").to_string();
    assert!(
        e.contains("resolution 10") && e.contains("stages[2]") && e.contains("multiple of 4"),
        "{e}"
    );
    let big = std::fs::read_to_string(common::root().join("models/spaces/darts.yaml"))
        .expect("yaml")
        .replacen("  nodes: 4\n", "  nodes: 14\n", 1);
    let e = SearchSpace::from_yaml(&big, "darts.yaml").expect_err("limit").to_string();
    assert!(e.contains("14 nodes, 17 with the two inputs and the output"), "{e}");
}

/// The enumeration of a small two-input space is a bijection onto its genotypes: every index
/// gives a different valid genotype, as many as `size` says.
#[test]
fn genotype_enumeration_covers_a_small_space_once() {
    let text = "name: t\ninput: { channels: 3, resolution: 8, classes: 4 }\nops:\n  skip: identity\n  \
                pool: { max_pool: { kernel: 3 } }\n\
                two_input_cell: { nodes: 2, ops: [skip, pool] }\n\
                stem: { conv_bn: { kernel: 3, channels: 8 } }\n\
                stages:\n  - { channels: 4, cells: 1 }\n  - { channels: 8, cells: 1, reduction: cell }\n\
                head: gap_linear\n";
    let s = SearchSpace::from_yaml(text, "t.yaml").expect("space");
    let n = s.size().expect("size");
    assert_eq!(n, (4u64 * 3 * 4).pow(2), "(1·2² · 3·2²)² genotypes");
    let mut seen = std::collections::HashSet::new();
    for i in 0..n {
        let a = Arch::from_index(&s, i).expect("in range");
        a.check(&s).expect("valid");
        assert_eq!(Arch::parse(&s, &a.format(&s)).expect("parse"), a);
        assert!(seen.insert(a), "index {i} repeats a genotype");
    }
    assert!(Arch::from_index(&s, n).is_none());
    let report = intrain::space::describe::describe(&s, 10, 0, &indicatif::ProgressBar::hidden())
        .expect("describe");
    // The enumeration takes each node's two inputs in canonical order already.
    assert_eq!(report.canonical, Some(n as usize));
}

/// Canonical forms are exact on larger cells than NAS-Bench-101's: any topological renumbering
/// of a random 12-vertex cell gives the same form, and a cell of many symmetric vertices (which
/// the search's work budget stops) still gets a fixed point.
#[test]
#[allow(clippy::needless_range_loop)] // vertex indices address the matrix and the renumbering
fn canonical_forms_hold_on_larger_cells() {
    use intrain::space::NodeCellArch;
    use rand::{RngExt, seq::SliceRandom};
    let mut r = rng(9);
    for _ in 0..200 {
        let n = 12;
        let mut a = NodeCellArch { matrix: vec![vec![false; n]; n], ops: vec![0; n - 2] };
        for i in 0..n {
            for j in i + 1..n {
                a.matrix[i][j] = r.random_bool(0.3);
            }
        }
        a.matrix[0][n - 1] = true;
        for o in a.ops.iter_mut() {
            *o = r.random_range(0..2);
        }
        // A random topological order of the interior vertices: repeatedly pick a ready one.
        let mut order = vec![0];
        let mut left: Vec<usize> = (1..n - 1).collect();
        while !left.is_empty() {
            let mut ready: Vec<usize> = left
                .iter()
                .copied()
                .filter(|&v| (1..v).all(|u| !a.matrix[u][v] || order.contains(&u)))
                .collect();
            ready.shuffle(&mut r);
            order.push(ready[0]);
            left.retain(|&v| v != ready[0]);
        }
        order.push(n - 1);
        let mut pos = vec![0; n];
        for (k, &v) in order.iter().enumerate() {
            pos[v] = k;
        }
        let mut b = NodeCellArch { matrix: vec![vec![false; n]; n], ops: vec![0; n - 2] };
        for i in 0..n {
            for j in 0..n {
                b.matrix[pos[i]][pos[j]] = a.matrix[i][j];
            }
        }
        for v in 1..n - 1 {
            b.ops[pos[v] - 1] = a.ops[v - 1];
        }
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.canonical().canonical(), a.canonical());
    }
    // Ten vertices read by the input alone, each feeding a different set of the four that feed
    // the output.
    let n = 16;
    let mut m = vec![vec![false; n]; n];
    for v in 1..=10 {
        m[0][v] = true;
        for (k, w) in (11..=14).enumerate() {
            m[v][w] = (v >> k) & 1 == 1 || v % 4 == k;
        }
    }
    for w in 11..=14 {
        m[w][n - 1] = true;
    }
    let a = NodeCellArch { matrix: m, ops: vec![0; n - 2] };
    let c = a.canonical();
    assert_eq!(c.canonical(), c);
}
