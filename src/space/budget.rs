//! Costs of architectures, computed from the lowered graph (not from formulas), and the exact
//! cost bounds of chain spaces for budgets and ranges.

use std::collections::HashMap;

use super::chain::{ChainStage, Dim};
use super::spec::FlopsSpec;
use super::{Arch, BlockArch, ChainArch, LowerOptions, SearchSpace, SpaceKind, StageArch};
use crate::amount::Amount;
use crate::error::Result;
use crate::ir::Graph;
use crate::ir::cost::{graph_cost, node_cost, parameters};
use crate::limits::Limits;

/// Parameters, multiply-accumulates and FLOPs of one sample: the one cost type of the crate.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Cost {
    /// Parameters.
    pub params: u64,
    /// Multiply-accumulates of convolutions and linear layers.
    pub macs: u64,
    /// FLOPs as the space counts them (its `flops:` key): the MACs, or the NAS-Bench-201
    /// counter's FLOPs.
    pub flops: u64,
}

/// A resource budget on [`Cost`]s; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    /// Maximum FLOPs of one sample, in the space's convention.
    pub max_flops: Option<Amount>,
    /// Maximum parameters.
    pub max_params: Option<Amount>,
}

impl Budget {
    /// Whether a cost fits.
    pub fn admits(&self, c: &Cost) -> bool {
        self.max_flops.is_none_or(|m| c.flops as f64 <= m.value())
            && self.max_params.is_none_or(|m| c.params as f64 <= m.value())
    }
}

/// The exact cost range of a chain space.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// The architecture with the fewest FLOPs, and its cost.
    pub min_flops: (Arch, Cost),
    /// The architecture with the fewest parameters, and its cost.
    pub min_params: (Arch, Cost),
    /// The architecture with the most FLOPs, and its cost.
    pub max_flops: (Arch, Cost),
    /// The architecture with the most parameters, and its cost.
    pub max_params: (Arch, Cost),
}

/// Which end of the range, by which measure.
#[derive(Clone, Copy, PartialEq)]
enum Goal {
    MinFlops,
    MinParams,
    MaxFlops,
    MaxParams,
}

impl Goal {
    fn largest(self) -> bool {
        matches!(self, Goal::MaxFlops | Goal::MaxParams)
    }

    /// Whether cost `a` is better than `b` for this goal.
    fn better(self, a: Cost, b: Cost) -> bool {
        match self {
            Goal::MinFlops => (a.flops, a.params) < (b.flops, b.params),
            Goal::MinParams => (a.params, a.flops) < (b.params, b.flops),
            Goal::MaxFlops => (a.flops, a.params) > (b.flops, b.params),
            Goal::MaxParams => (a.params, a.flops) > (b.params, b.flops),
        }
    }
}

/// The index of the smallest or largest option of a dimension (costs grow with kernel size and
/// squeeze-excitation; the activation does not change MACs, FLOPs or params).
fn extreme_option(d: &Dim, largest: bool) -> usize {
    let pick = |v: &[usize]| {
        let it = v.iter().enumerate();
        let best = if largest { it.max_by_key(|x| x.1) } else { it.min_by_key(|x| x.1) };
        best.map_or(0, |x| x.0)
    };
    match d {
        Dim::Kernel(v) => pick(v),
        // Costs need not grow with the expansion (1 drops the expansion conv): candidates.
        Dim::Expansion(_) | Dim::Act(_) => 0,
        Dim::Se(v) => v.iter().position(|&s| s == largest).unwrap_or(0),
    }
}

/// The blocks worth comparing at one end of the range: each op with its extreme options, once
/// per expansion ratio.
fn candidates(st: &ChainStage, largest: bool) -> Vec<BlockArch> {
    let mut out = Vec::new();
    for op in 0..st.ops.len() {
        let base = extreme_block(st, op, largest);
        let dims = st.dims(op);
        match dims.iter().position(|d| matches!(d, Dim::Expansion(_))) {
            Some(i) => {
                for e in 0..dims[i].len() {
                    let mut b = base.clone();
                    b.choices[i] = e;
                    out.push(b);
                }
            }
            None => out.push(base),
        }
    }
    out
}

fn extreme_block(st: &ChainStage, op: usize, largest: bool) -> BlockArch {
    let choices = st.dims(op).iter().map(|d| extreme_option(d, largest)).collect();
    BlockArch { op, choices }
}

impl SearchSpace {
    /// The cost of a lowered graph, FLOPs in the space's convention.
    pub fn graph_cost(&self, g: &Graph) -> Cost {
        let c = graph_cost(g);
        let params = parameters(g).iter().map(|p| p.numel).sum();
        let flops = match self.spec.flops {
            FlopsSpec::Macs => c.macs,
            FlopsSpec::Tensorwatch => c.flops,
        };
        Cost { params, macs: c.macs, flops }
    }

    /// The cost of `arch`, from its lowered graph (batch 1, zero weights).
    pub fn cost(&self, arch: &Arch) -> Result<Cost> {
        Ok(self.graph_cost(&self.lower(arch, &LowerOptions { seed: None, ..Default::default() })?))
    }

