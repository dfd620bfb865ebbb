//! The evaluation grid: a cell set of a benchmark space scored under several seeds and batch
//! sizes, each proxy correlated with each ground-truth column (Kendall tau-b, Spearman rho,
//! mean and std over seeds, bootstrap 95% interval).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::batch::take_shard;
use crate::error::{Error, Result};
use crate::eval::{Correlation, GroundTruth, correlate, read_cell_list, seeded_subset};
use crate::scoring::shard::Shard;
use crate::scoring::{Protocol, Proxy, ScoreRecord, Scorer, space_id};
use crate::space::{Arch, SearchSpace};

/// Ground-truth and cell-set presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// NAS-Bench-201, the 9,445 functionally distinct cells (the paper's protocol).
    Nb201,
    /// NAS-Bench-201, all 15,625 cells.
    Nb201All,
    /// No preset: the truth table, its target columns (and a cell set) are given.
    None,
}

/// Where the space, the ground truth and the cell set come from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The space file.
    pub space: PathBuf,
    /// The preset.
    pub preset: Preset,
    /// Folder of the NAS-Bench-201 tables the presets read.
    pub data: PathBuf,
    /// A ground-truth CSV (overrides the preset's).
    pub truth: Option<PathBuf>,
    /// Its architecture column.
    pub arch_column: String,
    /// Accuracy columns (overrides the preset's).
    pub targets: Option<Vec<String>>,
    /// A cell-set file (overrides the preset's).
    pub cells: Option<PathBuf>,
    /// A seeded sample of this many cells of the set.
    pub sample: Option<usize>,
    /// Seed of the sample.
    pub sample_seed: u64,
}

/// The resolved inputs of an evaluation.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The space.
    pub space: SearchSpace,
    /// The ground truth.
    pub truth: GroundTruth,
    /// Its accuracy columns correlated with.
    pub targets: Vec<String>,
    /// The cells evaluated (architecture strings).
    pub cells: Vec<String>,
    /// A description of the cell set, for reports.
    pub cell_set: String,
}

impl Inputs {
    /// Reads the space, the ground truth and the cell set.
    pub fn resolve(s: &Sources) -> Result<Inputs> {
        let space = SearchSpace::read(&s.space)?;
        let need = |p: &Path| -> Result<()> {
            if p.exists() {
                Ok(())
            } else {
                Err(Error::Settings(format!(
                    "{}: not found (the NAS-Bench-201 presets read the folder of NAS-Bench-201 tables; give that folder, or no preset and a truth table)",
                    p.display()
                )))
            }
        };
        let (truth_path, default_cells, default_targets): (PathBuf, Option<PathBuf>, Vec<String>) =
            match s.preset {
                Preset::None => (
                    s.truth.clone().ok_or_else(|| {
                        Error::Settings(
                            "without a preset, give a ground-truth table and its target columns"
                                .into(),
                        )
                    })?,
                    None,
                    Vec::new(),
                ),
                Preset::Nb201 | Preset::Nb201All => (
                    s.truth.clone().unwrap_or_else(|| s.data.join("nb201_all.csv")),
                    (s.preset == Preset::Nb201).then(|| s.data.join("nb201_unique_9445.csv")),
                    ["cifar10_test", "cifar100_test", "imagenet16_test"].map(String::from).to_vec(),
                ),
            };
        need(&truth_path)?;
        let truth = GroundTruth::read(&truth_path, &s.arch_column)?;
        let targets = s.targets.clone().unwrap_or(default_targets);
        if targets.is_empty() {
            return Err(Error::Settings(format!(
                "{}: no target columns given (accuracy columns of the table)",
                truth_path.display()
            )));
        }
        for t in &targets {
            truth.column(t).map_err(|e| Error::Data(format!("{}: {e}", truth_path.display())))?;
        }
        let (all, set_name) = match s.cells.clone().or(default_cells) {
            Some(f) => {
                need(&f)?;
                let name =
                    f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                (read_cell_list(&f, &s.arch_column)?, name)
            }
            None => (truth.archs.clone(), "all rows".to_string()),
        };
        for c in &all {
            if truth.row(c).is_none() {
                return Err(Error::Data(format!("cell {c} is not in {}", truth_path.display())));
            }
        }
        let cells = match s.sample {
            Some(n) => seeded_subset(&all, n, s.sample_seed),
            None => all.clone(),
        };
        let cell_set = match s.sample {
            Some(n) if n < all.len() => format!(
                "{} of {} ({set_name}), sample seed {}",
                cells.len(),
                all.len(),
                s.sample_seed
            ),
            _ => format!("all {} ({set_name})", all.len()),
        };
        Ok(Inputs { space, truth, targets, cells, cell_set })
    }
}

