//! The NAS-Bench-201 network (AutoDL `TinyNetwork`) for any cell, built directly in Rust.
//!
//! Layout: stem Conv3x3 + BN; three stages of `cells` cells at C, 2C, 4C channels with a ResNet
//! basic reduction block between stages; head BN-ReLU-GAP-Linear. A cell has nodes 0..3; node i
//! sums edge(i, j)(node j) over j < i; each edge is one of `none`, `skip_connect`,
//! `nor_conv_1x1`, `nor_conv_3x3` (ReLU-Conv-BN) or `avg_pool_3x3`.
//!
//! This is the reference for benchmarks and tests; the YAML grammar emits the same network.

use crate::error::{Error, Result};
use crate::ir::builder::{Conv2d, Pool2d};
use crate::ir::{Graph, GraphBuilder, OpType, Tensor, TensorType, ValueId};
use crate::nets::init::Init;

/// One edge operation of a NAS-Bench-201 cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeOp {
    /// Zero.
    None,
    /// Identity.
    Skip,
    /// ReLU-Conv1x1-BN.
    Conv1x1,
    /// ReLU-Conv3x3-BN.
    Conv3x3,
    /// AvgPool 3x3, stride 1, pad 1, padding not counted.
    AvgPool3x3,
}

impl EdgeOp {
    /// The official op name.
    pub fn name(self) -> &'static str {
        match self {
            EdgeOp::None => "none",
            EdgeOp::Skip => "skip_connect",
            EdgeOp::Conv1x1 => "nor_conv_1x1",
            EdgeOp::Conv3x3 => "nor_conv_3x3",
            EdgeOp::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    /// Parses the official op name.
    pub fn parse(s: &str) -> Option<EdgeOp> {
        Some(match s {
            "none" => EdgeOp::None,
            "skip_connect" => EdgeOp::Skip,
            "nor_conv_1x1" => EdgeOp::Conv1x1,
            "nor_conv_3x3" => EdgeOp::Conv3x3,
            "avg_pool_3x3" => EdgeOp::AvgPool3x3,
            _ => return None,
        })
    }
}

/// A cell: `edges[i-1][j]` is the op from node j to node i (i = 1..3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Edge ops by target node then source node.
    pub edges: [Vec<EdgeOp>; 3],
}

impl Cell {
    /// Parses the official string `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`.
    pub fn parse(s: &str) -> Result<Cell> {
        let bad = |why: String| Error::Usage(format!("arch string '{s}': {why}"));
        let groups: Vec<&str> = s.split('+').collect();
        if groups.len() != 3 {
            return Err(bad(format!("expected 3 groups separated by '+', found {}", groups.len())));
        }
        let mut edges: [Vec<EdgeOp>; 3] = Default::default();
        for (i, g) in groups.iter().enumerate() {
            let inner = g
                .strip_prefix('|')
                .and_then(|g| g.strip_suffix('|'))
                .ok_or_else(|| bad(format!("group '{g}' must be wrapped in '|'")))?;
            for (j, tok) in inner.split('|').enumerate() {
                let (op, src) =
                    tok.split_once('~').ok_or_else(|| bad(format!("token '{tok}' is not op~j")))?;
                if src != j.to_string() {
                    return Err(bad(format!("token '{tok}': expected source {j}")));
                }
                edges[i].push(EdgeOp::parse(op).ok_or_else(|| bad(format!("unknown op '{op}'")))?);
            }
            if edges[i].len() != i + 1 {
                return Err(bad(format!(
                    "node {} needs {} edges, found {}",
                    i + 1,
                    i + 1,
                    edges[i].len()
                )));
            }
        }
        Ok(Cell { edges })
    }

