//! Architectures of every kind of space: string form, canonical form, enumeration, seeded
//! sampling and single-choice mutation. Edge-op cell spaces are handled here, node cells in
//! `node_cell.rs`, DARTS genotypes in `genotype.rs`, chain spaces in `chain_arch.rs`.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Genotype, NodeCellArch, SearchSpace, SpaceKind, chain_arch, genotype, node_cell};
use crate::error::{Error, Result};

/// One architecture of a search space: a cell of a cell space, a NAS-Bench-101 cell, a DARTS
/// genotype, or the stage and block choices of a chain space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// An architecture of a cell space.
    Cell(CellArch),
    /// An architecture of a node-cell space (NAS-Bench-101).
    NodeCell(NodeCellArch),
    /// An architecture of a two-input cell space (DARTS).
    Genotype(Genotype),
    /// An architecture of a chain space.
    Chain(ChainArch),
}

/// The cell of a cell space.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellArch {
    /// `edges[i-1][j]` is the index (into `cell.ops`) of the op on the edge from node j to
    /// node i.
    pub edges: Vec<Vec<usize>>,
}

/// The choices of a chain space's architecture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainArch {
    /// The choices of each stage.
    pub stages: Vec<StageArch>,
}

/// The choices of one stage of a chain space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StageArch {
    /// Index into the stage's width options.
    pub width: usize,
    /// The blocks; their number is the stage's depth.
    pub blocks: Vec<BlockArch>,
}

/// The choices of one block of a chain stage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockArch {
    /// Index into the stage's `ops`.
    pub op: usize,
    /// One option index per choice dimension of the op, in string order (kernel, expansion,
    /// act, se, as far as the op has them).
    pub choices: Vec<usize>,
}

impl Arch {
    /// Parses the string form: for cell spaces NAS-Bench-201's official
    /// `|op~0|+|op~0|op~1|+...`; for node-cell spaces NAS-Bench-101's
    /// `ModelSpec(matrix=[[0, 1, ...], ...], ops=['input', ..., 'output'])`; for two-input cell
    /// spaces the DARTS code's `Genotype(normal=[('sep_conv_3x3', 0), ...], ...)`; for chain
    /// spaces stages joined by `|`, each an optional width `w24:` then its blocks joined by `,`,
    /// each the op name and a token per choice (`mb-k5-e6-hswish-se`).
    pub fn parse(space: &SearchSpace, s: &str) -> Result<Arch> {
        match space.kind() {
            SpaceKind::Chain => return chain_arch::parse(space, s).map(Arch::Chain),
            SpaceKind::NodeCell => return node_cell::parse(space, s).map(Arch::NodeCell),
            SpaceKind::TwoInputCell => return genotype::parse(space, s).map(Arch::Genotype),
            SpaceKind::Cell => {}
        }
        let bad = |why: String| Error::ArchString(format!("arch '{s}': {why}"));
        let n = space.cell_nodes();
        let groups: Vec<&str> = s.trim().split('+').collect();
        if groups.len() != n - 1 {
            return Err(bad(format!(
                "expected {} groups separated by '+' (one per node after the input), found {}",
                n - 1,
                groups.len()
            )));
        }
        let names = space.op_names();
        let mut edges = Vec::with_capacity(n - 1);
        for (i, g) in groups.iter().enumerate() {
            let inner = g
                .strip_prefix('|')
                .and_then(|g| g.strip_suffix('|'))
                .ok_or_else(|| bad(format!("group '{g}' must be wrapped in '|'")))?;
            let toks: Vec<&str> = inner.split('|').collect();
            if toks.len() != i + 1 {
                return Err(bad(format!(
                    "node {} needs {} edges, group '{g}' has {}",
                    i + 1,
                    i + 1,
                    toks.len()
                )));
            }
            let mut node = Vec::with_capacity(i + 1);
            for (j, tok) in toks.iter().enumerate() {
                let (op, src) = tok
                    .split_once('~')
                    .ok_or_else(|| bad(format!("token '{tok}' is not op~source")))?;
                if src != j.to_string() {
                    return Err(bad(format!("token '{tok}': expected source node {j}")));
                }
                let k = names.iter().position(|&x| x == op).ok_or_else(|| {
                    bad(format!(
                        "token '{tok}': '{op}' is not an op of this space ({})",
                        names.join(", ")
                    ))
                })?;
                node.push(k);
            }
            edges.push(node);
        }
        Ok(Arch::Cell(CellArch { edges }))
    }