/// The settings of the grid.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The protocol; its batch and seed are replaced by each of `batches` and `seeds`.
    pub protocol: Protocol,
    /// Scoring seeds (results are mean and std over them).
    pub seeds: Vec<u64>,
    /// Batch sizes (several give the batch-size study).
    pub batches: Vec<usize>,
    /// Proxies to correlate.
    pub proxies: Vec<Proxy>,
    /// Bootstrap resamples for the 95% intervals (0: none).
    pub bootstrap: usize,
    /// Also correlate each rank aggregate with each of its components left out in turn.
    pub ablations: bool,
}

/// One row of an evaluation: a proxy, or a rank aggregate with one component left out.
#[derive(Debug, Clone, Copy)]
struct Row {
    proxy: Proxy,
    left_out: Option<Proxy>,
}

impl Row {
    fn name(&self) -> String {
        match self.left_out {
            Some(c) => ablation_name(self.proxy, c),
            None => self.proxy.name().to_string(),
        }
    }
}

/// The row name of a rank aggregate with one component left out: `AGGREGATE -COMPONENT`.
fn ablation_name(aggregate: Proxy, left_out: Proxy) -> String {
    format!("{aggregate} -{left_out}")
}

/// The result for one batch size (`eval --json` prints one per batch size;
/// `schemas/eval.schema.json`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EvalResult {
    /// Batch size.
    pub batch: usize,
    /// Protocol (of the first seed).
    pub protocol: Protocol,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Per target and proxy.
    pub correlations: Vec<Correlation>,
    /// Mean forward+backward pass time per architecture (ms; first run of a fresh session).
    pub mean_pass_ms: f64,
    /// Mean end-to-end time per architecture (ms; lowering, differentiation, session, pass).
    pub mean_total_ms: f64,
    /// Scores with NaN/Inf somewhere (reported per layer; left out of the score).
    pub non_finite_archs: usize,
}

/// The outcome of a grid.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    /// One result per batch size.
    pub results: Vec<EvalResult>,
    /// `records[batch][seed][cell]`.
    pub records: Vec<Vec<Vec<ScoreRecord>>>,
    /// Scores looked up.
    pub total: usize,
    /// Of them, taken from the record file.
    pub reused: usize,
}

impl Grid {
    /// The protocol for one batch size and seed.
    pub fn protocol(&self, batch: usize, seed: u64) -> Protocol {
        Protocol { batch, seed, ..self.protocol.clone() }
    }

    /// Scores shard `shard`'s part of the cells under every batch size and seed through
    /// `scorer`, after writing the shard's manifest beside the record file `records`; returns
    /// the number of scores. No correlations: they need every cell, so the shards' record files
    /// are merged and the evaluation runs on the merged file.
    pub fn score_shard(
        &self,
        inp: &Inputs,
        scorer: &mut Scorer<'_>,
        shard: Shard,
        records: &Path,
        bar: &indicatif::ProgressBar,
    ) -> Result<usize> {
        let archs: Vec<Arch> =
            inp.cells.iter().map(|c| Arch::parse(&inp.space, c)).collect::<Result<_>>()?;
        let id = space_id(&inp.space);
        let res = inp.space.spec.input.resolution;
        let protocols: Vec<Protocol> = self
            .batches
            .iter()
            .flat_map(|&b| self.seeds.iter().map(move |&s| (b, s)))
            .map(|(b, s)| self.protocol(b, s))
            .collect();
        let keys: Vec<String> = protocols.iter().map(|p| p.key(&id, res)).collect();
        let mine = take_shard(&inp.space, archs, &keys, shard, records)?;
        bar.set_length((mine.len() * protocols.len()) as u64);
        for p in &protocols {
            scorer.get_or_score_all(&inp.space, &mine, p, &mut |_| bar.inc(1))?;
        }
        Ok(mine.len() * protocols.len())
    }

