//! Rank correlations and small summary statistics.
//!
//! The correlations follow `scipy.stats` exactly, ties included:
//! [`kendall_tau_b`] is `scipy.stats.kendalltau(x, y)` (variant `'b'`), computed in
//! O(n log n) with Knight's algorithm; [`spearman_rho`] is `scipy.stats.spearmanr(x, y)`,
//! the Pearson correlation of average ranks.
//!
//! # Non-finite inputs
//!
//! Every function here requires finite inputs: when any value of `x` or `y` is NaN or
//! infinite, the correlations and [`bootstrap_ci`] return `None` (they never silently rank a
//! NaN somewhere). Callers that want to drop such pairs use [`finite_pairs`] first. A length
//! mismatch between `x` and `y` also gives `None`.

use std::cmp::Ordering;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Keeps the pairs `(x[i], y[i])` where both values are finite (pairs beyond the shorter
/// slice are dropped).
pub fn finite_pairs(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    x.iter().zip(y).filter(|(a, b)| a.is_finite() && b.is_finite()).map(|(a, b)| (*a, *b)).unzip()
}

/// Whether `x` and `y` have the same length and only finite values.
fn valid(x: &[f64], y: &[f64]) -> bool {
    x.len() == y.len() && x.iter().chain(y).all(|v| v.is_finite())
}

/// Compares two finite values (`-0.0 == 0.0`, unlike `f64::total_cmp`).
fn cmp(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Number of pairs among `k` items.
fn pairs(k: u64) -> u64 {
    k * k.saturating_sub(1) / 2
}

/// Kendall's tau-b with ties handled as `scipy.stats.kendalltau` (variant `'b'`):
/// `(concordant - discordant) / sqrt((n0 - n1) (n0 - n2))`, where `n0 = n (n - 1) / 2`, `n1`
/// counts the pairs tied in `x` and `n2` those tied in `y`.
///
/// Runs in O(n log n) with Knight's algorithm: sort by `x` then `y`, count the tied pairs in
/// `x` and in both, count the discordant pairs as the swaps of a merge sort on `y`, then count
/// the tied pairs in `y` on the sorted `y`.
///
/// `None` when undefined: fewer than 2 values, all of `x` or all of `y` tied, a length
/// mismatch, or a non-finite value (see the [module docs](self)).
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    if !valid(x, y) || x.len() < 2 {
        return None;
    }
    let n = x.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_unstable_by(|&i, &j| cmp(x[i], x[j]).then(cmp(y[i], y[j])));

    // Tied pairs in x, and in both x and y, from runs of the sorted order.
    let (mut x_tie, mut xy_tie) = (0u64, 0u64);
    let (mut run_x, mut run_xy) = (1u64, 1u64);
    for w in idx.windows(2) {
        let (a, b) = (w[0], w[1]);
        if x[a] == x[b] {
            run_x += 1;
            if y[a] == y[b] {
                run_xy += 1;
            } else {
                xy_tie += pairs(run_xy);
                run_xy = 1;
            }
        } else {
            x_tie += pairs(run_x);
            xy_tie += pairs(run_xy);
            run_x = 1;
            run_xy = 1;
        }
    }
    x_tie += pairs(run_x);
    xy_tie += pairs(run_xy);

    // Discordant pairs: inversions of y in this order (ties in x are sorted by y, so they
    // add none; equal y values are not inversions).
    let mut ys: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
    let discordant = merge_sort_swaps(&mut ys);

    let mut y_tie = 0u64;
    let mut run_y = 1u64;
    for w in ys.windows(2) {
        if w[0] == w[1] {
            run_y += 1;
        } else {
            y_tie += pairs(run_y);
            run_y = 1;
        }
    }
    y_tie += pairs(run_y);

    let total = pairs(n as u64);
    if x_tie == total || y_tie == total {
        return None;
    }
    // Same arithmetic as scipy: con - dis = tot - xtie - ytie + ntie - 2 dis.
    let con_minus_dis =
        total as f64 - x_tie as f64 - y_tie as f64 + xy_tie as f64 - 2.0 * discordant as f64;
    let tau = con_minus_dis / ((total - x_tie) as f64).sqrt() / ((total - y_tie) as f64).sqrt();
    Some(tau.clamp(-1.0, 1.0))
}

/// Sorts `v` ascending (stable bottom-up merge sort) and returns the number of inversions:
/// pairs `i < j` with `v[i] > v[j]`.
fn merge_sort_swaps(v: &mut [f64]) -> u64 {
    let n = v.len();
    let mut buf = v.to_vec();
    let mut swaps = 0u64;
    let mut width = 1;
    // Alternate between `v` and `buf` as source; `in_v` says where the data is now.
    let mut in_v = true;
    while width < n {
        {
            let (src, dst): (&[f64], &mut [f64]) =
                if in_v { (&*v, &mut buf[..]) } else { (&buf[..], &mut *v) };
            let mut start = 0;
            while start < n {
                let mid = (start + width).min(n);
                let end = (start + 2 * width).min(n);
                let (mut i, mut j, mut k) = (start, mid, start);
                while i < mid && j < end {
                    if src[j] < src[i] {
                        dst[k] = src[j];
                        swaps += (mid - i) as u64;
                        j += 1;
                    } else {
                        dst[k] = src[i];
                        i += 1;
                    }
                    k += 1;
                }
                dst[k..k + (mid - i)].copy_from_slice(&src[i..mid]);
                k += mid - i;
                dst[k..k + (end - j)].copy_from_slice(&src[j..end]);
                start = end;
            }
        }
        in_v = !in_v;
        width *= 2;
    }
    if !in_v {
        v.copy_from_slice(&buf);
    }
    swaps
}

/// Kendall's tau-b by the O(n²) definition, comparing every pair. Same result and same
/// `None` cases as [`kendall_tau_b`]; it exists as a reference for tests.
pub fn kendall_tau_b_naive(x: &[f64], y: &[f64]) -> Option<f64> {
    if !valid(x, y) || x.len() < 2 {
        return None;
    }
    let n = x.len();
    let (mut con, mut dis, mut x_tie, mut y_tie) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = cmp(x[i], x[j]);
            let dy = cmp(y[i], y[j]);
            match (dx, dy) {
                (Ordering::Equal, Ordering::Equal) => {
                    x_tie += 1;
                    y_tie += 1;
                }
                (Ordering::Equal, _) => x_tie += 1,
                (_, Ordering::Equal) => y_tie += 1,
                _ if dx == dy => con += 1,
                _ => dis += 1,
            }
        }
    }
    let total = pairs(n as u64);
    if x_tie == total || y_tie == total {
        return None;
    }
    let tau = (con as f64 - dis as f64)
        / ((total - x_tie) as f64).sqrt()
        / ((total - y_tie) as f64).sqrt();
    Some(tau.clamp(-1.0, 1.0))
}

