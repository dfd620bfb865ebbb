//! Rank aggregates over a pool of scored architectures: intrain's InTrain-Agg, AZ-NAS (Lee &
//! Ham, CVPR 2024), VKDNW_agg (Tybl & Neumann, CVPR 2025) and TE-NAS (Chen et al., ICLR 2021, as
//! AZ-NAS ranks whole architectures with it). InTrain-Agg, AZ-NAS and VKDNW_agg sum
//! `ln(rank / m)` of their components, TE-NAS sums the ranks; components are ranked ascending
//! (average ranks for ties, a non-finite value as the worst) over the `m` architectures of the
//! pool (the cells an evaluation scores, the sample a search-table run draws, the distinct
//! architectures of a search's history). A single architecture has no aggregate; its
//! components are reported.

use super::{Needs, ProxyDef};

/// InTrain-Agg, intrain's default ranking: one data-free measure per property a network needs
/// to train well, rank-aggregated (`ln(rank / m)` summed, equal weights). Size: FLOPs.
/// Forward expressivity: InTrain's γ (the participation ratio of the activation covariances;
/// AZ-NAS's expressivity measures the same property, so it is not a second component).
/// Gradient health: InTrain's o (gradient std over max per parameter tensor). How expressivity
/// grows with depth: AZ-NAS's progressivity. Block-wise trainability (backward maps of spectral
/// norm near 1): AZ-NAS's trainability. Every component runs on Gaussian inputs, so the
/// aggregate needs no dataset, and none of them needs one backward pass per class or per
/// sample.
pub struct IntrainAgg;

impl ProxyDef for IntrainAgg {
    fn name(&self) -> &'static str {
        "intrain-agg"
    }
    fn about(&self) -> &'static str {
        "InTrain-Agg (intrain's default): sum of ln(rank/m) of FLOPs, InTrain's gamma and o, AZ progressivity and AZ trainability over the pool; data-free"
    }
    fn needs(&self) -> Needs {
        Needs::Pool
    }
    fn components(&self) -> &'static [&'static str] {
        &["flops", "gamma", "o", "az-progressivity", "az-trainability"]
    }
}

/// AZ-NAS: expressivity, progressivity, trainability and complexity (FLOPs), rank-aggregated.
pub struct AzNas;

impl ProxyDef for AzNas {
    fn name(&self) -> &'static str {
        "az-nas"
    }
    fn about(&self) -> &'static str {
        "AZ-NAS: sum of ln(rank/m) of expressivity, progressivity, trainability and FLOPs over the pool (Lee & Ham 2024)"
    }
    fn needs(&self) -> Needs {
        Needs::Pool
    }
    fn components(&self) -> &'static [&'static str] {
        &["az-expressivity", "az-progressivity", "az-trainability", "flops"]
    }
}

/// VKDNW_agg: VKDNW_single, Jacov, AZ-NAS expressivity and trainability, and FLOPs,
/// rank-aggregated (the paper's Eq. 15).
pub struct VkdnwAgg;

impl ProxyDef for VkdnwAgg {
    fn name(&self) -> &'static str {
        "vkdnw-agg"
    }
    fn about(&self) -> &'static str {
        "VKDNW_agg: sum of ln(rank/m) of VKDNW_single, Jacov, AZ expressivity, AZ trainability and FLOPs over the pool (Tybl & Neumann 2025)"
    }
    fn needs(&self) -> Needs {
        Needs::Pool
    }
    fn components(&self) -> &'static [&'static str] {
        &["vkdnw-single", "jacov", "az-expressivity", "az-trainability", "flops"]
    }
}

/// TE-NAS: the rank of the negated NTK condition number plus the rank of the number of linear
/// regions.
pub struct TeNas;

impl ProxyDef for TeNas {
    fn name(&self) -> &'static str {
        "te-nas"
    }
    fn about(&self) -> &'static str {
        "TE-NAS: rank of -(NTK condition number) plus rank of the linear-region count over the pool (Chen et al. 2021)"
    }
    fn needs(&self) -> Needs {
        Needs::Pool
    }
    fn components(&self) -> &'static [&'static str] {
        &["ntk", "linear-regions"]
    }
    fn log_ranks(&self) -> bool {
        false
    }
}

/// Ascending ranks from 1 with average ranks for ties (`scipy.stats.rankdata`), every
/// non-finite value (NaN, ±∞: a record file keeps them as `null`) as −∞.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let key = |v: f64| if v.is_finite() { v } else { f64::NEG_INFINITY };
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| key(values[a]).total_cmp(&key(values[b])));
    let mut ranks = vec![0f64; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && key(values[order[j + 1]]) == key(values[order[i]]) {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties_and_put_nan_last() {
        assert_eq!(average_ranks(&[3.0, 1.0, 3.0, f64::NAN]), vec![3.5, 2.0, 3.5, 1.0]);
        assert_eq!(average_ranks(&[f64::NEG_INFINITY, 0.0]), vec![1.0, 2.0]);
        assert_eq!(average_ranks(&[f64::INFINITY, 0.0, f64::NAN]), vec![1.5, 3.0, 1.5]);
    }
}