    /// Scores every cell under every batch size and seed through `scorer`, then correlates.
    pub fn run(
        &self,
        inp: &Inputs,
        scorer: &mut Scorer<'_>,
        bar: &indicatif::ProgressBar,
    ) -> Result<EvalOutcome> {
        if self.seeds.is_empty() || self.batches.is_empty() || self.batches.contains(&0) {
            return Err(Error::Settings(
                "an evaluation needs at least one seed and one batch size (batch > 0)".into(),
            ));
        }
        let archs: Vec<Arch> =
            inp.cells.iter().map(|c| Arch::parse(&inp.space, c)).collect::<Result<_>>()?;
        let total = archs.len() * self.seeds.len() * self.batches.len();
        bar.set_length(total as u64);
        let reused_before = scorer.reused();
        let mut records: Vec<Vec<Vec<ScoreRecord>>> = Vec::new();
        for &b in &self.batches {
            let mut per_seed = Vec::new();
            for &s in &self.seeds {
                let p = self.protocol(b, s);
                per_seed
                    .push(scorer.get_or_score_all(&inp.space, &archs, &p, &mut |_| bar.inc(1))?);
            }
            records.push(per_seed);
        }
        let mut rows: Vec<Row> = Vec::new();
        for &proxy in &self.proxies {
            rows.push(Row { proxy, left_out: None });
            if self.ablations {
                rows.extend(
                    proxy.components().into_iter().map(|c| Row { proxy, left_out: Some(c) }),
                );
            }
        }
        let mut results = Vec::new();
        for (bi, &b) in self.batches.iter().enumerate() {
            let recs = &records[bi];
            let params: Vec<f64> = recs[0].iter().map(|r| r.params as f64).collect();
            // Per row and seed, over the evaluated cells (the pool of a rank aggregate).
            let scores: Vec<Vec<Vec<f64>>> = rows
                .iter()
                .map(|row| {
                    recs.iter()
                        .map(|seed| {
                            let pool: Vec<&ScoreRecord> = seed.iter().collect();
                            row.proxy.pool_values_without(&pool, row.left_out)
                        })
                        .collect()
                })
                .collect();
            let mut correlations = Vec::new();
            for t in &inp.targets {
                let col = inp.truth.column(t)?;
                let y: Vec<f64> = inp
                    .cells
                    .iter()
                    .map(|c| inp.truth.row(c).map_or(f64::NAN, |r| col[r]))
                    .collect();
                for (row, s) in rows.iter().zip(&scores) {
                    let name = row.name();
                    correlations.push(correlate(&name, t, s, &y, Some(&params), self.bootstrap, 0));
                }
            }
            let n = (recs.len() * archs.len()).max(1) as f64;
            let flat = || recs.iter().flatten();
            results.push(EvalResult {
                batch: b,
                protocol: self.protocol(b, self.seeds[0]),
                seeds: self.seeds.clone(),
                correlations,
                mean_pass_ms: flat().map(|r| r.pass_seconds).sum::<f64>() * 1e3 / n,
                mean_total_ms: flat().map(|r| r.seconds).sum::<f64>() * 1e3 / n,
                non_finite_archs: flat().filter(|r| r.non_finite > 0).count(),
            });
        }
        Ok(EvalOutcome { results, records, total, reused: scorer.reused() - reused_before })
    }
}
