//! NAS-Bench-101 cells: an upper-triangular adjacency matrix and an operation per interior
//! vertex. Pruning, validity, the benchmark's channel rule, an exact isomorphism-canonical form,
//! NAS-Bench-101's own module hash (to look a cell up in the benchmark), the `ModelSpec(...)`
//! string form, and sampling and mutation within the limits (which apply to the pruned cell, as
//! the benchmark's `is_valid` applies them).

use md5::{Digest, Md5};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::SearchSpace;
use super::pyrepr;
use crate::error::{Error, Result};

/// A NAS-Bench-101 cell as written: it may hold vertices that no input-to-output path uses
/// (they are pruned when the network is built).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeCellArch {
    /// `matrix[i][j]` is true when vertex i feeds vertex j (only `i < j`); vertex 0 is the input,
    /// the last vertex the output.
    pub matrix: Vec<Vec<bool>>,
    /// The operation (index into `node_cell.ops`) of each interior vertex, in vertex order.
    pub ops: Vec<usize>,
}

/// Draws before sampling gives up on independent fair edges (NAS-Bench-101's own sampler) and
/// draws the number of edges first, for spaces whose edge limit the fair draw rarely meets.
const FAIR_TRIES: usize = 1000;

/// Draws a mutation makes to find a valid neighbour.
const MUTATION_TRIES: usize = 300;

impl NodeCellArch {
    /// Number of vertices, input and output included.
    pub fn vertices(&self) -> usize {
        self.matrix.len()
    }

    /// Number of edges.
    pub fn edges(&self) -> usize {
        self.matrix.iter().flatten().filter(|&&b| b).count()
    }

    /// Whether the matrix is square and upper triangular with an op per interior vertex.
    fn well_formed(&self) -> bool {
        let n = self.vertices();
        n >= 2
            && self.ops.len() == n - 2
            && self.matrix.iter().enumerate().all(|(i, r)| r.len() == n && !r[..=i].contains(&true))
    }

    /// The cell without the vertices that lie on no input-to-output path (NAS-Bench-101's
    /// `ModelSpec` pruning); `None` when the input does not reach the output (or the cell is not
    /// a square upper-triangular matrix with an op per interior vertex).
    pub fn pruned(&self) -> Option<NodeCellArch> {
        if !self.well_formed() {
            return None;
        }
        let n = self.vertices();
        let mut from_input = vec![false; n];
        from_input[0] = true;
        for j in 1..n {
            from_input[j] = (0..j).any(|i| self.matrix[i][j] && from_input[i]);
        }
        let mut to_output = vec![false; n];
        to_output[n - 1] = true;
        for i in (0..n - 1).rev() {
            to_output[i] = (i + 1..n).any(|j| self.matrix[i][j] && to_output[j]);
        }
        if !from_input[n - 1] {
            return None;
        }
        let keep: Vec<usize> = (0..n).filter(|&v| from_input[v] && to_output[v]).collect();
        Some(NodeCellArch {
            matrix: keep
                .iter()
                .map(|&i| keep.iter().map(|&j| self.matrix[i][j]).collect())
                .collect(),
            ops: keep[1..keep.len() - 1].iter().map(|&v| self.ops[v - 1]).collect(),
        })
    }

    /// The canonical form: pruned, then its vertices renumbered in the topological order whose
    /// description (refined colour, operation, predecessors, whether it feeds the output, vertex
    /// by vertex) is smallest. Two cells are isomorphic exactly when their canonical forms are
    /// equal (NAS-Bench-101's space has 423,624 distinct cells, as the benchmark counts), up to a
    /// work budget that only cells of many symmetric vertices exceed (they keep their pruned
    /// numbering). The benchmark's channel split gives its remainder to the first vertices that
    /// feed the output, so two numberings of one cell can differ by a few channels; the
    /// benchmark, like this form, counts them as one.
    pub fn canonical(&self) -> NodeCellArch {
        let Some(p) = self.pruned() else { return self.clone() };
        let Some(order) = CanonicalSearch::new(&p).run() else { return p };
        let pos: Vec<usize> = {
            let mut pos = vec![0; order.len()];
            for (k, &v) in order.iter().enumerate() {
                pos[v] = k;
            }
            pos
        };
        let n = p.vertices();
        let mut matrix = vec![vec![false; n]; n];
        for (i, row) in p.matrix.iter().enumerate() {
            for (j, &e) in row.iter().enumerate() {
                matrix[pos[i]][pos[j]] = e;
            }
        }
        let ops = order[1..n - 1].iter().map(|&v| p.ops[v - 1]).collect();
        NodeCellArch { matrix, ops }
    }

