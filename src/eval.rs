//! Evaluating proxies against ground truth: benchmark CSVs, cell sets, and rank correlations
//! (Kendall tau-b, Spearman rho) averaged over seeds with a bootstrap interval.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::scoring::records::{csv_error, csv_line, csv_reader, is_blank};
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
    crate::limits::read_text(path)
}

impl GroundTruth {
    /// Reads a CSV with a header; `arch_column` holds the architecture strings; every other
    /// column whose values all parse as numbers (empty cells are NaN) is kept.
    pub fn read(path: &Path, arch_column: &str) -> Result<GroundTruth> {
        let text = read_text(path)?;
        let mut rows = csv_reader(&text);
        let header = rows.headers().map_err(|e| csv_error(path, e))?.clone();
        let arch_at = header.iter().position(|h| h == arch_column).ok_or_else(|| {
            Error::Data(format!(
                "{}: no column '{arch_column}' (columns: {})",
                path.display(),
                header.iter().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let mut archs = Vec::new();
        let mut raw: Vec<Vec<Option<f64>>> = vec![Vec::new(); header.len()];
        for f in rows.records() {
            let f = f.map_err(|e| csv_error(path, e))?;
            if is_blank(&f) {
                continue;
            }
            if f.len() != header.len() {
                return Err(Error::Data(format!(
                    "{}:{}: {} fields, the header has {}",
                    path.display(),
                    csv_line(&text, &f),
                    f.len(),
                    header.len()
                )));
            }
            archs.push(f[arch_at].to_string());
            for (c, v) in f.iter().enumerate() {
                let v = v.trim();
                raw[c].push(if v.is_empty() { Some(f64::NAN) } else { v.parse().ok() });
            }
        }
        let columns = header
            .iter()
            .zip(raw)
            .filter_map(|(h, vals)| {
                vals.into_iter().collect::<Option<Vec<f64>>>().map(|v| (h.to_string(), v))
            })
            .collect();
        let index = archs.iter().enumerate().map(|(i, a)| (a.clone(), i)).collect();
        Ok(GroundTruth { archs, columns, index })
    }

    /// A numeric column.
    pub fn column(&self, name: &str) -> Result<&[f64]> {
        self.columns.get(name).map(Vec::as_slice).ok_or_else(|| {
            let known: Vec<&str> = self.columns.keys().map(String::as_str).collect();
            Error::Data(format!(
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
    let header = csv_reader(first).headers().map_err(|e| csv_error(path, e))?.clone();
    let out: Vec<String> = match header.iter().position(|h| h == arch_column) {
        Some(at) => {
            let mut out = Vec::new();
            for row in csv_reader(&text).records() {
                let row = row.map_err(|e| csv_error(path, e))?;
                if let Some(arch) = row.get(at).filter(|_| !is_blank(&row)) {
                    out.push(arch.to_string());
                }
            }
            out
        }
        None => text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    };
    if out.is_empty() {
        return Err(Error::Data(format!("{}: lists no architecture", path.display())));
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
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    /// Kendall tau-b within groups of architectures with the same parameter count (groups
    /// weighted by their number of pairs; mean over seeds): how well the proxy ranks
    /// architectures of equal size, where the parameter count itself ranks nothing.
    pub kendall_within_params: Option<f64>,
    /// Mean Spearman rho between the proxy's values under each pair of seeds (its stability
    /// across initialisations and inputs; two seeds or more).
    pub seed_spearman: Option<f64>,
}

/// Kendall tau-b within groups of equal `group` value (architectures of the same parameter
/// count, say), each group weighted by its number of pairs; `None` when no group has a defined
/// tau (two architectures or more, neither side constant).
pub fn kendall_within_groups(x: &[f64], y: &[f64], group: &[f64]) -> Option<f64> {
    let mut by_group: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, g) in group.iter().enumerate() {
        by_group.entry(g.to_bits()).or_default().push(i);
    }
    let (mut sum, mut weight) = (0.0, 0.0);
    for idx in by_group.values().filter(|idx| idx.len() >= 2) {
        let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        if let Some(t) = kendall_tau_b(&pick(x), &pick(y)) {
            let pairs = (idx.len() * (idx.len() - 1) / 2) as f64;
            sum += t * pairs;
            weight += pairs;
        }
    }
    (weight > 0.0).then(|| sum / weight)
}

/// Correlates a proxy (`scores[seed][arch]`) with a target (`truth[arch]`). Architectures
/// where any seed's score or the target is non-finite are left out (and counted). `groups`
/// (the parameter count of each architecture) adds the Kendall tau within equal groups.
pub fn correlate(
    proxy: &str,
    target: &str,
    scores: &[Vec<f64>],
    truth: &[f64],
    groups: Option<&[f64]>,
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
    let within: Vec<f64> = match groups {
        Some(g) => {
            let g: Vec<f64> = keep.iter().map(|&i| g[i]).collect();
            xs.iter().filter_map(|x| kendall_within_groups(x, &y, &g)).collect()
        }
        None => Vec::new(),
    };
    let mut pairs = Vec::new();
    for a in 0..xs.len() {
        for b in a + 1..xs.len() {
            pairs.extend(spearman_rho(&xs[a], &xs[b]));
        }
    }
    Correlation {
        proxy: proxy.into(),
        target: target.into(),
        kendall_within_params: (!within.is_empty()).then(|| mean_std(&within).0),
        seed_spearman: (!pairs.is_empty()).then(|| mean_std(&pairs).0),
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
/// reference table). The baselines' values are those of the paper's comparison table, which
/// reproduces VKDNW's Table 1 (each proxy run with its authors' code, 5 runs).
pub fn paper_value(proxy: &str, target: &str) -> (Option<f64>, Option<f64>) {
    let column = match target {
        "cifar10_test" => 0,
        "cifar100_test" => 1,
        "imagenet16_test" => 2,
        _ => return (None, None),
    };
    // (Kendall, Spearman) on CIFAR-10, CIFAR-100, ImageNet16-120.
    let table: Option<[(f64, f64); 3]> = match proxy {
        "flops" => Some([(0.623, 0.799), (0.586, 0.763), (0.545, 0.718)]),
        "grad-norm" => Some([(0.328, 0.438), (0.341, 0.451), (0.310, 0.418)]),
        "grasp" => Some([(0.352, 0.505), (0.349, 0.498), (0.359, 0.502)]),
        "snip" => Some([(0.431, 0.591), (0.440, 0.597), (0.389, 0.521)]),
        "synflow" => Some([(0.561, 0.758), (0.553, 0.750), (0.531, 0.719)]),
        "jacov" => Some([(0.616, 0.800), (0.639, 0.820), (0.602, 0.779)]),
        "naswot" => Some([(0.571, 0.762), (0.607, 0.799), (0.605, 0.794)]),
        "zen" => Some([(0.102, 0.103), (0.079, 0.072), (0.091, 0.109)]),
        "zico" => Some([(0.607, 0.802), (0.614, 0.809), (0.587, 0.779)]),
        "te-nas" => Some([(0.536, 0.722), (0.537, 0.723), (0.523, 0.709)]),
        "az-nas" => Some([(0.712, 0.892), (0.696, 0.880), (0.673, 0.859)]),
        "vkdnw-single" => Some([(0.618, 0.815), (0.634, 0.829), (0.622, 0.814)]),
        "vkdnw-agg" => Some([(0.750, 0.919), (0.753, 0.919), (0.743, 0.906)]),
        _ => None,
    };
    if let Some(t) = table {
        let (k, r) = t[column];
        return (Some(k), Some(r));
    }
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

    const CHAIN_A: &str = "w24:ir-k5-e3,skip|w64:ir-k3-e6";
    const CHAIN_B: &str = "skip|w24:conv-k1-relu";

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn ground_truth_reads_quoted_arch_strings_blank_lines_and_empty_cells() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "arch,acc,note\n\"{CHAIN_A}\",71.5,\"a, \"\"b\"\"\"\n\n  \n{CHAIN_B},,x\n\
             |nor_conv_3x3~0|+|none~0|skip_connect~1|,60,y\n"
        );
        let t = GroundTruth::read(&write(&dir, "t.csv", &text), "arch").expect("read");
        assert_eq!(t.archs, [CHAIN_A, CHAIN_B, "|nor_conv_3x3~0|+|none~0|skip_connect~1|"]);
        let acc = t.column("acc").expect("numeric");
        assert_eq!((acc[0], acc[2]), (71.5, 60.0));
        assert!(acc[1].is_nan());
        assert!(t.column("note").is_err());
        assert_eq!(t.row(CHAIN_B), Some(1));
    }

    #[test]
    fn ground_truth_names_the_line_with_the_wrong_field_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, "t.csv", &format!("arch,acc\n\"{CHAIN_A}\",1\n\nx,2,3\n"));
        let e = GroundTruth::read(&path, "arch").expect_err("bad row").to_string();
        assert!(e.ends_with("t.csv:4: 3 fields, the header has 2"), "{e}");
        let e = GroundTruth::read(&path, "arch_str").expect_err("no column").to_string();
        assert!(e.ends_with("no column 'arch_str' (columns: arch, acc)"), "{e}");
    }

    #[test]
    fn cell_lists_are_a_csv_column_or_one_string_per_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = write(&dir, "c.csv", &format!("id,arch\n1,\"{CHAIN_A}\"\n\n2,{CHAIN_B}\n"));
        assert_eq!(read_cell_list(&csv, "arch").expect("csv"), [CHAIN_A, CHAIN_B]);
        let lines = write(&dir, "c.txt", &format!("{CHAIN_A}  # first\n\n# comment\n{CHAIN_B}\n"));
        assert_eq!(read_cell_list(&lines, "arch").expect("lines"), [CHAIN_A, CHAIN_B]);
        let empty = write(&dir, "e.txt", "# nothing\n");
        assert!(read_cell_list(&empty, "arch").is_err());
    }

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
        let c = correlate("p", "t", &[s1, s2], &truth, None, 50, 0);
        assert_eq!((c.n, c.dropped), (4, 2));
        assert_eq!(c.kendall, vec![1.0, 1.0]);
        assert_eq!(c.kendall_mean_std, (1.0, 0.0));
        let (lo, hi) = c.kendall_ci95.expect("interval");
        assert!(lo <= 1.0 && hi == 1.0);
        assert!(c.seed_spearman.is_some_and(|r| (r - 1.0).abs() < 1e-12), "{:?}", c.seed_spearman);
        assert_eq!(c.kendall_within_params, None);
    }

    #[test]
    fn kendall_within_groups_ignores_what_separates_the_groups() {
        // Across groups the proxy follows the truth; within them it does not.
        let x = [1.0, 0.0, 11.0, 10.0, 12.0];
        let y = [0.0, 1.0, 10.0, 11.0, 12.0];
        let g = [1.0, 1.0, 2.0, 2.0, 2.0];
        let within = kendall_within_groups(&x, &y, &g).expect("defined");
        // Group 1: one discordant pair (tau -1); group 2: tau 1/3 over three pairs. Weighted
        // by pairs: (-1 + 3 / 3) / 4 = 0 (the unweighted mean would be -1/3).
        assert!(within.abs() < 1e-12, "{within}");
        assert!(kendall_tau_b(&x, &y).expect("tau") > 0.5);
        assert_eq!(kendall_within_groups(&x, &y, &[1.0, 2.0, 3.0, 4.0, 5.0]), None);
        let c = correlate("p", "t", &[x.to_vec()], &y, Some(&g), 0, 0);
        assert_eq!(c.kendall_within_params, Some(within));
        assert_eq!(c.seed_spearman, None);
    }
}
