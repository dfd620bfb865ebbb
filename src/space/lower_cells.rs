//! Lowering NAS-Bench-101 cells and DARTS cells. Names: `stage2/cell0/vertex3/conv`,
//! `stage2/cell0/vertex3/projection/conv`, `stage2/cell0/output/concat`;
//! `stage2/reduce/preprocess0/conv_1`, `stage1/cell3/node2/edge1/sep1/dw`,
//! `stage1/cell3/concat`.

use super::chain::{Block, resolve};
use super::lower::Lowering;
use super::node_cell::vertex_channels;
use super::spec::{Act, OpSpec, ReductionSpec};
use super::{Genotype, Input, NodeCellArch, SearchSpace};
use crate::error::{Error, Result};
use crate::ir::builder::Pool2d;
use crate::ir::{OpType, Tensor, ValueId};

impl Lowering<'_> {
    /// `x` sliced to its first `c` channels (NAS-Bench-101's truncation of a vertex with one
    /// extra channel).
    fn first_channels(&mut self, name: &str, x: ValueId, c: usize) -> Result<ValueId> {
        if self.channels(x) == c {
            return Ok(x);
        }
        let starts = self.b.param(&format!("{name}/starts"), Tensor::i64_vec(vec![0]))?;
        let ends = self.b.param(&format!("{name}/ends"), Tensor::i64_vec(vec![c as i64]))?;
        let axes = self.b.param(&format!("{name}/axes"), Tensor::i64_vec(vec![1]))?;
        self.b.op(OpType::Slice, name, &[x, starts, ends, axes], vec![])
    }

    /// NAS-Bench-101's projection of the cell input: 1x1 convolution, BatchNorm, ReLU.
    fn projection(&mut self, scope: &str, x: ValueId, c: usize) -> Result<ValueId> {
        self.conv_bn_act(scope, x, c, 1, 1, 1, Some(Act::Relu))
    }

    /// One NAS-Bench-101 cell (`arch` pruned) from `x` to `channels` channels, as the
    /// benchmark's `build_module` builds it.
    pub(super) fn node_cell(
        &mut self,
        space: &SearchSpace,
        arch: &NodeCellArch,
        scope: &str,
        x: ValueId,
        channels: usize,
    ) -> Result<ValueId> {
        self.b.push_scope(scope);
        let m = &arch.matrix;
        let n = m.len();
        let vc = vertex_channels(self.channels(x), channels, m);
        let mut tensors = vec![x];
        let mut to_output = Vec::new();
        for t in 1..n - 1 {
            self.b.push_scope(format!("vertex{t}"));
            let mut terms = Vec::new();
            for src in (1..t).filter(|&src| m[src][t]) {
                terms.push(self.first_channels(&format!("from{src}"), tensors[src], vc[t])?);
            }
            if m[0][t] {
                terms.push(self.projection("projection", x, vc[t])?);
            }
            let mut sum = terms[0];
            for (k, &term) in terms.iter().enumerate().skip(1) {
                sum = self.b.add(&format!("sum{k}"), sum, term)?;
            }
            self.b.pop_scope();
            let op = space.op(arch.ops[t - 1]);
            let v = self.block(op, &[], &format!("vertex{t}"), sum, vc[t], 1)?;
            tensors.push(v);
            if m[t][n - 1] {
                to_output.push(v);
            }
        }
        self.b.push_scope("output");
        let out = if to_output.is_empty() {
            self.projection("projection", x, channels)?
        } else {
            let mut out = match to_output[..] {
                [one] => one,
                _ => self.b.concat("concat", &to_output, 1)?,
            };
            if m[0][n - 1] {
                let p = self.projection("projection", x, channels)?;
                out = self.b.add("add", out, p)?;
            }
            out
        };
        self.b.pop_scope();
        self.b.pop_scope();
        Ok(out)
    }

    /// DARTS's factorized reduce: ReLU, then 1x1 convolutions with stride 2 on the input and on
    /// it shifted by one pixel, each to half of `cout`, concatenated, BatchNorm.
    fn factorized_reduce(&mut self, scope: &str, x: ValueId, cout: usize) -> Result<ValueId> {
        self.b.push_scope(scope);
        let r = self.b.relu("relu", x)?;
        let a = self.conv("conv_1", r, cout / 2, 1, 2, 1)?;
        let starts = self.b.param("shift/starts", Tensor::i64_vec(vec![1, 1]))?;
        let ends = self.b.param("shift/ends", Tensor::i64_vec(vec![i64::MAX, i64::MAX]))?;
        let axes = self.b.param("shift/axes", Tensor::i64_vec(vec![2, 3]))?;
        let shifted = self.b.op(OpType::Slice, "shift", &[r, starts, ends, axes], vec![])?;
        let b = self.conv("conv_2", shifted, cout / 2, 1, 2, 1)?;
        let cat = self.b.concat("concat", &[a, b], 1)?;
        let out = self.bn("bn", cat)?;
        self.b.pop_scope();
        Ok(out)
    }

    /// One input of a DARTS node: operation `op` on `x` with `stride`, to `c` channels.
    fn two_input_edge(
        &mut self,
        space: &SearchSpace,
        op: usize,
        scope: &str,
        x: ValueId,
        c: usize,
        stride: usize,
    ) -> Result<ValueId> {
        let spec = space.op(op);
        let block = resolve(spec, &[])
            .ok_or_else(|| Error::Spec(format!("{scope}: an option list is empty")))?;
        match (block, stride) {
            (Block::Identity | Block::Skip, 2) => self.factorized_reduce(scope, x, c),
            (Block::Zero, 2) => {
                let p = Pool2d::new(1, 2, 0);
                let sub = self.b.pool(OpType::MaxPool, &format!("{scope}/subsample"), x, p)?;
                self.block(&OpSpec::Zero, &[], scope, sub, c, 1)
            }
            _ => self.block(spec, &[], scope, x, c, stride),
        }
    }

    /// One DARTS cell: preprocess the two inputs to `c` channels (a factorized reduce for an
    /// input at twice the resolution), sum two operations per node, concatenate the nodes.
    #[allow(clippy::too_many_arguments)]
    fn two_input_cell(
        &mut self,
        space: &SearchSpace,
        cell: &[[Input; 2]],
        scope: &str,
        (s0, s1): (ValueId, ValueId),
        c: usize,
        reduction: bool,
        reduction_prev: bool,
    ) -> Result<ValueId> {
        self.b.push_scope(scope);
        let p0 = if reduction_prev {
            self.factorized_reduce("preprocess0", s0, c)?
        } else {
            self.relu_conv_bn("preprocess0", s0, c, 1, 1, 1)?
        };
        let p1 = self.relu_conv_bn("preprocess1", s1, c, 1, 1, 1)?;
        let mut states = vec![p0, p1];
        for (i, pair) in cell.iter().enumerate() {
            let node = i + 2;
            let mut terms = Vec::with_capacity(2);
            for (j, &(op, src)) in pair.iter().enumerate() {
                let stride = if reduction && src < 2 { 2 } else { 1 };
                let scope = format!("node{node}/edge{j}");
                terms.push(self.two_input_edge(space, op, &scope, states[src], c, stride)?);
            }
            let sum = self.b.add(&format!("node{node}/add"), terms[0], terms[1])?;
            states.push(sum);
        }
        let out = self.b.concat("concat", &states[2..], 1)?;
        self.b.pop_scope();
        Ok(out)
    }

    /// The stages of a DARTS network after the stem output `h`: each stage's reduction cell (if
    /// it has one), then its normal cells, each cell reading the outputs of the two before it.
    pub(super) fn two_input_stages(
        &mut self,
        space: &SearchSpace,
        g: &Genotype,
        h: ValueId,
    ) -> Result<ValueId> {
        let mut cells = Vec::new();
        for (k, st) in space.spec.stages.iter().enumerate() {
            if st.reduction == Some(ReductionSpec::Cell) {
                cells.push((format!("stage{}/reduce", k + 1), &g.reduce, true, st.channels));
            }
            for c in 0..st.cells {
                cells.push((format!("stage{}/cell{c}", k + 1), &g.normal, false, st.channels));
            }
        }
        let (mut s0, mut s1) = (h, h);
        let mut reduction_prev = false;
        for (scope, cell, reduction, c) in cells {
            let out =
                self.two_input_cell(space, cell, &scope, (s0, s1), c, reduction, reduction_prev)?;
            (s0, s1, reduction_prev) = (s1, out, reduction);
            self.layers.push(out);
        }
        Ok(s1)
    }
}
