//! The paper's search table (its supplementary Table 1): each run samples N architectures,
//! selects the best by each proxy, and reports the selected architecture's ground-truth
//! accuracies; mean and std over runs.

use std::path::Path;

use serde::Serialize;

use super::batch::take_shard;
use crate::error::{Error, Result};
use crate::eval::{GroundTruth, correlate, seeded_subset};
use crate::scoring::shard::Shard;
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

/// One row: the architectures selected by a proxy (or the oracle) and their accuracies
/// (`search-table --json` prints the rows; `schemas/search-table.schema.json`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Row {
    /// The proxy (or `oracle (best in sample)`).
    pub proxy: String,
    /// Per target: accuracies of the selected architecture in each run (NaN, `null` in JSON,
    /// for a run whose sample the proxy cannot order: every value tied).
    pub accuracies: Vec<Vec<f64>>,
    /// Per target: mean and std over runs (NaN when a run selected nothing).
    pub mean_std: Vec<(f64, f64)>,
    /// The selected architecture of each run (`None` where every value was tied).
    pub selected: Vec<Option<String>>,
    /// Per target: Kendall tau-b of the proxy with the accuracy over every architecture the
    /// runs sampled with a finite value (`None` for the oracle, and where the proxy's values are
    /// all tied).
    pub kendall: Vec<Option<f64>>,
    /// The published search result of this proxy on NAS-Bench-201, where one is known.
    pub published: Option<Published>,
}

/// A published NAS-Bench-201 search result: the test accuracy of the architecture a proxy
/// selects, mean over runs, on CIFAR-10, CIFAR-100 and ImageNet16-120.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct Published {
    /// Where it is printed.
    pub source: &'static str,
    /// Mean accuracy on CIFAR-10, CIFAR-100, ImageNet16-120.
    pub accuracy: [f64; 3],
}

impl Published {
    /// The published accuracy on one of NAS-Bench-201's test columns (`cifar10_test`,
    /// `cifar100_test`, `imagenet16_test`), `None` for another column.
    pub fn on(&self, target: &str) -> Option<f64> {
        match target {
            "cifar10_test" => Some(self.accuracy[0]),
            "cifar100_test" => Some(self.accuracy[1]),
            "imagenet16_test" => Some(self.accuracy[2]),
            _ => None,
        }
    }
}

/// The table.
#[derive(Debug, Clone)]
pub struct SearchTable {
    /// One row per proxy, then the oracle.
    pub rows: Vec<Row>,
    /// Architectures the runs sampled from.
    pub pool: usize,
    /// Distinct architectures the runs sampled (the Kendall tau's population).
    pub sampled: usize,
}

/// The rows of the InTrain paper's comparison table (the twelve baselines and InTrain), in its
/// order; the Markdown table lists them first, in this order.
pub const TABLE1: [&str; 13] = [
    "params",
    "flops",
    "grad-norm",
    "snip",
    "grasp",
    "synflow",
    "naswot",
    "te-nas",
    "zen",
    "zico",
    "az-nas",
    "vkdnw-agg",
    "intrain",
];

/// The InTrain paper's search table (supplementary Table 1: 5 runs of 5,000 architectures sampled
/// from NAS-Bench-201).
const INTRAIN_PAPER: &str = "InTrain supp. Table 1 (5 x 5,000)";

/// AZ-NAS's Table 1 (all 15,625 architectures; its sampling for the accuracy column is not
/// stated).
const AZ_NAS_PAPER: &str = "AZ-NAS Table 1";

/// The published search result of `proxy` on NAS-Bench-201: the InTrain paper's where it prints
/// one, else AZ-NAS's Table 1. The oracle's is [`PUBLISHED_OPTIMUM`].
pub fn published(proxy: &str) -> Option<Published> {
    let (source, accuracy) = match proxy {
        "intrain" => (INTRAIN_PAPER, [93.72, 71.05, 45.85]),
        "az-nas" => (INTRAIN_PAPER, [93.65, 70.92, 45.68]),
        "naswot" => (INTRAIN_PAPER, [92.82, 70.15, 44.68]),
        "params" => (INTRAIN_PAPER, [93.58, 70.75, 42.15]),
        "flops" => (AZ_NAS_PAPER, [93.61, 70.95, 41.67]),
        "snip" => (AZ_NAS_PAPER, [86.63, 56.53, 15.13]),
        "grasp" => (AZ_NAS_PAPER, [88.01, 61.43, 30.85]),
        "synflow" => (AZ_NAS_PAPER, [93.67, 71.70, 43.39]),
        "zen" => (AZ_NAS_PAPER, [89.55, 64.69, 37.18]),
        "zico" => (AZ_NAS_PAPER, [93.69, 70.63, 41.42]),
        _ => return None,
    };
    Some(Published { source, accuracy })
}

/// The best architecture in the InTrain paper's samples (its supplementary Table 1, as printed).
pub const PUBLISHED_OPTIMUM: Published =
    Published { source: INTRAIN_PAPER, accuracy: [94.35, 73.17, 47.18] };

/// What the runs sample: the ground truth, the size of the pool sampled from, each run's
/// sample, and every sampled architecture once (sorted).
struct Sampled {
    truth: GroundTruth,
    pool: usize,
    runs: Vec<Vec<String>>,
    all: Vec<String>,
}

/// The architectures the runs sample.
fn sampled_cells(
    space: &SearchSpace,
    spec: &TableSpec<'_>,
    scorer: &Scorer<'_>,
) -> Result<Sampled> {
    if !spec.truth.exists() {
        return Err(Error::Settings(format!(
            "{}: not found (the ground-truth table)",
            spec.truth.display()
        )));
    }
    let truth = GroundTruth::read(spec.truth, spec.arch_column)?;
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
    let mut all: Vec<String> = runs.iter().flatten().cloned().collect();
    all.sort();
    all.dedup();
    Ok(Sampled { truth, pool: pool.len(), runs, all })
}

