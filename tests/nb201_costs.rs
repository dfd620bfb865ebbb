//! The NAS-Bench-201 network built in Rust has exactly the benchmark's parameter count and FLOPs
//! (`../shared/data/nasbench201/nb201_all.csv`), checked on a fixed sample of cells, for
//! CIFAR-10 (32x32, 10 classes) and ImageNet16-120 (16x16, 120 classes).
//! `cargo run --release --example nb201_costs` checks all 15,625.

mod common;

use intrain::ir::cost::{graph_cost, parameter_count};
use intrain::nets::nb201::{Nb201Options, build};

/// (arch_str, params in millions, MFLOPs at 32x32), as written in the CSV.
fn rows() -> Vec<(String, String, String)> {
    let path = common::shared_data().join("nasbench201/nb201_all.csv");
    let text = std::fs::read_to_string(path).expect("nb201_all.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).expect("column");
    let (a, p, f) = (col("arch_str"), col("params"), col("flops"));
    lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[a].to_string(), c[p].to_string(), c[f].to_string())
        })
        .collect()
}

/// The `flops_imagenet16_m` column of one architecture.
fn imagenet_flops(arch: &str) -> String {
    let path = common::shared_data().join("nasbench201/nb201_all.csv");
    let text = std::fs::read_to_string(path).expect("csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let (a, f) = (
        header.iter().position(|h| *h == "arch_str").expect("arch_str"),
        header.iter().position(|h| *h == "flops_imagenet16_m").expect("flops_imagenet16_m"),
    );
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|c| c[a] == arch)
        .map(|c| c[f].to_string())
        .expect("row")
}

/// Formats `x` with as many decimals as `like` has.
fn same_precision(x: f64, like: &str) -> String {
    let decimals = like.split('.').nth(1).map_or(0, str::len);
    format!("{x:.decimals$}")
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (NAS-Bench-201 tables)")]
fn params_and_flops_match_the_benchmark_on_a_sample() {
    let rows = rows();
    assert_eq!(rows.len(), 15_625);
    let opts = Nb201Options { batch: 1, resolution: 32, ..Default::default() };
    let imagenet = Nb201Options { batch: 1, resolution: 16, classes: 120, ..Default::default() };
    let none = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";
    // Every 53rd cell (a fixed, spread-out sample of 295) plus the all-none cell.
    let mut checked = 0;
    for (i, (arch, params, flops)) in rows.iter().enumerate() {
        if i % 53 != 0 && arch != none {
            continue;
        }
        let g = build(arch, &opts).expect("build");
        let ours_p = same_precision(parameter_count(&g) as f64 / 1e6, params);
        let ours_f = same_precision(graph_cost(&g).flops as f64 / 1e6, flops);
        assert_eq!(
            (ours_p.as_str(), ours_f.as_str()),
            (params.as_str(), flops.as_str()),
            "{arch}: (params M, MFLOPs)"
        );
        if i % 265 == 0 {
            let g16 = build(arch, &imagenet).expect("build");
            let csv16 = imagenet_flops(arch);
            assert_eq!(
                same_precision(graph_cost(&g16).flops as f64 / 1e6, &csv16),
                csv16,
                "{arch}: ImageNet16-120 MFLOPs"
            );
        }
        checked += 1;
    }
    assert!(checked >= 295, "{checked}");
}
