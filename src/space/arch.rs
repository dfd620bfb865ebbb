//! Architectures of a cell space: the official string form, canonical form, enumeration,
//! seeded sampling and single-choice mutation.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SearchSpace;
use crate::error::{Error, Result};

/// One architecture: `edges[i-1][j]` is the index (into the space's `cell.ops`) of the op on the
/// edge from node j to node i.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arch {
    /// Edge choices by target node, then source node.
    pub edges: Vec<Vec<usize>>,
}

impl Arch {
    /// Parses `|op~0|+|op~0|op~1|+...` (NAS-Bench-201's official form).
    pub fn parse(space: &SearchSpace, s: &str) -> Result<Arch> {
        let bad = |why: String| Error::Usage(format!("arch '{s}': {why}"));
        let n = space.spec.cell.nodes;
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
        Ok(Arch { edges })
    }

    /// The string form.
    pub fn format(&self, space: &SearchSpace) -> String {
        let names = space.op_names();
        self.edges
            .iter()
            .map(|node| {
                let toks: String =
                    node.iter().enumerate().map(|(j, &k)| format!("{}~{j}|", names[k])).collect();
                format!("|{toks}")
            })
            .collect::<Vec<_>>()
            .join("+")
    }

    /// The canonical form of the function the cell computes: edges whose source no path from
    /// the input reaches, or whose target reaches no path to the output, become the zero op
    /// (repeated until stable). Functionally identical cells share one canonical form; for
    /// NAS-Bench-201 the 15,625 cells have exactly 9,445.
    #[allow(clippy::needless_range_loop)] // node indices address several arrays at once
    pub fn canonical(&self, space: &SearchSpace) -> Arch {
        let zero = (0..space.op_names().len()).find(|&k| space.is_zero(k));
        let Some(zero) = zero else { return self.clone() };
        let n = self.edges.len() + 1;
        let mut a = self.clone();
        loop {
            let live = |a: &Arch, i: usize, j: usize| !space.is_zero(a.edges[i - 1][j]);
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
                return a;
            }
        }
    }

    /// The architecture with enumeration index `index` (mixed radix over the edges in string
    /// order); `None` past the end of the space.
    pub fn from_index(space: &SearchSpace, mut index: u64) -> Option<Arch> {
        let k = space.op_names().len() as u64;
        if space.size().is_some_and(|s| index >= s) {
            return None;
        }
        let n = space.spec.cell.nodes;
        let mut edges = vec![Vec::new(); n - 1];
        for (i, node) in edges.iter_mut().enumerate() {
            for _ in 0..=i {
                node.push((index % k) as usize);
                index /= k;
            }
        }
        Some(Arch { edges })
    }

    /// A uniformly random architecture.
    pub fn sample(space: &SearchSpace, rng: &mut ChaCha8Rng) -> Arch {
        let k = space.op_names().len();
        let n = space.spec.cell.nodes;
        Arch { edges: (1..n).map(|i| (0..i).map(|_| rng.random_range(0..k)).collect()).collect() }
    }

    /// The same architecture with one edge changed to a different operation.
    pub fn mutate(&self, space: &SearchSpace, rng: &mut ChaCha8Rng) -> Arch {
        let k = space.op_names().len();
        let mut a = self.clone();
        if k < 2 {
            return a;
        }
        let total: usize = a.edges.iter().map(Vec::len).sum();
        let mut e = rng.random_range(0..total);
        for node in a.edges.iter_mut() {
            if e < node.len() {
                let old = node[e];
                let shift = rng.random_range(1..k);
                node[e] = (old + shift) % k;
                return a;
            }
            e -= node.len();
        }
        a
    }
}

/// A seeded random source for sampling and mutation.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
