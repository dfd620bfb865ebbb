//! Checks the NAS-Bench-201 network built in Rust against the benchmark for all 15,625 cells:
//! parameter count and FLOPs (to the CSV's last digit), and the number of canonical (functionally
//! distinct) cells.
//!
//! Run: `cargo run --release --example nb201_costs` (reads `../shared/data/nasbench201/`).

use std::collections::BTreeSet;

use intrain::ir::cost::{graph_cost, parameter_count};
use intrain::nets::nb201::{Nb201Options, SPACE_YAML, build};
use intrain::space::{Arch, SearchSpace};

fn main() -> anyhow::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nasbench201");
    let text = std::fs::read_to_string(dir.join("nb201_all.csv"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |n: &str| {
        header.iter().position(|h| *h == n).ok_or_else(|| anyhow::anyhow!("no column {n}"))
    };
    let (a, p, f) = (col("arch_str")?, col("params")?, col("flops")?);
    let rows: Vec<(String, String, f64)> = lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            Ok((c[a].to_string(), c[p].to_string(), c[f].parse()?))
        })
        .collect::<anyhow::Result<_>>()?;
    let opts = Nb201Options { batch: 1, resolution: 32, ..Default::default() };
    let none = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";
    let ours_base = graph_cost(&build(none, &opts)?).flops as f64 / 1e6;
    let csv_base = rows
        .iter()
        .find(|r| r.0 == none)
        .map(|r| r.2)
        .ok_or_else(|| anyhow::anyhow!("no none cell"))?;
    let (mut params_ok, mut flops_ok) = (0, 0);
    let space = SearchSpace::from_yaml(SPACE_YAML, "nb201.yaml")?;
    let mut canonical = BTreeSet::new();
    for (arch, params, flops) in &rows {
        canonical.insert(Arch::parse(&space, arch)?.canonical(&space).format(&space));
        let g = build(arch, &opts)?;
        if format!("{:.6}", parameter_count(&g) as f64 / 1e6) == *params {
            params_ok += 1;
        } else {
            eprintln!("parameters differ for {arch}");
        }
        if format!("{:.6}", graph_cost(&g).flops as f64 / 1e6) == format!("{flops:.6}") {
            flops_ok += 1;
        } else {
            eprintln!("cell FLOPs differ for {arch}");
        }
    }
    println!(
        "{} cells: parameters equal for {params_ok}, FLOPs equal for {flops_ok}; {} canonical cells; fixed part: benchmark {csv_base:.6} M, ours {ours_base:.6} M",
        rows.len(),
        canonical.len()
    );
    Ok(())
}