    /// The canonical form of the cell's function: every edge whose source is not reachable
    /// from the input, or whose target does not reach the output, through non-`none` edges is
    /// dead and becomes `none` (repeated until nothing changes). Maps the 15,625 NAS-Bench-201
    /// cells onto the 9,445 functionally distinct ones, each equal to its canonical form.
    #[allow(clippy::needless_range_loop)] // node indices address several arrays at once
    pub fn canonical(&self) -> Cell {
        let mut c = self.clone();
        loop {
            let live = |c: &Cell, i: usize, j: usize| c.edges[i - 1][j] != EdgeOp::None;
            let mut from_input = [true, false, false, false];
            for i in 1..=3 {
                from_input[i] = (0..i).any(|j| live(&c, i, j) && from_input[j]);
            }
            let mut to_output = [false, false, false, true];
            for j in (0..3).rev() {
                to_output[j] = (j + 1..=3).any(|i| live(&c, i, j) && to_output[i]);
            }
            let mut changed = false;
            for i in 1..=3 {
                for j in 0..i {
                    if live(&c, i, j) && !(from_input[j] && to_output[i]) {
                        c.edges[i - 1][j] = EdgeOp::None;
                        changed = true;
                    }
                }
            }
            if !changed {
                return c;
            }
        }
    }

    /// The cell with every edge `nor_conv_3x3` (the densest, most expensive cell).
    pub fn dense() -> Cell {
        Cell { edges: [vec![EdgeOp::Conv3x3], vec![EdgeOp::Conv3x3; 2], vec![EdgeOp::Conv3x3; 3]] }
    }
}

impl std::fmt::Display for Cell {
    /// The official string form `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, node) in self.edges.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for (j, op) in node.iter().enumerate() {
                write!(f, "{}~{j}|", op.name())?;
            }
        }
        Ok(())
    }
}

/// Settings of the network.
#[derive(Debug, Clone)]
pub struct Nb201Options {
    /// Channels of the first stage (16 in the benchmark).
    pub channels: usize,
    /// Cells per stage (5 in the benchmark).
    pub cells_per_stage: usize,
    /// Output classes (10 for CIFAR-10).
    pub classes: usize,
    /// Batch size.
    pub batch: usize,
    /// Input resolution (square).
    pub resolution: usize,
    /// BatchNormalization with batch statistics (training mode) instead of running statistics.
    pub bn_training: bool,
    /// Seed of the Kaiming-normal weights.
    pub seed: u64,
}

impl Default for Nb201Options {
    fn default() -> Self {
        Nb201Options {
            channels: 16,
            cells_per_stage: 5,
            classes: 10,
            batch: 64,
            resolution: 32,
            bn_training: true,
            seed: 0,
        }
    }
}

struct Net<'a> {
    b: GraphBuilder,
    init: Init,
    opts: &'a Nb201Options,
}