    /// Per-block costs of the graph of `arch`, keyed by (stage, block).
    fn block_costs(&self, arch: &Arch) -> Result<HashMap<(usize, usize), Cost>> {
        let g = self.lower(arch, &LowerOptions { seed: None, ..Default::default() })?;
        let key = |name: &str| {
            let rest = name.strip_prefix("stage")?;
            let (k, rest) = rest.split_once("/block")?;
            let (j, _) = rest.split_once('/')?;
            Some((k.parse::<usize>().ok()?, j.parse::<usize>().ok()?))
        };
        let zero = Cost { params: 0, macs: 0, flops: 0 };
        let mut out: HashMap<(usize, usize), Cost> = HashMap::new();
        for n in g.nodes() {
            if let Some(k) = key(&n.name) {
                let c = node_cost(&g, n);
                let e = out.entry(k).or_insert(zero);
                e.macs += c.macs;
                e.flops += match self.spec.flops {
                    FlopsSpec::Macs => c.macs,
                    FlopsSpec::Tensorwatch => c.flops,
                };
            }
        }
        for p in parameters(&g) {
            if let Some(k) = p.consumers.first().and_then(|(n, _)| key(&g.node(*n).name)) {
                out.entry(k).or_insert(zero).params += p.numel;
            }
        }
        Ok(out)
    }

    /// The architecture at one end of the range: extreme widths and depths, and per block the
    /// candidate that costs least (or most), found by lowering one architecture per candidate.
    fn extreme(&self, goal: Goal) -> Result<Arch> {
        let stages = self.chain_stages();
        let largest = goal.largest();
        let shape = |st: &ChainStage, block_of: &dyn Fn(usize) -> BlockArch| {
            let it = st.widths.iter().enumerate();
            let w = if largest { it.max_by_key(|x| x.1) } else { it.min_by_key(|x| x.1) };
            let d = if largest { st.depths.iter().max() } else { st.depths.iter().min() };
            StageArch {
                width: w.map_or(0, |x| x.0),
                blocks: (0..d.copied().unwrap_or(1)).map(block_of).collect(),
            }
        };
        let cands: Vec<Vec<BlockArch>> = stages.iter().map(|st| candidates(st, largest)).collect();
        let n = cands.iter().map(Vec::len).max().unwrap_or(1);
        let zero = Cost { params: 0, macs: 0, flops: 0 };
        let mut best: HashMap<(usize, usize), (BlockArch, Cost)> = HashMap::new();
        for c in 0..n {
            let chain = ChainArch {
                stages: stages
                    .iter()
                    .zip(&cands)
                    .map(|(st, cs)| shape(st, &|_| cs[c.min(cs.len() - 1)].clone()))
                    .collect(),
            };
            let costs = self.block_costs(&Arch::Chain(chain.clone()))?;
            for (k, sa) in chain.stages.iter().enumerate() {
                for (j, b) in sa.blocks.iter().enumerate() {
                    // A block without nodes (an identity) costs nothing.
                    let cost = costs.get(&(k + 1, j)).copied().unwrap_or(zero);
                    match best.get(&(k, j)) {
                        Some((_, prev)) if !goal.better(cost, *prev) => {}
                        _ => {
                            best.insert((k, j), (b.clone(), cost));
                        }
                    }
                }
            }
        }
        let stages = stages
            .iter()
            .enumerate()
            .map(|(k, st)| {
                shape(st, &|j| match best.get(&(k, j)) {
                    Some((b, _)) => b.clone(),
                    None => extreme_block(st, 0, largest),
                })
            })
            .collect();
        Ok(Arch::Chain(ChainArch { stages }))
    }

    /// The exact FLOPs and parameter range of a chain space (`None` for cell spaces, which
    /// are enumerated or sampled), with the architectures at its ends. Exact because block
    /// costs grow with width, depth, kernel size and squeeze-excitation (every op and expansion
    /// ratio is tried), and a block's cost depends only on its own choices and the widths.
    pub fn bounds(&self) -> Result<Option<Bounds>> {
        if self.kind() != SpaceKind::Chain {
            return Ok(None);
        }
        // Each end lowers one network per block candidate of the richest stage, and its own.
        let per_end = self.chain_stages().iter().map(|st| candidates(st, true).len()).max();
        let lowered = 4 * (per_end.unwrap_or(0) as u64 + 1);
        Limits::current().check_archs("finding the space's exact cost bounds", lowered)?;
        let end = |g: Goal| -> Result<(Arch, Cost)> {
            let a = self.extreme(g)?;
            let c = self.cost(&a)?;
            Ok((a, c))
        };
        Ok(Some(Bounds {
            min_flops: end(Goal::MinFlops)?,
            min_params: end(Goal::MinParams)?,
            max_flops: end(Goal::MaxFlops)?,
            max_params: end(Goal::MaxParams)?,
        }))
    }
}
