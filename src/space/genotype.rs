//! DARTS genotypes: a normal and a reduction cell whose intermediate nodes each take two
//! (operation, earlier node) inputs. The `Genotype(normal=[...], ...)` string form of the DARTS
//! code, canonical form, enumeration, sampling and mutation.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::SearchSpace;
use super::pyrepr::{self, Value};
use crate::error::{Error, Result};

/// One input of an intermediate node: the operation (index into `two_input_cell.ops`) and the
/// node it reads (0 and 1 are the cell's inputs, 2 the first intermediate node, ...).
pub type Input = (usize, usize);

/// A DARTS genotype: each intermediate node reads two different earlier nodes, as DARTS
/// derives its cells and NAS-Bench-301 samples them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Genotype {
    /// The normal cell: the two inputs of each intermediate node.
    pub normal: Vec<[Input; 2]>,
    /// The reduction cell: the two inputs of each intermediate node.
    pub reduce: Vec<[Input; 2]>,
}

impl Genotype {
    /// The genotype with each node's two inputs in a fixed order (by source, then operation):
    /// the node sums them, so the order does not change the network's function.
    pub fn canonical(&self) -> Genotype {
        let sort = |cell: &[[Input; 2]]| -> Vec<[Input; 2]> {
            cell.iter()
                .map(|&[a, b]| {
                    let key = |x: Input| (x.1, x.0);
                    if key(b) < key(a) { [b, a] } else { [a, b] }
                })
                .collect()
        };
        Genotype { normal: sort(&self.normal), reduce: sort(&self.reduce) }
    }
}

fn bad(s: &str, why: impl std::fmt::Display) -> Error {
    Error::ArchString(format!("arch '{s}': {why}"))
}

/// Number of intermediate nodes of the space's cells.
fn nodes(space: &SearchSpace) -> usize {
    space.spec.two_input_cell.as_ref().map_or(0, |c| c.nodes)
}