impl Net<'_> {
    fn bn(&mut self, name: &str, x: ValueId) -> Result<ValueId> {
        let c = self.b.graph().value(x).ty.shape[1];
        let ones = Tensor::f32([c], vec![1.0; c]);
        let zeros = Tensor::f32([c], vec![0.0; c]);
        let g = self.b.param(&format!("{name}.weight"), ones.clone())?;
        let be = self.b.param(&format!("{name}.bias"), zeros.clone())?;
        let m = self.b.param(&format!("{name}.running_mean"), zeros)?;
        let v = self.b.param(&format!("{name}.running_var"), ones)?;
        self.b.batch_norm(name, x, g, be, m, v, 1e-5, self.opts.bn_training)
    }

    fn conv(
        &mut self,
        name: &str,
        x: ValueId,
        cout: usize,
        k: usize,
        stride: usize,
    ) -> Result<ValueId> {
        let cin = self.b.graph().value(x).ty.shape[1];
        let w = self.init.kaiming(&[cout, cin, k, k]);
        let w = self.b.param(&format!("{name}.weight"), w)?;
        self.b.conv(name, x, w, None, Conv2d { stride, pad: (k - 1) / 2, ..Default::default() })
    }

    fn relu_conv_bn(
        &mut self,
        scope: &str,
        x: ValueId,
        cout: usize,
        k: usize,
        stride: usize,
    ) -> Result<ValueId> {
        self.b.push_scope(scope);
        let r = self.b.relu("relu", x)?;
        let c = self.conv("conv", r, cout, k, stride)?;
        let out = self.bn("bn", c)?;
        self.b.pop_scope();
        Ok(out)
    }

    fn cell(&mut self, scope: &str, x: ValueId, cell: &Cell) -> Result<ValueId> {
        self.b.push_scope(scope);
        let c = self.b.graph().value(x).ty.shape[1];
        let mut nodes = vec![Some(x)];
        for i in 1..=3 {
            let mut terms = Vec::new();
            for (j, &op) in cell.edges[i - 1].iter().enumerate() {
                if op == EdgeOp::None {
                    continue;
                }
                // A node no edge feeds is zero; it still feeds its out-edges (as in the
                // benchmark, whose parameter count includes their convolutions).
                let src = match nodes[j] {
                    Some(v) => v,
                    None => {
                        let z = self.zeros_like(x, &format!("node{j}_zero"))?;
                        nodes[j] = Some(z);
                        z
                    }
                };
                let edge = format!("edge_{i}_{j}");
                let t = match op {
                    EdgeOp::None => continue,
                    EdgeOp::Skip => src,
                    EdgeOp::Conv1x1 => self.relu_conv_bn(&edge, src, c, 1, 1)?,
                    EdgeOp::Conv3x3 => self.relu_conv_bn(&edge, src, c, 3, 1)?,
                    EdgeOp::AvgPool3x3 => self.b.pool(
                        OpType::AveragePool,
                        &format!("{edge}/avgpool"),
                        src,
                        Pool2d::new(3, 1, 1),
                    )?,
                };
                terms.push(t);
            }
            let mut acc = None;
            for (k, t) in terms.into_iter().enumerate() {
                acc = Some(match acc {
                    None => t,
                    Some(a) => self.b.add(&format!("node{i}_sum{k}"), a, t)?,
                });
            }
            nodes.push(acc);
        }
        let out = match nodes[3] {
            Some(v) => v,
            // No edge reaches the output: the cell computes zeros of the input's shape.
            None => self.zeros_like(x, "node3_zero")?,
        };
        self.b.pop_scope();
        Ok(out)
    }

    fn zeros_like(&mut self, x: ValueId, name: &str) -> Result<ValueId> {
        let zero = self.b.param(&format!("{name}/scalar"), Tensor::f32_scalar(0.0))?;
        self.b.op(OpType::Mul, name, &[x, zero], vec![])
    }

    fn reduction(&mut self, scope: &str, x: ValueId, cout: usize) -> Result<ValueId> {
        self.b.push_scope(scope);
        let a = self.relu_conv_bn("conv_a", x, cout, 3, 2)?;
        let bb = self.relu_conv_bn("conv_b", a, cout, 3, 1)?;
        let pooled =
            self.b.pool(OpType::AveragePool, "shortcut/avgpool", x, Pool2d::new(2, 2, 0))?;
        let sc = self.conv("shortcut/conv", pooled, cout, 1, 1)?;
        let out = self.b.add("add", sc, bb)?;
        self.b.pop_scope();
        Ok(out)
    }
}

/// Builds the network for `cell`; the graph has input `x` and output `logits`.
pub fn build(cell: &Cell, opts: &Nb201Options) -> Result<Graph> {
    let mut net = Net { b: GraphBuilder::new("nb201"), init: Init::new(opts.seed), opts };
    let x = net.b.input("x", TensorType::f32([opts.batch, 3, opts.resolution, opts.resolution]))?;
    net.b.push_scope("stem");
    let s = net.conv("conv", x, opts.channels, 3, 1)?;
    let mut h = net.bn("bn", s)?;
    net.b.pop_scope();
    for stage in 0..3 {
        let c = opts.channels << stage;
        if stage > 0 {
            h = net.reduction(&format!("reduction{stage}"), h, c)?;
        }
        for k in 0..opts.cells_per_stage {
            h = net.cell(&format!("stage{}/cell{k}", stage + 1), h, cell)?;
        }
    }
    net.b.push_scope("head");
    let bn = net.bn("bn", h)?;
    let r = net.b.relu("relu", bn)?;
    let gap = net.b.global_avg_pool("gap", r)?;
    let flat = net.b.flatten("flatten", gap, 1)?;
    let c = opts.channels << 2;
    let w = net.init.kaiming(&[opts.classes, c]);
    let w = net.b.param("fc.weight", w)?;
    let bias = net.b.param("fc.bias", Tensor::f32([opts.classes], vec![0.0; opts.classes]))?;
    net.b.pop_scope();
    let logits = net.b.gemm("logits", flat, w, Some(bias), true)?;
    net.b.output(logits);
    Ok(net.b.finish())
}