/// Scores shard `shard`'s part of the architectures the runs sample, after writing the shard's
/// manifest beside the record file `records`; returns how many it owns. No table: merge the
/// shards' record files, then build the table on the merged file (it scores nothing again).
pub fn score_shard(
    space: &SearchSpace,
    spec: &TableSpec<'_>,
    scorer: &mut Scorer<'_>,
    shard: Shard,
    records: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<usize> {
    if spec.from_cache {
        return Err(Error::Usage(
            "--shard splits the sampled architectures; with --from-cache the cache already holds them".into(),
        ));
    }
    let sampled = sampled_cells(space, spec, scorer)?;
    let archs: Vec<Arch> =
        sampled.all.iter().map(|x| Arch::parse(space, x)).collect::<Result<_>>()?;
    let key = spec.protocol.key(&space_id(space), space.spec.input.resolution);
    let mine = take_shard(space, archs, &[key], shard, records)?;
    bar.set_length(mine.len() as u64);
    scorer.get_or_score_all(space, &mine, spec.protocol, &mut |_| bar.inc(1))?;
    Ok(mine.len())
}

/// Builds the table: scores what the record file lacks (through `scorer`), then selects.
pub fn build(
    space: &SearchSpace,
    spec: &TableSpec<'_>,
    scorer: &mut Scorer<'_>,
    bar: &indicatif::ProgressBar,
) -> Result<SearchTable> {
    let Sampled { truth, pool, runs, all } = sampled_cells(space, spec, scorer)?;
    let cols: Vec<&[f64]> = spec.targets.iter().map(|t| truth.column(t)).collect::<Result<_>>()?;
    let p = spec.protocol;
    let sampled: Vec<&String> = all.iter().collect();
    let missing: Vec<Arch> = sampled
        .iter()
        .filter(|x| !scorer.has(space, x, p))
        .map(|x| Arch::parse(space, x))
        .collect::<Result<_>>()?;
    bar.set_length(missing.len() as u64);
    scorer.get_or_score_all(space, &missing, p, &mut |_| bar.inc(1))?;
    let key = p.key(&space_id(space), space.spec.input.resolution);
    let records = scorer.records().ok_or_else(|| {
        Error::Settings("the search table needs a record file to select from".into())
    })?;
    let population: Vec<&ScoreRecord> =
        sampled.iter().filter_map(|x| records.get(&key, x)).collect();
    // Per target: the population's accuracies (NaN where the table lacks one).
    let population_truth: Vec<Vec<f64>> = cols
        .iter()
        .map(|col| {
            population.iter().map(|r| truth.row(&r.arch).map_or(f64::NAN, |i| col[i])).collect()
        })
        .collect();
    let mut rows = Vec::new();
    for &proxy in spec.proxies {
        let values = vec![proxy.pool_values(&population)];
        let kendall = population_truth
            .iter()
            .zip(spec.targets)
            .map(|(y, t)| {
                correlate(proxy.name(), t, &values, y, None, 0, 0).kendall.first().copied()
            })
            .collect();
        let mut row = Row {
            proxy: proxy.name().to_string(),
            accuracies: vec![Vec::new(); cols.len()],
            mean_std: Vec::new(),
            selected: Vec::new(),
            kendall,
            published: published(proxy.name()),
        };
        for sample in &runs {
            let recs: Vec<&ScoreRecord> =
                sample.iter().filter_map(|x| records.get(&key, x)).collect();
            // The sample is the pool of a rank aggregate.
            let values = proxy.pool_values(&recs);
            let finite: Vec<(&&ScoreRecord, f64)> =
                recs.iter().zip(values).filter(|(_, v)| v.is_finite()).collect();
            let (best, top) =
                finite.iter().max_by(|x, y| x.1.total_cmp(&y.1)).copied().ok_or_else(|| {
                    Error::Settings(format!("no finite {proxy} score in a sample"))
                })?;
            if finite.len() > 1 && finite.iter().all(|(_, v)| *v == top) {
                // Every value tied: the proxy selects nothing in this sample.
                for accuracies in &mut row.accuracies {
                    accuracies.push(f64::NAN);
                }
                row.selected.push(None);
                continue;
            }
            let r = truth.row(&best.arch).ok_or_else(|| {
                Error::Data(format!("{} not in {}", best.arch, spec.truth.display()))
            })?;
            for (c, col) in cols.iter().enumerate() {
                row.accuracies[c].push(col[r]);
            }
            row.selected.push(Some(best.arch.clone()));
        }
        row.mean_std = row.accuracies.iter().map(|v| mean_std(v)).collect();
        rows.push(row);
    }
    let mut oracle = Row {
        proxy: "oracle (best in sample)".into(),
        accuracies: vec![Vec::new(); cols.len()],
        mean_std: Vec::new(),
        selected: Vec::new(),
        kendall: vec![None; cols.len()],
        published: Some(PUBLISHED_OPTIMUM),
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
    Ok(SearchTable { rows, pool, sampled: sampled.len() })
}

impl SearchTable {
    /// The rows in the paper's order: those of [`TABLE1`] in its order, then the other proxies
    /// in the order asked for, then the oracle.
    pub fn paper_order(&self) -> Vec<&Row> {
        let position = |r: &Row| TABLE1.iter().position(|p| *p == r.proxy).unwrap_or(TABLE1.len());
        let Some((oracle, proxies)) = self.rows.split_last() else { return Vec::new() };
        let mut rows: Vec<&Row> = proxies.iter().collect();
        rows.sort_by_key(|r| position(r));
        rows.push(oracle);
        rows
    }
}