    /// NAS-Bench-101's module hash of the pruned cell (`ModelSpec.hash_spec`: an iterated MD5
    /// of in- and out-degrees, labels and neighbours' hashes), the key of the benchmark's
    /// records; labels are the indices into `node_cell.ops`, so the space must list the ops in
    /// the benchmark's order (conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3) for the hashes to
    /// match the benchmark's.
    pub fn module_hash(&self) -> Option<String> {
        let p = self.pruned()?;
        let n = p.vertices();
        let md5 = |s: &str| -> String {
            Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
        };
        let label = |v: usize| -> i64 {
            match v {
                0 => -1,
                v if v == n - 1 => -2,
                v => p.ops[v - 1] as i64,
            }
        };
        let deg_in = |v: usize| (0..n).filter(|&w| p.matrix[w][v]).count();
        let deg_out = |v: usize| (0..n).filter(|&w| p.matrix[v][w]).count();
        let mut hashes: Vec<String> = (0..n)
            .map(|v| md5(&format!("({}, {}, {})", deg_out(v), deg_in(v), label(v))))
            .collect();
        for _ in 0..n {
            hashes = (0..n)
                .map(|v| {
                    let mut ins: Vec<&str> =
                        (0..n).filter(|&w| p.matrix[w][v]).map(|w| hashes[w].as_str()).collect();
                    let mut outs: Vec<&str> =
                        (0..n).filter(|&w| p.matrix[v][w]).map(|w| hashes[w].as_str()).collect();
                    ins.sort_unstable();
                    outs.sort_unstable();
                    md5(&format!("{}|{}|{}", ins.concat(), outs.concat(), hashes[v]))
                })
                .collect();
        }
        hashes.sort_unstable();
        let quoted: Vec<String> = hashes.iter().map(|h| format!("'{h}'")).collect();
        Some(md5(&format!("[{}]", quoted.join(", "))))
    }

    /// The cell with isolated vertices inserted before the output up to `n` vertices (they are
    /// pruned, so the function is the same), for mutation to add structure.
    fn padded(&self, n: usize) -> NodeCellArch {
        let m = self.vertices();
        if m >= n || !self.well_formed() {
            return self.clone();
        }
        let map = |v: usize| if v == m - 1 { n - 1 } else { v };
        let mut matrix = vec![vec![false; n]; n];
        for (i, row) in self.matrix.iter().enumerate() {
            for (j, &e) in row.iter().enumerate() {
                matrix[map(i)][map(j)] = e;
            }
        }
        let mut ops = self.ops.clone();
        ops.resize(n - 2, 0);
        NodeCellArch { matrix, ops }
    }
}

/// Vertices the canonical-order search may place in all; the cells of NAS-Bench-101 need at
/// most a few hundred. A cell that needs more (many symmetric but not interchangeable vertices,
/// possible only in spaces of larger cells) keeps its pruned numbering: still a fixed point of
/// [`NodeCellArch::canonical`], but its isomorphic variants may not meet.
const SEARCH_BUDGET: usize = 50_000;

/// One vertex's description at its place in an order: its refined colour, operation, the places
/// of its predecessors (ascending), whether it feeds the output.
type Code = (usize, usize, Vec<usize>, bool);

/// Colours of the vertices that isomorphisms preserve: the vertex kind (input, output, or the
/// op), refined until stable by the colours of predecessors and successors (ranks of sorted
/// signatures, so the same cell always gets the same colours).
fn refined_colours(a: &NodeCellArch) -> Vec<usize> {
    let n = a.vertices();
    let m = &a.matrix;
    let mut colour: Vec<usize> = (0..n)
        .map(|v| match v {
            0 => 0,
            v if v == n - 1 => 1,
            v => 2 + a.ops[v - 1],
        })
        .collect();
    let mut classes = 0;
    for _ in 0..n {
        let sig: Vec<(usize, Vec<usize>, Vec<usize>)> = (0..n)
            .map(|v| {
                let mut ins: Vec<usize> = (0..n).filter(|&u| m[u][v]).map(|u| colour[u]).collect();
                let mut outs: Vec<usize> = (0..n).filter(|&w| m[v][w]).map(|w| colour[w]).collect();
                ins.sort_unstable();
                outs.sort_unstable();
                (colour[v], ins, outs)
            })
            .collect();
        let mut distinct = sig.clone();
        distinct.sort();
        distinct.dedup();
        colour = sig.iter().map(|x| distinct.partition_point(|d| d < x)).collect();
        if distinct.len() == classes {
            break;
        }
        classes = distinct.len();
    }
    colour
}

