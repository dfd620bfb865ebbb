//! Evaluating proxies against ground truth: benchmark CSVs, cell sets, and rank correlations
//! (Kendall tau-b, Spearman rho) averaged over seeds with a bootstrap interval.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::scoring::records::csv_split;
use crate::stats::{kendall_tau_b, mean_std, quantile, spearman_rho};

/// A benchmark table: one row per architecture, numeric columns by name.
#[derive(Debug, Clone)]
pub struct GroundTruth {
    /// Architecture strings, in file order.
    pub archs: Vec<String>,
    columns: BTreeMap<String, Vec<f64>>,
    index: HashMap<String, usize>,
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

impl GroundTruth {
    /// Reads a CSV with a header; `arch_column` holds the architecture strings; every other
    /// column whose values all parse as numbers (empty cells are NaN) is kept.
    pub fn read(path: &Path, arch_column: &str) -> Result<GroundTruth> {
        let text = read_text(path)?;
        let mut lines = text.lines();
        let header = csv_split(lines.next().unwrap_or(""));
        let arch_at = header.iter().position(|h| h == arch_column).ok_or_else(|| {
            Error::Usage(format!(
                "{}: no column '{arch_column}' (columns: {})",
                path.display(),
                header.join(", ")
            ))
        })?;
        let mut archs = Vec::new();
        let mut raw: Vec<Vec<Option<f64>>> = vec![Vec::new(); header.len()];
        for (i, line) in lines.enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let f = csv_split(line);
            if f.len() != header.len() {
                return Err(Error::Usage(format!(
                    "{}:{}: {} fields, the header has {}",
                    path.display(),
                    i + 2,
                    f.len(),
                    header.len()
                )));
            }
            archs.push(f[arch_at].clone());
            for (c, v) in f.iter().enumerate() {
                let v = v.trim();
                raw[c].push(if v.is_empty() { Some(f64::NAN) } else { v.parse().ok() });
            }
        }
        let columns = header
            .iter()
            .zip(raw)
            .filter_map(|(h, vals)| {
                vals.into_iter().collect::<Option<Vec<f64>>>().map(|v| (h.clone(), v))
            })
            .collect();
        let index = archs.iter().enumerate().map(|(i, a)| (a.clone(), i)).collect();
        Ok(GroundTruth { archs, columns, index })
    }

    /// A numeric column.
    pub fn column(&self, name: &str) -> Result<&[f64]> {
        self.columns.get(name).map(Vec::as_slice).ok_or_else(|| {
            let known: Vec<&str> = self.columns.keys().map(String::as_str).collect();
            Error::Usage(format!(
                "no numeric column '{name}' (numeric columns: {})",
                known.join(", ")
            ))
        })
    }

    /// The row of an architecture.
    pub fn row(&self, arch: &str) -> Option<usize> {
        self.index.get(arch).copied()
    }
}

/// Reads a list of architectures: a CSV whose header has `arch_column`, or one string per line.
pub fn read_cell_list(path: &Path, arch_column: &str) -> Result<Vec<String>> {
    let text = read_text(path)?;
    let first = text.lines().next().unwrap_or("");
    let header = csv_split(first);
    let out: Vec<String> = match header.iter().position(|h| h == arch_column) {
        Some(at) => text
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| csv_split(l).get(at).cloned())
            .collect(),
        None => text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    };
    if out.is_empty() {
        return Err(Error::Usage(format!("{}: lists no architecture", path.display())));
    }
    Ok(out)
}

/// A seeded sample of `n` items (all when `n` is at least the length), in sampled order.
pub fn seeded_subset(items: &[String], n: usize, seed: u64) -> Vec<String> {
    let mut v = items.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Fisher-Yates, first n positions only.
    let n = n.min(v.len());
    for i in 0..n {
        let j = rng.random_range(i..v.len());
        v.swap(i, j);
    }
    v.truncate(n);
    v
}

/// The rank correlation of one proxy with one target.
#[derive(Debug, Clone, Serialize)]
pub struct Correlation {
    /// Proxy name.
    pub proxy: String,
    /// Target column.
    pub target: String,
    /// Architectures with finite proxy and target values.
    pub n: usize,
    /// Architectures left out for a non-finite value.
    pub dropped: usize,
    /// Kendall tau-b per seed.
    pub kendall: Vec<f64>,
    /// Spearman rho per seed.
    pub spearman: Vec<f64>,
    /// Mean and sample std of Kendall over seeds.
    pub kendall_mean_std: (f64, f64),
    /// Mean and sample std of Spearman over seeds.
    pub spearman_mean_std: (f64, f64),
    /// Bootstrap 95% interval of the seed-mean Kendall (resampling architectures).
    pub kendall_ci95: Option<(f64, f64)>,
    /// Bootstrap 95% interval of the seed-mean Spearman.
    pub spearman_ci95: Option<(f64, f64)>,
}