    /// The string form, which [`Arch::parse`] reads back.
    pub fn format(&self, space: &SearchSpace) -> String {
        let cell = match self {
            Arch::Chain(c) => return chain_arch::format(c, space),
            Arch::NodeCell(c) => return node_cell::format(c, space),
            Arch::Genotype(g) => return genotype::format(g, space),
            Arch::Cell(c) => c,
        };
        let names = space.op_names();
        cell.edges
            .iter()
            .map(|node| {
                let toks: String = node
                    .iter()
                    .enumerate()
                    .map(|(j, &k)| format!("{}~{j}|", names.get(k).unwrap_or(&"?")))
                    .collect();
                format!("|{toks}")
            })
            .collect::<Vec<_>>()
            .join("+")
    }

    /// The canonical form of the function the network computes. Cell spaces: edges whose
    /// source no path from the input reaches, or whose target reaches no path to the output,
    /// become the zero op (repeated until stable); for NAS-Bench-201 the 15,625 cells have
    /// exactly 9,445. Node cells: pruned and renumbered into a canonical vertex order, so that
    /// isomorphic cells share it. Genotypes: each node's two inputs in a fixed order (zero
    /// inputs from different nodes are not merged). Chain
    /// spaces: an architecture holds no choices for blocks beyond a stage's depth, so it is its
    /// own canonical form.
    #[allow(clippy::needless_range_loop)] // node indices address several arrays at once
    pub fn canonical(&self, space: &SearchSpace) -> Arch {
        let cell = match self {
            Arch::Cell(c) => c,
            Arch::NodeCell(c) => return Arch::NodeCell(c.canonical()),
            Arch::Genotype(g) => return Arch::Genotype(g.canonical()),
            Arch::Chain(_) => return self.clone(),
        };
        let zero = (0..space.op_names().len()).find(|&k| space.is_zero(k));
        let Some(zero) = zero else { return self.clone() };
        let n = cell.edges.len() + 1;
        let mut a = cell.clone();
        loop {
            let live = |a: &CellArch, i: usize, j: usize| !space.is_zero(a.edges[i - 1][j]);
            let mut from_input = vec![false; n];
            from_input[0] = true;
            for i in 1..n {
                from_input[i] = (0..i).any(|j| live(&a, i, j) && from_input[j]);
            }
            let mut to_output = vec![false; n];
            to_output[n - 1] = true;
            for j in (0..n - 1).rev() {
                to_output[j] = (j + 1..n).any(|i| live(&a, i, j) && to_output[i]);
            }
            let mut changed = false;
            for i in 1..n {
                for j in 0..i {
                    if live(&a, i, j) && !(from_input[j] && to_output[i]) {
                        a.edges[i - 1][j] = zero;
                        changed = true;
                    }
                }
            }
            if !changed {
                return Arch::Cell(a);
            }
        }
    }

    /// The architecture with enumeration index `index` (mixed radix over the choices in string
    /// order); `None` past the end of the space, for spaces of more than 2^64 architectures, and
    /// for node-cell spaces (not enumerated).
    pub fn from_index(space: &SearchSpace, mut index: u64) -> Option<Arch> {
        match space.kind() {
            SpaceKind::Chain => return chain_arch::from_index(space, index).map(Arch::Chain),
            SpaceKind::NodeCell => return None,
            SpaceKind::TwoInputCell => {
                return genotype::from_index(space, index).map(Arch::Genotype);
            }
            SpaceKind::Cell => {}
        }
        let k = space.op_names().len() as u64;
        if space.size().is_some_and(|s| index >= s) {
            return None;
        }
        let n = space.cell_nodes();
        let mut edges = vec![Vec::new(); n.saturating_sub(1)];
        for (i, node) in edges.iter_mut().enumerate() {
            for _ in 0..=i {
                node.push((index % k) as usize);
                index /= k;
            }
        }
        Some(Arch::Cell(CellArch { edges }))
    }