/// The search for the topological order with the smallest description (branching only where
/// vertices tie and are not interchangeable twins).
struct CanonicalSearch<'a> {
    a: &'a NodeCellArch,
    colour: Vec<usize>,
    best: Option<(Vec<Code>, Vec<usize>)>,
    placed: usize,
}

impl<'a> CanonicalSearch<'a> {
    fn new(a: &'a NodeCellArch) -> Self {
        CanonicalSearch { a, colour: refined_colours(a), best: None, placed: 0 }
    }

    /// The vertices in canonical order (input first, output last); `None` past the budget.
    fn run(mut self) -> Option<Vec<usize>> {
        let n = self.a.vertices();
        let mut pos = vec![usize::MAX; n];
        pos[0] = 0;
        let mut order = vec![0];
        self.step(&mut order, &mut pos, &mut Vec::new());
        if self.placed > SEARCH_BUDGET {
            return None;
        }
        let mut best = self.best.map(|b| b.1)?;
        best.push(n - 1);
        Some(best)
    }

    fn code(&self, v: usize, pos: &[usize]) -> Code {
        let n = self.a.vertices();
        let mut preds: Vec<usize> =
            (0..v).filter(|&u| self.a.matrix[u][v]).map(|u| pos[u]).collect();
        preds.sort_unstable();
        (self.colour[v], self.a.ops[v - 1], preds, self.a.matrix[v][n - 1])
    }

    fn twins(&self, u: usize, v: usize) -> bool {
        let m = &self.a.matrix;
        let n = self.a.vertices();
        self.a.ops[u - 1] == self.a.ops[v - 1]
            && (0..n).all(|w| w == u || w == v || (m[w][u] == m[w][v] && m[u][w] == m[v][w]))
    }

    fn step(&mut self, order: &mut Vec<usize>, pos: &mut [usize], codes: &mut Vec<Code>) {
        let n = self.a.vertices();
        if order.len() == n - 1 {
            if self.best.as_ref().is_none_or(|b| *codes < b.0) {
                self.best = Some((codes.clone(), order.clone()));
            }
            return;
        }
        let ready: Vec<(usize, Code)> = (1..n - 1)
            .filter(|&v| {
                pos[v] == usize::MAX && (0..v).all(|u| !self.a.matrix[u][v] || pos[u] != usize::MAX)
            })
            .map(|v| (v, self.code(v, pos)))
            .collect();
        let Some(min) = ready.iter().map(|r| &r.1).min().cloned() else { return };
        if let Some(b) = &self.best {
            let p = codes.len();
            if codes[..] == b.0[..p] && min > b.0[p] {
                return;
            }
        }
        let mut tried: Vec<usize> = Vec::new();
        for (v, c) in ready {
            if c != min || tried.iter().any(|&u| self.twins(u, v)) {
                continue;
            }
            self.placed += 1;
            if self.placed > SEARCH_BUDGET {
                return;
            }
            tried.push(v);
            pos[v] = order.len();
            order.push(v);
            codes.push(c);
            self.step(order, pos, codes);
            codes.pop();
            order.pop();
            pos[v] = usize::MAX;
        }
    }
}

/// The possible edges `(i, j)`, `i < j`, of a cell of `n` vertices, in row order.
fn vertex_pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).collect()
}

/// Most vertices for which [`count`] enumerates a space, and the most labelled structures it
/// canonicalises (NAS-Bench-101 takes 450,808 of 2,494 structures, about 2 s in all).
const COUNT_MAX_NODES: usize = 7;
const COUNT_BUDGET: u64 = 2_000_000;

