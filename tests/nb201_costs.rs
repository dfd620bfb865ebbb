//! The NAS-Bench-201 network built in Rust has exactly the benchmark's parameter count
//! (`../shared/data/nasbench201/nb201_all.csv`), and its cells exactly the benchmark's FLOPs,
//! checked on a fixed sample of cells.
//!
//! Known gap: the fixed part of the network (stem, reductions, head) counts 1,078 FLOPs fewer
//! than the benchmark's 7.943872 M at 32x32 (576 at 16x16, independent of the class count), so
//! FLOPs are compared relative to the all-`none` cell. The benchmark's counter convention for
//! that part is not yet identified.

mod common;

use intrain::ir::cost::{graph_cost, parameter_count};
use intrain::nets::nb201::{Cell, Nb201Options, build};

/// (arch_str, params in millions, MFLOPs at 32x32), as written in the CSV.
fn rows() -> Option<Vec<(String, String, String)>> {
    let path = common::shared_data()?.join("nasbench201/nb201_all.csv");
    let text = std::fs::read_to_string(path).expect("nb201_all.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).expect("column");
    let (a, p, f) = (col("arch_str"), col("params"), col("flops"));
    Some(
        lines
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                (c[a].to_string(), c[p].to_string(), c[f].to_string())
            })
            .collect(),
    )
}

/// Formats `x` with as many decimals as `like` has.
fn same_precision(x: f64, like: &str) -> String {
    let decimals = like.split('.').nth(1).map_or(0, str::len);
    format!("{x:.decimals$}")
}

#[test]
fn params_and_flops_match_the_benchmark_on_a_sample() {
    let Some(rows) = rows() else { return };
    assert_eq!(rows.len(), 15_625);
    let opts = Nb201Options { batch: 1, resolution: 32, ..Default::default() };
    let none = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";
    let flops_of = |arch: &str| {
        graph_cost(&build(&Cell::parse(arch).expect("arch"), &opts).expect("build")).flops as f64
    };
    let base_ours = flops_of(none);
    let base_csv: f64 =
        rows.iter().find(|r| r.0 == none).expect("none cell").2.parse().expect("flops");
    // Every 53rd cell (a fixed, spread-out sample of 295) plus the all-none cell.
    let mut checked = 0;
    for (i, (arch, params, flops)) in rows.iter().enumerate() {
        if i % 53 != 0 && arch != none {
            continue;
        }
        let g = build(&Cell::parse(arch).expect("arch"), &opts).expect("build");
        let ours_p = same_precision(parameter_count(&g) as f64 / 1e6, params);
        let csv_cells: f64 = flops.parse::<f64>().expect("flops") - base_csv;
        let ours_cells = (graph_cost(&g).flops as f64 - base_ours) / 1e6;
        assert_eq!(ours_p, *params, "{arch}: parameters (M)");
        assert_eq!(
            same_precision(ours_cells, flops),
            same_precision(csv_cells, flops),
            "{arch}: cell MFLOPs"
        );
        checked += 1;
    }
    assert!(checked >= 295, "{checked}");
}

#[test]
fn canonical_form_maps_all_cells_onto_the_9445_distinct_ones() {
    let Some(rows) = rows() else { return };
    let data = common::shared_data().expect("shared data");
    let text = std::fs::read_to_string(data.join("nasbench201/nb201_unique_9445.csv"))
        .expect("unique csv");
    let listed: std::collections::BTreeSet<String> =
        text.lines().skip(1).map(|l| l.split(',').nth(1).expect("arch").to_string()).collect();
    assert_eq!(listed.len(), 9_445);
    let mut classes = std::collections::BTreeSet::new();
    for (arch, _, _) in &rows {
        let cell = Cell::parse(arch).expect("arch");
        assert_eq!(cell.to_string(), *arch, "string form round-trips");
        let canon = cell.canonical();
        assert_eq!(canon.canonical(), canon, "canonical form is idempotent");
        classes.insert(canon.to_string());
    }
    assert_eq!(
        classes, listed,
        "the canonical forms are exactly the benchmark's 9,445 distinct cells"
    );
}
