//! The paper's search table (its supplementary Table 1): each run samples N architectures,
//! selects the best by each proxy, and reports the selected architecture's ground-truth
//! accuracies; mean and std over runs.

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::eval::{GroundTruth, seeded_subset};
use crate::scoring::{Protocol, Proxy, ScoreRecord, Scorer, space_id};
use crate::space::{Arch, SearchSpace};
use crate::stats::mean_std;

/// The settings of a table.
#[derive(Debug, Clone)]
pub struct TableSpec<'a> {
    /// The ground-truth CSV.
    pub truth: &'a Path,
    /// Its architecture column.
    pub arch_column: &'a str,
    /// Its accuracy columns.
    pub targets: &'a [String],
    /// Architectures sampled per run (the paper: 5,000).
    pub samples: usize,
    /// Runs (the paper: 5); run r samples with seed r.
    pub runs: u64,
    /// Sample only among architectures already in the record file under the protocol.
    pub from_cache: bool,
    /// Proxies that select.
    pub proxies: &'a [Proxy],
    /// The scoring protocol.
    pub protocol: &'a Protocol,
}

/// One row: the architectures selected by a proxy (or the oracle) and their accuracies.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The proxy (or `oracle (best in sample)`).
    pub proxy: String,
    /// Per target: accuracies of the selected architecture in each run.
    pub accuracies: Vec<Vec<f64>>,
    /// Per target: mean and std over runs.
    pub mean_std: Vec<(f64, f64)>,
    /// The selected architecture of each run.
    pub selected: Vec<String>,
}

/// The table.
#[derive(Debug, Clone)]
pub struct SearchTable {
    /// One row per proxy, then the oracle.
    pub rows: Vec<Row>,
    /// Architectures the runs sampled from.
    pub pool: usize,
}

/// The paper's search table on NAS-Bench-201 (mean over 5 runs of 5,000 samples): CIFAR-10,
/// CIFAR-100, ImageNet16-120 test accuracies of the architecture each method selects.
pub const PAPER: [(&str, [f64; 3]); 4] = [
    ("intrain", [93.72, 71.05, 45.85]),
    ("params", [93.58, 70.75, 42.15]),
    ("AZ-NAS", [93.65, 70.92, 45.68]),
    ("NASWOT", [92.82, 70.15, 44.68]),
];

/// Builds the table: scores what the record file lacks (through `scorer`), then selects.
pub fn build(
    space: &SearchSpace,
    spec: &TableSpec<'_>,
    scorer: &mut Scorer<'_>,
    bar: &indicatif::ProgressBar,
) -> Result<SearchTable> {
    if !spec.truth.exists() {
        return Err(Error::Settings(format!(
            "{}: not found (the ground-truth table)",
            spec.truth.display()
        )));
    }
    let truth = GroundTruth::read(spec.truth, spec.arch_column)?;
    let cols: Vec<&[f64]> = spec.targets.iter().map(|t| truth.column(t)).collect::<Result<_>>()?;
    let p = spec.protocol;
    let pool: Vec<String> = if spec.from_cache {
        truth.archs.iter().filter(|x| scorer.has(space, x, p)).cloned().collect()
    } else {
        truth.archs.clone()
    };
    if pool.len() < spec.samples {
        return Err(Error::Settings(format!(
            "only {} architectures to sample from ({}), fewer than the {} samples asked for",
            pool.len(),
            if spec.from_cache {
                "scored in the record file under this protocol"
            } else {
                "in the ground-truth table"
            },
            spec.samples
        )));
    }
    let runs: Vec<Vec<String>> =
        (0..spec.runs).map(|r| seeded_subset(&pool, spec.samples, r)).collect();
    let mut missing: Vec<&String> =
        runs.iter().flatten().filter(|x| !scorer.has(space, x, p)).collect();
    missing.sort();
    missing.dedup();
    bar.set_length(missing.len() as u64);
    for name in missing {
        let arch = Arch::parse(space, name)?;
        scorer.get_or_score(space, &arch, p)?;
        bar.inc(1);
    }
    let key = p.key(&space_id(space), space.spec.input.resolution);
    let records = scorer.records().ok_or_else(|| {
        Error::Settings("the search table needs a record file to select from".into())
    })?;
    let mut rows = Vec::new();
    for &proxy in spec.proxies {
        let mut row = Row {
            proxy: proxy.name().to_string(),
            accuracies: vec![Vec::new(); cols.len()],
            mean_std: Vec::new(),
            selected: Vec::new(),
        };
        for sample in &runs {
            let recs: Vec<&ScoreRecord> =
                sample.iter().filter_map(|x| records.get(&key, x)).collect();
            // The sample is the pool of a rank aggregate.
            let values = proxy.pool_values(&recs);
            let best = recs
                .iter()
                .zip(&values)
                .filter(|(_, v)| v.is_finite())
                .max_by(|x, y| x.1.total_cmp(y.1))
                .map(|(r, _)| r)
                .ok_or_else(|| Error::Settings(format!("no finite {proxy} score in a sample")))?;
            let r = truth.row(&best.arch).ok_or_else(|| {
                Error::Data(format!("{} not in {}", best.arch, spec.truth.display()))
            })?;
            for (c, col) in cols.iter().enumerate() {
                row.accuracies[c].push(col[r]);
            }
            row.selected.push(best.arch.clone());
        }
        row.mean_std = row.accuracies.iter().map(|v| mean_std(v)).collect();
        rows.push(row);
    }
    let mut oracle = Row {
        proxy: "oracle (best in sample)".into(),
        accuracies: vec![Vec::new(); cols.len()],
        mean_std: Vec::new(),
        selected: Vec::new(),
    };
    for sample in &runs {
        for (c, col) in cols.iter().enumerate() {
            let best =
                sample.iter().filter_map(|x| truth.row(x)).map(|r| col[r]).fold(f64::NAN, f64::max);
            oracle.accuracies[c].push(best);
        }
    }
    oracle.mean_std = oracle.accuracies.iter().map(|v| mean_std(v)).collect();
    rows.push(oracle);
    Ok(SearchTable { rows, pool: pool.len() })
}