/// The cells of a node-cell space, counted: the labelled cells sampling draws from (matrices of
/// the full size, valid and within the limits once pruned, times an op per interior vertex) and
/// the distinct ones (canonical forms; 423,624 for NAS-Bench-101, as the benchmark counts).
/// Unlabelled structures are deduplicated first, then each one's labellings are canonicalised.
/// `None` for spaces too large to enumerate in seconds (more than 7 vertices, or more than
/// 2 million labelled structures to canonicalise).
pub(crate) fn count(space: &SearchSpace) -> Option<(u64, u64)> {
    let spec = space.spec.node_cell.as_ref()?;
    let k = space.op_names().len() as u64;
    let nodes = spec.nodes;
    if nodes > COUNT_MAX_NODES {
        return None;
    }
    let labellings = |n: usize| k.checked_pow(u32::try_from(n.saturating_sub(2)).ok()?);
    let (mut labelled, mut distinct, mut work) = (0u64, 0u64, 0u64);
    let mut structures = std::collections::HashSet::new();
    for n in 2..=nodes {
        let pairs = vertex_pairs(n);
        for mask in 0u64..(1u64 << pairs.len()) {
            let mut matrix = vec![vec![false; n]; n];
            for (b, &(i, j)) in pairs.iter().enumerate() {
                matrix[i][j] = mask >> b & 1 == 1;
            }
            let cell = NodeCellArch { matrix, ops: vec![0; n - 2] };
            let Some(p) = cell.pruned() else { continue };
            if p.edges() > spec.max_edges {
                continue;
            }
            if n == nodes {
                labelled = labelled.checked_add(labellings(n)?)?;
            }
            if p.vertices() != n || !structures.insert(cell.canonical()) {
                continue;
            }
            work = work.saturating_add(labellings(n)?);
            if work > COUNT_BUDGET {
                return None;
            }
            let mut forms = std::collections::HashSet::new();
            for l in 0..labellings(n)? {
                let ops = (0..n - 2).map(|v| (l / k.pow(v as u32) % k) as usize).collect();
                forms.insert(NodeCellArch { matrix: cell.matrix.clone(), ops }.canonical());
            }
            distinct += forms.len() as u64;
        }
    }
    Some((labelled, distinct))
}

/// The channels of each vertex (NAS-Bench-101's `compute_vertex_channels`, on a pruned cell):
/// the output's channels split evenly among the vertices feeding it (the first ones get the
/// remainder), every other interior vertex the most of the vertices it feeds.
pub(crate) fn vertex_channels(input: usize, output: usize, m: &[Vec<bool>]) -> Vec<usize> {
    let n = m.len();
    let mut c = vec![0; n];
    c[0] = input;
    c[n - 1] = output;
    if n == 2 {
        return c;
    }
    let fan_in = (1..n - 1).filter(|&v| m[v][n - 1]).count().max(1);
    let (share, mut extra) = (output / fan_in, output % fan_in);
    for v in 1..n - 1 {
        if m[v][n - 1] {
            c[v] = share + usize::from(extra > 0);
            extra = extra.saturating_sub(1);
        }
    }
    for v in (1..n.saturating_sub(2)).rev() {
        if !m[v][n - 1] {
            for dst in v + 1..n - 1 {
                if m[v][dst] {
                    c[v] = c[v].max(c[dst]);
                }
            }
        }
    }
    c
}

fn bad(s: &str, why: impl std::fmt::Display) -> Error {
    Error::ArchString(format!("arch '{s}': {why}"))
}