/// Average ranks, 1-based, as `scipy.stats.rankdata(x, method='average')`: tied values all
/// get the mean of the ranks they span. Requires finite values (a NaN gets an arbitrary rank).
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&i, &j| cmp(x[i], x[j]));
    let mut out = vec![0.0; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && x[idx[end]] == x[idx[start]] {
            end += 1;
        }
        // Ranks start + 1 ..= end, averaged.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &idx[start..end] {
            out[i] = rank;
        }
        start = end;
    }
    out
}

/// Pearson's correlation coefficient, clamped to [-1, 1] as `scipy.stats.pearsonr`.
///
/// `None` with fewer than 2 values, a constant `x` or `y`, a length mismatch or a non-finite
/// value.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if !valid(x, y) || x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    let r = sxy / (sxx.sqrt() * syy.sqrt());
    r.is_finite().then_some(r.clamp(-1.0, 1.0))
}

/// Spearman's rank correlation as `scipy.stats.spearmanr(x, y)`: the Pearson correlation of
/// the average [`ranks`]. `None` in the same cases as [`pearson`] (a constant input included).
pub fn spearman_rho(x: &[f64], y: &[f64]) -> Option<f64> {
    if !valid(x, y) {
        return None;
    }
    pearson(&ranks(x), &ranks(y))
}

/// Percentile bootstrap confidence interval of a paired statistic.
///
/// Draws `resamples` resamples of the pairs `(x[i], y[i])` with replacement (same size as
/// the data) from a [`ChaCha8Rng`] seeded with `seed`, evaluates `stat` on each, and returns
/// the `(1 - level) / 2` and `(1 + level) / 2` quantiles of the values (linear interpolation,
/// as `numpy.quantile`). Resamples where `stat` is undefined (for example all tied) are
/// skipped. Deterministic for a given seed.
///
/// `None` when the data is invalid (length mismatch, non-finite value, fewer than 2 pairs),
/// `resamples` is 0, `level` is not in (0, 1), or no resample gives a value.
pub fn bootstrap_ci(
    x: &[f64],
    y: &[f64],
    stat: fn(&[f64], &[f64]) -> Option<f64>,
    resamples: usize,
    seed: u64,
    level: f64,
) -> Option<(f64, f64)> {
    if !valid(x, y) || x.len() < 2 || resamples == 0 || !(level > 0.0 && level < 1.0) {
        return None;
    }
    let n = x.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut xs, mut ys) = (vec![0.0; n], vec![0.0; n]);
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for k in 0..n {
            let i = rng.random_range(0..n);
            xs[k] = x[i];
            ys[k] = y[i];
        }
        if let Some(v) = stat(&xs, &ys).filter(|v| v.is_finite()) {
            values.push(v);
        }
    }
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let alpha = (1.0 - level) / 2.0;
    Some((quantile(&values, alpha), quantile(&values, 1.0 - alpha)))
}

/// Quantile `q` of sorted, non-empty `v` with linear interpolation (numpy's default).
pub fn quantile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let frac = pos - lo as f64;
    v[lo] + (v[hi] - v[lo]) * frac
}

/// Mean and sample standard deviation (divisor n - 1) of `v`. The standard deviation is 0
/// for a single value; both are NaN for an empty slice.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() == 1 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}