    /// A random architecture, every choice drawn uniformly and independently: each edge's op
    /// (uniform over the cell space); for chain spaces each stage's width and depth, then each
    /// block's op and its options (uniform per choice, not over distinct networks, whose count
    /// grows with depth); node cells and genotypes as NAS-Bench-101's and NAS-Bench-301's
    /// samplers draw them.
    pub fn sample(space: &SearchSpace, rng: &mut ChaCha8Rng) -> Arch {
        match space.kind() {
            SpaceKind::Chain => return Arch::Chain(chain_arch::sample(space, rng)),
            SpaceKind::NodeCell => return Arch::NodeCell(node_cell::sample(space, rng)),
            SpaceKind::TwoInputCell => return Arch::Genotype(genotype::sample(space, rng)),
            SpaceKind::Cell => {}
        }
        let k = space.op_names().len();
        let n = space.cell_nodes();
        Arch::Cell(CellArch {
            edges: (1..n).map(|i| (0..i).map(|_| rng.random_range(0..k)).collect()).collect(),
        })
    }

    /// The same architecture with exactly one choice changed to a different option: an edge's
    /// op; or a chain stage's width or depth (blocks added at the end repeat the last block), a
    /// block's op (its options reset to the first) or one of its options; an edge or vertex op
    /// of a node cell padded to the space's size (staying valid, and changing the function
    /// where a single change can); a genotype input's op or source node. A space with a single architecture returns it unchanged.
    pub fn mutate(&self, space: &SearchSpace, rng: &mut ChaCha8Rng) -> Arch {
        let cell = match self {
            Arch::Chain(c) => return Arch::Chain(chain_arch::mutate(c, space, rng)),
            Arch::NodeCell(c) => return Arch::NodeCell(node_cell::mutate(c, space, rng)),
            Arch::Genotype(g) => return Arch::Genotype(genotype::mutate(g, space, rng)),
            Arch::Cell(c) => c,
        };
        let k = space.op_names().len();
        let mut a = cell.clone();
        if k < 2 {
            return Arch::Cell(a);
        }
        let total: usize = a.edges.iter().map(Vec::len).sum();
        if total == 0 {
            return Arch::Cell(a);
        }
        let mut e = rng.random_range(0..total);
        for node in a.edges.iter_mut() {
            if e < node.len() {
                let old = node[e];
                let shift = rng.random_range(1..k);
                node[e] = (old + shift) % k;
                return Arch::Cell(a);
            }
            e -= node.len();
        }
        Arch::Cell(a)
    }
}

impl Arch {
    /// The cell, for an architecture of a cell space.
    pub fn as_cell(&self) -> Option<&CellArch> {
        match self {
            Arch::Cell(c) => Some(c),
            _ => None,
        }
    }

    /// The NAS-Bench-101 cell, for an architecture of a node-cell space.
    pub fn as_node_cell(&self) -> Option<&NodeCellArch> {
        match self {
            Arch::NodeCell(c) => Some(c),
            _ => None,
        }
    }

    /// The genotype, for an architecture of a two-input cell space.
    pub fn as_genotype(&self) -> Option<&Genotype> {
        match self {
            Arch::Genotype(g) => Some(g),
            _ => None,
        }
    }

    /// The stage choices, for an architecture of a chain space.
    pub fn as_chain(&self) -> Option<&ChainArch> {
        match self {
            Arch::Chain(c) => Some(c),
            _ => None,
        }
    }

    /// Checks that the architecture belongs to `space` (its kind, and every index in range).
    pub fn check(&self, space: &SearchSpace) -> Result<()> {
        let n = space.cell_nodes();
        let k = space.op_names().len();
        let ok = match self {
            Arch::Chain(c) if space.kind() == SpaceKind::Chain => {
                return chain_arch::check(c, space);
            }
            Arch::NodeCell(c) if space.kind() == SpaceKind::NodeCell => {
                return node_cell::check(c, space).map_err(|why| {
                    Error::ArchString(format!("{}: {why}", node_cell::format(c, space)))
                });
            }
            Arch::Genotype(g) if space.kind() == SpaceKind::TwoInputCell => {
                return genotype::check(g, space).map_err(Error::ArchString);
            }
            Arch::Chain(_) | Arch::NodeCell(_) | Arch::Genotype(_) => false,
            Arch::Cell(c) => {
                space.kind() == SpaceKind::Cell
                    && c.edges.len() + 1 == n
                    && c.edges
                        .iter()
                        .enumerate()
                        .all(|(i, node)| node.len() == i + 1 && node.iter().all(|&o| o < k))
            }
        };
        if !ok {
            return Err(Error::ArchString(format!(
                "architecture {self:?} is not one of the {} space '{}' ({n} nodes)",
                space.kind().name(),
                space.spec.name
            )));
        }
        Ok(())
    }
}

/// A seeded random source for sampling and mutation.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