/// Reads `ModelSpec(matrix=[[...]], ops=['input', ..., 'output'])`, or the same as a dict
/// (`{'matrix': ..., 'ops': ...}`) or bare (`matrix=..., ops=...`).
pub(crate) fn parse(space: &SearchSpace, s: &str) -> Result<NodeCellArch> {
    let kw = pyrepr::keywords(s.trim(), "ModelSpec").map_err(|e| bad(s, e))?;
    if let Some((k, _)) = kw.iter().find(|(k, _)| k != "matrix" && k != "ops") {
        return Err(bad(s, format!("unknown key '{k}' (a cell has matrix= and ops=)")));
    }
    let matrix = pyrepr::get(&kw, "matrix").map_err(|e| bad(s, e))?;
    let ops = pyrepr::get(&kw, "ops").map_err(|e| bad(s, e))?;
    let rows = matrix.list().ok_or_else(|| bad(s, "matrix must be a list of rows"))?;
    let n = rows.len();
    let mut m = Vec::with_capacity(n);
    for (i, row) in rows.iter().enumerate() {
        let row = row.list().ok_or_else(|| bad(s, format!("matrix row {i} is not a list")))?;
        if row.len() != n {
            return Err(bad(
                s,
                format!("matrix must be square: row {i} has {} entries, not {n}", row.len()),
            ));
        }
        let mut r = Vec::with_capacity(n);
        for (j, x) in row.iter().enumerate() {
            match x.int() {
                Some(0) => r.push(false),
                Some(1) if j > i => r.push(true),
                Some(1) => {
                    return Err(bad(
                        s,
                        format!(
                            "matrix[{i}][{j}] is 1, but the matrix must be upper triangular (edges go from a vertex to a later one)"
                        ),
                    ));
                }
                _ => return Err(bad(s, format!("matrix[{i}][{j}] must be 0 or 1"))),
            }
        }
        m.push(r);
    }
    let labels = ops.list().ok_or_else(|| bad(s, "ops must be a list"))?;
    if labels.len() != n {
        return Err(bad(s, format!("{} ops for a {n}×{n} matrix (one per vertex)", labels.len())));
    }
    let names = space.op_names();
    let mut interior = Vec::new();
    for (v, l) in labels.iter().enumerate() {
        let name = l.str().ok_or_else(|| bad(s, format!("ops[{v}] is not a name")))?;
        let want = if v == 0 {
            Some("input")
        } else if v == n - 1 {
            Some("output")
        } else {
            None
        };
        match want {
            Some(w) if name != w => {
                return Err(bad(s, format!("ops[{v}] must be '{w}', not '{name}'")));
            }
            Some(_) => {}
            None => interior.push(names.iter().position(|&x| x == name).ok_or_else(|| {
                bad(
                    s,
                    format!("ops[{v}]: '{name}' is not an op of this space ({})", names.join(", ")),
                )
            })?),
        }
    }
    let a = NodeCellArch { matrix: m, ops: interior };
    check(&a, space).map_err(|e| bad(s, e))?;
    Ok(a)
}

/// Why `a` is not a cell of `space`, if it is not.
pub(crate) fn check(a: &NodeCellArch, space: &SearchSpace) -> std::result::Result<(), String> {
    let Some(spec) = space.spec.node_cell.as_ref() else {
        return Err("the space has no node_cell".into());
    };
    let n = a.vertices();
    let most = crate::limits::Limits::current().cell_nodes.max(spec.nodes);
    if n < 2 || n > most {
        return Err(format!(
            "{n} vertices; a cell is written with 2 to {most} (--max-cell-nodes), {} once pruned",
            spec.nodes
        ));
    }
    if !a.well_formed() || a.ops.iter().any(|&o| o >= space.op_names().len()) {
        return Err(
            "malformed cell (matrix not square and upper triangular, or ops out of range)".into()
        );
    }
    let Some(p) = a.pruned() else {
        return Err("the input does not reach the output".into());
    };
    if p.vertices() > spec.nodes {
        return Err(format!(
            "{} vertices once pruned; this space allows at most {}",
            p.vertices(),
            spec.nodes
        ));
    }
    if p.edges() > spec.max_edges {
        return Err(format!(
            "{} edges once pruned; this space allows at most {}",
            p.edges(),
            spec.max_edges
        ));
    }
    Ok(())
}

/// Whether `a` is valid with at most `nodes` vertices and `max_edges` edges once pruned (the
/// benchmark's `is_valid`, which checks the pruned cell).
fn within(a: &NodeCellArch, nodes: usize, max_edges: usize) -> bool {
    a.pruned().is_some_and(|p| p.vertices() <= nodes && p.edges() <= max_edges)
}

/// The `ModelSpec(...)` string form.
pub(crate) fn format(a: &NodeCellArch, space: &SearchSpace) -> String {
    let names = space.op_names();
    let rows: Vec<String> = a
        .matrix
        .iter()
        .map(|r| {
            let bits: Vec<&str> = r.iter().map(|&b| if b { "1" } else { "0" }).collect();
            format!("[{}]", bits.join(", "))
        })
        .collect();
    let mut ops = vec!["'input'".to_string()];
    ops.extend(a.ops.iter().map(|&o| format!("'{}'", names.get(o).unwrap_or(&"?"))));
    ops.push("'output'".into());
    format!("ModelSpec(matrix=[{}], ops=[{}])", rows.join(", "), ops.join(", "))
}

