//! Descriptions of a space for people: size, functionally distinct cells, the cost range, an
//! example; and seeded samples within a budget.

use serde::Serialize;

use super::spec::FlopsSpec;
use super::{Arch, Budget, Cost, SearchSpace, SpaceKind, rng};
use crate::error::{Error, Result};
use crate::limits::Limits;

/// An architecture with its canonical form and costs.
#[derive(Debug, Clone, Serialize)]
pub struct ArchInfo {
    /// The architecture string.
    pub arch: String,
    /// Its canonical form (functionally identical architectures share it).
    pub canonical: String,
    /// Its costs.
    #[serde(flatten)]
    pub cost: Cost,
    /// NAS-Bench-101's module hash of the cell (node-cell spaces): the key of the benchmark's
    /// records when the space lists the ops in the benchmark's order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_hash: Option<String>,
}

impl ArchInfo {
    /// The description of `arch`.
    pub fn new(space: &SearchSpace, arch: &Arch) -> Result<ArchInfo> {
        Ok(ArchInfo {
            arch: arch.format(space),
            canonical: arch.canonical(space).format(space),
            cost: space.cost(arch)?,
            module_hash: arch.as_node_cell().and_then(|c| c.module_hash()),
        })
    }
}

/// What "FLOPs" means in a space, for reports.
pub fn flops_convention(s: &SearchSpace) -> &'static str {
    match s.spec.flops {
        FlopsSpec::Macs => "multiply-adds",
        FlopsSpec::Tensorwatch => "NAS-Bench-201 counter",
    }
}

/// A space described (the JSON of `intrain space`).
#[derive(Debug, Clone, Serialize)]
pub struct SpaceReport {
    /// The space's name.
    pub name: String,
    /// `cell`, `node_cell`, `two_input_cell` or `chain`.
    pub kind: &'static str,
    /// Searched edges of the cell: every node pair of a `cell`, the most edges of a `node_cell`,
    /// two per node of a `two_input_cell`.
    pub edges: usize,
    /// The operations.
    pub ops: Vec<String>,
    /// Stages (chain spaces).
    pub stages: usize,
    /// Fewest and most blocks (chain spaces).
    pub blocks: [usize; 2],
    /// Architectures (`None` above 2^64); for node-cell spaces, the labelled cells sampling draws
    /// from (`None` for spaces too large to enumerate).
    pub size: Option<u64>,
    /// Functionally distinct cells (cell spaces up to 20,000 architectures; node-cell spaces
    /// small enough to enumerate, up to isomorphism).
    pub canonical: Option<usize>,
    /// What the cost range was taken over.
    pub range_over: String,
    /// What FLOPs count.
    pub flops_count: &'static str,
    /// Fewest and most parameters.
    pub params: [u64; 2],
    /// Fewest and most FLOPs.
    pub flops: [u64; 2],
    /// A seeded example.
    pub example: ArchInfo,
}

/// Spaces up to this size are enumerated for their cost range and canonical count.
const ENUMERATE_UP_TO: u64 = 20_000;

/// The parameter and FLOPs range, and over what it was taken: exact bounds for chain spaces,
/// every architecture of small cell spaces, else a seeded sample of `sample`.
fn ranges(
    s: &SearchSpace,
    sample: usize,
    seed: u64,
    bar: &indicatif::ProgressBar,
) -> Result<([u64; 2], [u64; 2], String)> {
    if let Some(b) = s.bounds()? {
        let p = [b.min_params.1.params, b.max_params.1.params];
        let f = [b.min_flops.1.flops, b.max_flops.1.flops];
        return Ok((p, f, "the whole space (exact bounds)".into()));
    }
    let size = s.size();
    let enumerate = size.is_some_and(|n| n <= ENUMERATE_UP_TO);
    let count = if enumerate { size.unwrap_or(0) } else { sample as u64 };
    Limits::current().check_archs("describing the space", count)?;
    let archs: Vec<Arch> = if enumerate {
        (0..size.unwrap_or(0)).filter_map(|i| Arch::from_index(s, i)).collect()
    } else {
        let mut r = rng(seed);
        (0..sample).map(|_| Arch::sample(s, &mut r)).collect()
    };
    // Every architecture is costed: parameters count dead edges too.
    bar.set_length(archs.len() as u64);
    let (mut p, mut f) = ([u64::MAX, 0], [u64::MAX, 0]);
    for x in &archs {
        let c = s.cost(x)?;
        p = [p[0].min(c.params), p[1].max(c.params)];
        f = [f[0].min(c.flops), f[1].max(c.flops)];
        bar.inc(1);
    }
    let over = if enumerate {
        "all architectures".into()
    } else {
        format!("a seeded sample of {}", archs.len())
    };
    Ok((p, f, over))
}