/// Correlates a proxy (`scores[seed][arch]`) with a target (`truth[arch]`). Architectures
/// where any seed's score or the target is non-finite are left out (and counted).
pub fn correlate(
    proxy: &str,
    target: &str,
    scores: &[Vec<f64>],
    truth: &[f64],
    resamples: usize,
    seed: u64,
) -> Correlation {
    let keep: Vec<usize> = (0..truth.len())
        .filter(|&i| truth[i].is_finite() && scores.iter().all(|s| s[i].is_finite()))
        .collect();
    let y: Vec<f64> = keep.iter().map(|&i| truth[i]).collect();
    let xs: Vec<Vec<f64>> = scores.iter().map(|s| keep.iter().map(|&i| s[i]).collect()).collect();
    let stat = |f: fn(&[f64], &[f64]) -> Option<f64>, idx: Option<&[usize]>| -> Vec<f64> {
        xs.iter()
            .filter_map(|x| match idx {
                None => f(x, &y),
                Some(idx) => {
                    let xr: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
                    let yr: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
                    f(&xr, &yr)
                }
            })
            .collect()
    };
    let kendall = stat(kendall_tau_b, None);
    let spearman = stat(spearman_rho, None);
    let (mut kb, mut sb) = (Vec::new(), Vec::new());
    if y.len() >= 3 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..resamples {
            let idx: Vec<usize> = (0..y.len()).map(|_| rng.random_range(0..y.len())).collect();
            let k = stat(kendall_tau_b, Some(&idx));
            let s = stat(spearman_rho, Some(&idx));
            if !k.is_empty() {
                kb.push(mean_std(&k).0);
            }
            if !s.is_empty() {
                sb.push(mean_std(&s).0);
            }
        }
    }
    let ci = |mut v: Vec<f64>| {
        (!v.is_empty()).then(|| {
            v.sort_by(f64::total_cmp);
            (quantile(&v, 0.025), quantile(&v, 0.975))
        })
    };
    Correlation {
        proxy: proxy.into(),
        target: target.into(),
        n: y.len(),
        dropped: truth.len() - y.len(),
        kendall_mean_std: mean_std(&kendall),
        spearman_mean_std: mean_std(&spearman),
        kendall,
        spearman,
        kendall_ci95: ci(kb),
        spearman_ci95: ci(sb),
    }
}

/// The paper's Kendall tau (and Spearman rho where printed) on NAS-Bench-201's 9,445 cells
/// (as the paper prints them, means over 5 runs; the parameter count's value comes from NASLib's
/// reference table).
pub fn paper_value(proxy: &str, target: &str) -> (Option<f64>, Option<f64>) {
    match (proxy, target) {
        ("intrain", "cifar10_test") => (Some(0.669), Some(0.857)),
        ("intrain", "cifar100_test") => (Some(0.671), None),
        ("intrain", "imagenet16_test") => (Some(0.675), None),
        ("gamma", "cifar10_test") => (Some(0.61), Some(0.82)),
        ("o", "cifar10_test") => (Some(0.63), Some(0.83)),
        ("additive", "cifar10_test") => (Some(0.59), Some(0.80)),
        ("params", "cifar10_test") => (Some(0.623), None),
        _ => (None, None),
    }
}

/// The paper's batch-size study (CIFAR-10, 9,445 cells): (B, Kendall, Spearman, latency ms on
/// an RTX 4090).
pub const PAPER_BATCH_STUDY: [(usize, f64, f64, f64); 6] = [
    (1, 0.643, 0.839, 25.73),
    (8, 0.651, 0.848, 28.56),
    (16, 0.659, 0.850, 32.95),
    (32, 0.662, 0.852, 34.41),
    (64, 0.669, 0.857, 37.29),
    (128, 0.671, 0.858, 44.65),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_is_seeded_and_distinct() {
        let items: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let a = seeded_subset(&items, 10, 1);
        assert_eq!(a, seeded_subset(&items, 10, 1));
        assert_ne!(a, seeded_subset(&items, 10, 2));
        let mut d = a.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 10);
        assert_eq!(seeded_subset(&items, 1000, 0).len(), 100);
    }

    #[test]
    fn correlation_of_a_perfect_proxy_is_one_and_drops_non_finite() {
        let truth = vec![1.0, 2.0, 3.0, 4.0, f64::NAN, 6.0];
        let s1 = vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0];
        let s2 = vec![1.0, 2.0, 3.0, 4.0, 5.0, f64::INFINITY];
        let c = correlate("p", "t", &[s1, s2], &truth, 50, 0);
        assert_eq!((c.n, c.dropped), (4, 2));
        assert_eq!(c.kendall, vec![1.0, 1.0]);
        assert_eq!(c.kendall_mean_std, (1.0, 0.0));
        let (lo, hi) = c.kendall_ci95.expect("interval");
        assert!(lo <= 1.0 && hi == 1.0);
    }
}