/// A random valid cell of the space's full size: NAS-Bench-101's `random_spec` (every edge and
/// every operation drawn uniformly, redrawn until the pruned cell is valid and within the edge
/// limit); for spaces where that takes over 1,000 draws, the number of edges is drawn first.
pub(crate) fn sample(space: &SearchSpace, rng: &mut ChaCha8Rng) -> NodeCellArch {
    let spec = space.spec.node_cell.as_ref();
    let (n, max_edges) = spec.map_or((2, 1), |c| (c.nodes, c.max_edges));
    let k = space.op_names().len().max(1);
    let pairs = vertex_pairs(n);
    for t in 0.. {
        let mut matrix = vec![vec![false; n]; n];
        if t < FAIR_TRIES {
            for &(i, j) in &pairs {
                matrix[i][j] = rng.random_bool(0.5);
            }
        } else {
            let e = rng.random_range(1..=max_edges.min(pairs.len()).max(1));
            let mut left = pairs.clone();
            for _ in 0..e {
                let (i, j) = left.swap_remove(rng.random_range(0..left.len()));
                matrix[i][j] = true;
            }
        }
        let ops = (0..n - 2).map(|_| rng.random_range(0..k)).collect();
        let a = NodeCellArch { matrix, ops };
        if within(&a, n, max_edges) {
            return a;
        }
        if t > 100 * FAIR_TRIES {
            break;
        }
    }
    let mut matrix = vec![vec![false; n]; n];
    matrix[0][n - 1] = true;
    NodeCellArch { matrix, ops: vec![0; n - 2] }
}

/// The cell (padded to the space's size) with one edge flipped or one operation changed,
/// redrawn until it is valid and within the limits once pruned and a different function; where
/// no draw changes the function (say, only input→output live and every other edge between
/// pruned vertices),
/// a valid neighbour computing the same function, from which later mutations can move on; the
/// cell itself when not even that turns up.
pub(crate) fn mutate(a: &NodeCellArch, space: &SearchSpace, rng: &mut ChaCha8Rng) -> NodeCellArch {
    let spec = space.spec.node_cell.as_ref();
    let (nodes, max_edges) = spec.map_or((a.vertices(), usize::MAX), |c| (c.nodes, c.max_edges));
    let base = a.padded(nodes);
    let n = base.vertices();
    let k = space.op_names().len();
    let pairs = vertex_pairs(n);
    let choices = pairs.len() + if k > 1 { base.ops.len() } else { 0 };
    if choices == 0 {
        return a.clone();
    }
    let canon = base.canonical();
    let mut same_function = None;
    for _ in 0..MUTATION_TRIES {
        let mut m = base.clone();
        let c = rng.random_range(0..choices);
        if let Some(&(i, j)) = pairs.get(c) {
            m.matrix[i][j] = !m.matrix[i][j];
        } else {
            let v = c - pairs.len();
            m.ops[v] = (m.ops[v] + rng.random_range(1..k)) % k;
        }
        if !within(&m, nodes, max_edges) {
            continue;
        }
        if m.canonical() != canon {
            return m;
        }
        same_function.get_or_insert(m);
    }
    same_function.unwrap_or_else(|| a.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(rows: &[&str], ops: &[usize]) -> NodeCellArch {
        NodeCellArch {
            matrix: rows.iter().map(|r| r.chars().map(|c| c == '1').collect()).collect(),
            ops: ops.to_vec(),
        }
    }

    #[test]
    fn channels_follow_the_benchmark_rule() {
        // Three vertices feed the output: 128 = 43 + 43 + 42; vertex 1 feeds vertex 2 only and
        // takes its channels.
        let a = cell(&["011010", "001000", "000101", "000001", "000001", "000000"], &[0, 0, 0, 0]);
        assert_eq!(vertex_channels(64, 128, &a.matrix), vec![64, 43, 43, 43, 42, 128]);
    }

    #[test]
    fn pruning_drops_vertices_off_every_path() {
        // Vertex 2 reads nothing, vertex 3 feeds nothing: both go.
        let a = cell(&["01000", "00001", "00010", "00000", "00000"], &[1, 2, 0]);
        let p = a.pruned().expect("valid");
        assert_eq!(p, cell(&["010", "001", "000"], &[1]));
        assert!(cell(&["010", "000", "000"], &[0]).pruned().is_none(), "no path");
    }

    #[test]
    fn canonical_form_ignores_vertex_order_and_is_stable() {
        let a = cell(&["01100", "00010", "00010", "00001", "00000"], &[0, 1, 2]);
        let b = cell(&["01100", "00010", "00010", "00001", "00000"], &[1, 0, 2]);
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.canonical().canonical(), a.canonical());
        assert_eq!(a.module_hash(), b.module_hash());
        let c = cell(&["01100", "00010", "00001", "00001", "00000"], &[0, 1, 2]);
        assert_ne!(a.canonical(), c.canonical());
    }
}