fn read_cell(
    space: &SearchSpace,
    s: &str,
    kw: &[(String, Value)],
    key: &str,
) -> Result<Vec<[Input; 2]>> {
    let n = nodes(space);
    let names = space.op_names();
    let items = pyrepr::get(kw, key)
        .map_err(|e| bad(s, e))?
        .list()
        .ok_or_else(|| bad(s, format!("{key} must be a list of (op, input) pairs")))?;
    if items.len() != 2 * n {
        return Err(bad(
            s,
            format!("{key} has {} inputs; {n} nodes of two inputs need {}", items.len(), 2 * n),
        ));
    }
    let mut inputs = Vec::with_capacity(items.len());
    for (e, item) in items.iter().enumerate() {
        let pair = item.list().unwrap_or_default();
        let (Some(op), Some(src)) =
            (pair.first().and_then(Value::str), pair.get(1).and_then(Value::int))
        else {
            return Err(bad(s, format!("{key}[{e}] is not an ('op', input) pair")));
        };
        if pair.len() != 2 {
            return Err(bad(s, format!("{key}[{e}] is not an ('op', input) pair")));
        }
        let k = names.iter().position(|&x| x == op).ok_or_else(|| {
            bad(s, format!("{key}[{e}]: '{op}' is not an op of this space ({})", names.join(", ")))
        })?;
        let node = e / 2 + 2;
        if src < 0 || src as usize >= node {
            return Err(bad(
                s,
                format!("{key}[{e}]: node {node} can read nodes 0 to {}, not {src}", node - 1),
            ));
        }
        inputs.push((k, src as usize));
    }
    for (i, pair) in inputs.chunks(2).enumerate() {
        if pair[0].1 == pair[1].1 {
            return Err(bad(
                s,
                format!(
                    "{key}: node {} reads node {} twice; a node sums two different earlier nodes",
                    i + 2,
                    pair[0].1
                ),
            ));
        }
    }
    let concat_key = format!("{key}_concat");
    if let Ok(c) = pyrepr::get(kw, &concat_key) {
        let want: Vec<Value> = (2..n as i64 + 2).map(Value::Int).collect();
        if c.list() != Some(&want[..]) {
            return Err(bad(
                s,
                format!(
                    "{concat_key} must list every intermediate node, [{}]: this space concatenates them all",
                    (2..n + 2).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(inputs.chunks(2).map(|c| [c[0], c[1]]).collect())
}

/// Reads the DARTS code's `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4,
/// 5], reduce=[...], reduce_concat=[2, 3, 4, 5])` (the concats may be left out, or written
/// `range(2, 6)`).
pub(crate) fn parse(space: &SearchSpace, s: &str) -> Result<Genotype> {
    let kw = pyrepr::keywords(s.trim(), "Genotype").map_err(|e| bad(s, e))?;
    let known = ["normal", "normal_concat", "reduce", "reduce_concat"];
    if let Some((k, _)) = kw.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(bad(s, format!("unknown key '{k}' (a genotype has {})", known.join(", "))));
    }
    Ok(Genotype {
        normal: read_cell(space, s, &kw, "normal")?,
        reduce: read_cell(space, s, &kw, "reduce")?,
    })
}

/// The DARTS string form, which Python's `eval` also reads back into the DARTS code's
/// `Genotype`.
pub(crate) fn format(g: &Genotype, space: &SearchSpace) -> String {
    let names = space.op_names();
    let cell = |c: &[[Input; 2]]| -> String {
        let items: Vec<String> = c
            .iter()
            .flatten()
            .map(|&(op, src)| format!("('{}', {src})", names.get(op).unwrap_or(&"?")))
            .collect();
        format!("[{}]", items.join(", "))
    };
    let concat: Vec<String> = (2..nodes(space) + 2).map(|i| i.to_string()).collect();
    let concat = concat.join(", ");
    format!(
        "Genotype(normal={}, normal_concat=[{concat}], reduce={}, reduce_concat=[{concat}])",
        cell(&g.normal),
        cell(&g.reduce)
    )
}

/// Why `g` is not a genotype of `space`, if it is not.
pub(crate) fn check(g: &Genotype, space: &SearchSpace) -> std::result::Result<(), String> {
    let (n, k) = (nodes(space), space.op_names().len());
    let ok = |c: &[[Input; 2]]| {
        c.len() == n
            && c.iter().enumerate().all(|(i, pair)| {
                pair[0].1 != pair[1].1 && pair.iter().all(|&(op, src)| op < k && src < i + 2)
            })
    };
    if space.spec.two_input_cell.is_none() || !ok(&g.normal) || !ok(&g.reduce) {
        return Err(format!(
            "not a genotype of the {n}-node two-input cell space '{}'",
            space.spec.name
        ));
    }
    Ok(())
}

/// Ways to fill one node that reads from `inputs` earlier nodes: two different inputs (an
/// unordered pair), an operation on each.
fn node_options(inputs: usize, ops: u64) -> Option<u64> {
    let pairs = (inputs * inputs.saturating_sub(1) / 2) as u64;
    pairs.checked_mul(ops.checked_mul(ops)?)
}

/// Genotypes of the space (each node reads two different earlier nodes, as DARTS derives them
/// and NAS-Bench-301 samples them): `(∏ᵢ C(i+2, 2) k²)²`, about 10^18 for DARTS's 7 operations.
pub(crate) fn size(space: &SearchSpace) -> Option<u64> {
    let k = space.op_names().len() as u64;
    let cell =
        (0..nodes(space)).try_fold(1u64, |acc, i| acc.checked_mul(node_options(i + 2, k)?))?;
    cell.checked_mul(cell)
}

/// The `i`-th unordered pair `(a, b)`, `a < b`, of `0..inputs` (`b` major).
fn pair(mut i: usize) -> (usize, usize) {
    let mut b = 1;
    while i >= b {
        i -= b;
        b += 1;
    }
    (i, b)
}

/// The genotype with enumeration index `index` (mixed radix: the normal cell's nodes, then the
/// reduction cell's; per node the input pair, then the two operations).
pub(crate) fn from_index(space: &SearchSpace, mut index: u64) -> Option<Genotype> {
    if index >= size(space)? {
        return None;
    }
    let k = space.op_names().len() as u64;
    let mut cell = || {
        (0..nodes(space))
            .map(|i| {
                let pairs = ((i + 2) * (i + 1) / 2) as u64;
                let p = pair((index % pairs) as usize);
                index /= pairs;
                let a = (index % k) as usize;
                index /= k;
                let b = (index % k) as usize;
                index /= k;
                [(a, p.0), (b, p.1)]
            })
            .collect::<Vec<_>>()
    };
    let normal = cell();
    let reduce = cell();
    Some(Genotype { normal, reduce })
}

fn sample_cell(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<[Input; 2]> {
    (0..n)
        .map(|i| {
            let a = rng.random_range(0..i + 2);
            let mut b = rng.random_range(0..i + 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = (a.min(b), a.max(b));
            [(rng.random_range(0..k), a), (rng.random_range(0..k), b)]
        })
        .collect()
}

/// A random genotype: per node two different earlier nodes, an operation on each, uniformly
/// (NAS-Bench-301's sampler).
pub(crate) fn sample(space: &SearchSpace, rng: &mut ChaCha8Rng) -> Genotype {
    let (n, k) = (nodes(space), space.op_names().len().max(1));
    let normal = sample_cell(n, k, rng);
    let reduce = sample_cell(n, k, rng);
    Genotype { normal, reduce }
}

/// The genotype with one input changed: its operation, or the node it reads (never the node
/// the other input of the same node reads, so the genotype stays in the space).
pub(crate) fn mutate(g: &Genotype, space: &SearchSpace, rng: &mut ChaCha8Rng) -> Genotype {
    let k = space.op_names().len();
    let mut out = g.clone();
    let slots = 2 * (g.normal.len() + g.reduce.len());
    for _ in 0..100 {
        if slots == 0 {
            break;
        }
        let e = rng.random_range(0..slots);
        let (cell, e) = if e < 2 * g.normal.len() {
            (&mut out.normal, e)
        } else {
            (&mut out.reduce, e - 2 * g.normal.len())
        };
        let (node, side) = (e / 2, e % 2);
        let other = cell[node][1 - side].1;
        let (op, src) = cell[node][side];
        if rng.random_bool(0.5) && k > 1 {
            cell[node][side].0 = (op + rng.random_range(1..k)) % k;
            return out;
        }
        let free: Vec<usize> = (0..node + 2).filter(|&x| x != other && x != src).collect();
        if !free.is_empty() {
            cell[node][side].1 = free[rng.random_range(0..free.len())];
            return out;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pairs_enumerate_every_unordered_pair_once() {
        let got: Vec<(usize, usize)> = (0..10).map(super::pair).collect();
        assert_eq!(
            got,
            vec![(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3), (0, 4), (1, 4), (2, 4), (3, 4)]
        );
    }
}