/// Describes a space; `sample` architectures (seeded by `seed`) give the cost range of a large
/// cell space.
pub fn describe(
    s: &SearchSpace,
    sample: usize,
    seed: u64,
    bar: &indicatif::ProgressBar,
) -> Result<SpaceReport> {
    let (size, canonical) = if s.kind() == SpaceKind::NodeCell {
        super::node_cell::count(s).map_or((None, None), |(n, d)| (Some(n), Some(d as usize)))
    } else {
        let size = s.size();
        let canonical = (s.kind() != SpaceKind::Chain
            && size.is_some_and(|n| n <= ENUMERATE_UP_TO))
        .then(|| {
            (0..size.unwrap_or(0))
                .filter_map(|i| Arch::from_index(s, i))
                .map(|x| x.canonical(s))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        });
        (size, canonical)
    };
    let (params, flops, range_over) = ranges(s, sample, seed, bar)?;
    let mut r = rng(seed);
    let example = ArchInfo::new(s, &Arch::sample(s, &mut r))?;
    let chain = s.chain_stages();
    let mut ops: Vec<String> = s.op_names().iter().map(|x| x.to_string()).collect();
    for st in chain {
        for (n, _) in &st.ops {
            if !ops.contains(n) {
                ops.push(n.clone());
            }
        }
    }
    let blocks = [
        chain.iter().map(|st| st.depths.iter().min().copied().unwrap_or(0)).sum(),
        chain.iter().map(|st| st.depths.iter().max().copied().unwrap_or(0)).sum(),
    ];
    Ok(SpaceReport {
        name: s.spec.name.clone(),
        kind: s.kind().name(),
        edges: s.edges(),
        ops,
        stages: chain.len(),
        blocks,
        size,
        canonical,
        range_over,
        flops_count: flops_convention(s),
        params,
        flops,
        example,
    })
}

/// `n` seeded samples of `s` within `budget`, drawing at most `max_tries` (at least `n`) times;
/// `bar` counts the draws. A budget below the space's exact lower bound is an error at once,
/// naming the cheapest architecture.
pub fn sample_within(
    s: &SearchSpace,
    budget: &Budget,
    n: usize,
    seed: u64,
    max_tries: usize,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<ArchInfo>> {
    if let Some(b) = s.bounds()? {
        let (arch, c) = &b.min_flops;
        if let Some(m) = budget.max_flops.filter(|m| c.flops as f64 > m.value()) {
            return Err(Error::OverBudget {
                limit: "flops",
                reason: format!(
                    "no architecture of '{}' meets a FLOPs budget of {m}: the cheapest has {} FLOPs ({}): {}",
                    s.spec.name,
                    c.flops,
                    flops_convention(s),
                    arch.format(s)
                ),
            });
        }
        let (arch, c) = &b.min_params;
        if let Some(m) = budget.max_params.filter(|m| c.params as f64 > m.value()) {
            return Err(Error::OverBudget {
                limit: "params",
                reason: format!(
                    "no architecture of '{}' meets a parameter budget of {m}: the smallest has {} parameters: {}",
                    s.spec.name,
                    c.params,
                    arch.format(s)
                ),
            });
        }
    }
    let max_tries = max_tries.max(n);
    Limits::current().check_archs("sampling", max_tries as u64)?;
    let mut r = rng(seed);
    let mut out = Vec::new();
    bar.set_length(max_tries as u64);
    for _ in 0..max_tries {
        if out.len() == n {
            break;
        }
        bar.inc(1);
        let info = ArchInfo::new(s, &Arch::sample(s, &mut r))?;
        if budget.admits(&info.cost) {
            out.push(info);
        }
    }
    if out.len() < n {
        return Err(Error::Settings(format!(
            "only {} of {n} sampled architectures meet the budget after {max_tries} draws; relax the budget",
            out.len()
        )));
    }
    Ok(out)
}
