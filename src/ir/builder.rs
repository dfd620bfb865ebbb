//! A convenience layer for building graphs in Rust, with scoped readable names.
//!
//! ```
//! use intrain::ir::{GraphBuilder, Tensor, TensorType};
//! let mut b = GraphBuilder::new("mlp");
//! let x = b.input("x", TensorType::f32([4, 3])).unwrap();
//! let w = b.param("fc.weight", Tensor::f32([2, 3], vec![0.1; 6])).unwrap();
//! let y = b.gemm("fc", x, w, None, true).unwrap();
//! b.output(y);
//! let g = b.finish();
//! assert_eq!(g.value(y).ty.shape, vec![4, 2]);
//! ```

use std::collections::BTreeMap;

use super::attr::Attr;
use super::dtype::TensorType;
use super::graph::{BUILD_OPSET, Graph, ValueId};
use super::op::OpType;
use super::tensor::Tensor;
use crate::error::Result;

/// Builds a [`Graph`] node by node; names are prefixed by the current scope (`stage1/cell0/...`).
pub struct GraphBuilder {
    graph: Graph,
    scope: Vec<String>,
    saved_scopes: Vec<Vec<String>>,
}

/// Convolution hyper-parameters for [`GraphBuilder::conv`] (2-D, symmetric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2d {
    /// Stride.
    pub stride: usize,
    /// Padding on every side.
    pub pad: usize,
    /// Dilation.
    pub dilation: usize,
    /// Groups.
    pub group: usize,
}

impl Default for Conv2d {
    fn default() -> Self {
        Conv2d { stride: 1, pad: 0, dilation: 1, group: 1 }
    }
}

/// Pooling hyper-parameters for [`GraphBuilder::pool`] (2-D, square, symmetric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2d {
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on every side.
    pub pad: usize,
    /// AveragePool: whether padded positions count in the average.
    pub count_include_pad: bool,
}

impl Pool2d {
    /// A `kernel`×`kernel` pool with `stride` and `pad`, padding not counted.
    pub fn new(kernel: usize, stride: usize, pad: usize) -> Pool2d {
        Pool2d { kernel, stride, pad, count_include_pad: false }
    }
}

impl GraphBuilder {
    /// A builder for a graph of the opset intrain builds with ([`BUILD_OPSET`]).
    pub fn new(name: impl Into<String>) -> GraphBuilder {
        let graph = match Graph::new(name, BUILD_OPSET) {
            Ok(g) => g,
            Err(_) => unreachable!("BUILD_OPSET is in the supported range"),
        };
        GraphBuilder { graph, scope: Vec::new(), saved_scopes: Vec::new() }
    }

    /// Wraps an existing graph to extend it.
    pub fn from_graph(graph: Graph) -> GraphBuilder {
        GraphBuilder { graph, scope: Vec::new(), saved_scopes: Vec::new() }
    }

    /// Enters a naming scope.
    pub fn push_scope(&mut self, name: impl Into<String>) {
        self.scope.push(name.into());
    }

    /// Leaves the innermost naming scope.
    pub fn pop_scope(&mut self) {
        self.scope.pop();
    }

    /// Temporarily leaves every scope (for names that belong at the top level); undo with
    /// [`GraphBuilder::pop_scope_root`].
    pub fn push_scope_root(&mut self) {
        self.saved_scopes.push(std::mem::take(&mut self.scope));
    }

    /// Restores the scopes saved by [`GraphBuilder::push_scope_root`].
    pub fn pop_scope_root(&mut self) {
        if let Some(s) = self.saved_scopes.pop() {
            self.scope = s;
        }
    }

    /// The graph built so far.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The finished graph.
    pub fn finish(self) -> Graph {
        self.graph
    }

    /// `name` inside the current scope, made unique.
    pub fn qualified(&self, name: &str) -> String {
        let full = if self.scope.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.scope.join("/"))
        };
        self.graph.fresh_name(&full)
    }

    /// Adds a graph input (its name is not scoped).
    pub fn input(&mut self, name: &str, ty: TensorType) -> Result<ValueId> {
        self.graph.add_input(name, ty)
    }

    /// Adds an initializer (a parameter or constant) named within the scope.
    pub fn param(&mut self, name: &str, tensor: Tensor) -> Result<ValueId> {
        let n = self.qualified(name);
        self.graph.add_initializer(n, tensor)
    }

    /// Marks a graph output.
    pub fn output(&mut self, v: ValueId) {
        self.graph.add_output(v);
    }

    /// Marks a node's output as a graph output under the unused name `name` (see
    /// [`Graph::rename_node_output`]).
    pub fn output_as(&mut self, v: ValueId, name: &str) -> Result<()> {
        self.graph.rename_node_output(v, name)?;
        self.graph.add_output(v);
        Ok(())
    }

    /// Adds a node with one output; the node and its output share the scoped `name`.
    pub fn op(
        &mut self,
        op: OpType,
        name: &str,
        inputs: &[ValueId],
        attrs: Vec<(&str, Attr)>,
    ) -> Result<ValueId> {
        let ins: Vec<Option<ValueId>> = inputs.iter().map(|&v| Some(v)).collect();
        let out = self.op_full(op, name, &ins, attrs, 1)?;
        Ok(out[0])
    }

    /// Adds a node with optional inputs and `n_outputs` outputs (named `name`, `name:1`, ...).
    pub fn op_full(
        &mut self,
        op: OpType,
        name: &str,
        inputs: &[Option<ValueId>],
        attrs: Vec<(&str, Attr)>,
        n_outputs: usize,
    ) -> Result<Vec<ValueId>> {
        let node_name = self.qualified(name);
        let outputs: Vec<String> = (0..n_outputs)
            .map(|i| {
                if i == 0 {
                    node_name.clone()
                } else {
                    self.graph.fresh_name(&format!("{node_name}:{i}"))
                }
            })
            .collect();
        let attrs: BTreeMap<String, Attr> =
            attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        self.graph.add_node(node_name, op, inputs, attrs, &outputs)
    }

    /// Adds a node with explicit (unscoped) output names.
    pub fn op_named(
        &mut self,
        op: OpType,
        name: &str,
        inputs: &[Option<ValueId>],
        attrs: BTreeMap<String, Attr>,
        outputs: &[String],
    ) -> Result<Vec<ValueId>> {
        let node_name = self.qualified(name);
        self.graph.add_node(node_name, op, inputs, attrs, outputs)
    }

    /// 2-D convolution `Conv(x, w[, b])`.
    pub fn conv(
        &mut self,
        name: &str,
        x: ValueId,
        w: ValueId,
        b: Option<ValueId>,
        p: Conv2d,
    ) -> Result<ValueId> {
        let (s, pad, d) = (p.stride as i64, p.pad as i64, p.dilation as i64);
        let mut inputs = vec![x, w];
        inputs.extend(b);
        let k = self.graph.value(w).ty.shape[2..].iter().map(|&k| k as i64).collect::<Vec<_>>();
        self.op(
            OpType::Conv,
            name,
            &inputs,
            vec![
                ("kernel_shape", Attr::Ints(k)),
                ("strides", Attr::Ints(vec![s, s])),
                ("pads", Attr::Ints(vec![pad; 4])),
                ("dilations", Attr::Ints(vec![d, d])),
                ("group", Attr::Int(p.group as i64)),
            ],
        )
    }

    /// BatchNormalization; in training mode (batch statistics) with momentum 1.0, which avoids
    /// ONNX Runtime 1.31's wrong outputs for other momenta: its training-mode kernel's Y depends on
    /// momentum, which the ONNX specification rules out (reported upstream at
    /// <https://github.com/microsoft/onnxruntime/issues/29790>).
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &mut self,
        name: &str,
        x: ValueId,
        scale: ValueId,
        bias: ValueId,
        mean: ValueId,
        var: ValueId,
        epsilon: f32,
        training: bool,
    ) -> Result<ValueId> {
        let mut attrs = vec![("epsilon", Attr::Float(epsilon))];
        if training {
            attrs.push(("training_mode", Attr::Int(1)));
            attrs.push(("momentum", Attr::Float(1.0)));
        }
        // ONNX Runtime insists on the running-statistics outputs in training mode.
        let n_outputs = if training { 3 } else { 1 };
        let inputs = [x, scale, bias, mean, var].map(Some);
        Ok(self.op_full(OpType::BatchNormalization, name, &inputs, attrs, n_outputs)?[0])
    }

    /// Relu.
    pub fn relu(&mut self, name: &str, x: ValueId) -> Result<ValueId> {
        self.op(OpType::Relu, name, &[x], vec![])
    }

    /// Add (broadcasting).
    pub fn add(&mut self, name: &str, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.op(OpType::Add, name, &[a, b], vec![])
    }

    /// Concat along `axis`.
    pub fn concat(&mut self, name: &str, xs: &[ValueId], axis: i64) -> Result<ValueId> {
        self.op(OpType::Concat, name, xs, vec![("axis", Attr::Int(axis))])
    }

    /// 2-D AveragePool or MaxPool with a square kernel.
    pub fn pool(&mut self, op: OpType, name: &str, x: ValueId, p: Pool2d) -> Result<ValueId> {
        let (k, s, pad) = (p.kernel as i64, p.stride as i64, p.pad as i64);
        let mut attrs = vec![
            ("kernel_shape", Attr::Ints(vec![k, k])),
            ("strides", Attr::Ints(vec![s, s])),
            ("pads", Attr::Ints(vec![pad; 4])),
        ];
        if op == OpType::AveragePool {
            attrs.push(("count_include_pad", Attr::Int(p.count_include_pad as i64)));
        }
        self.op(op, name, &[x], attrs)
    }

    /// GlobalAveragePool.
    pub fn global_avg_pool(&mut self, name: &str, x: ValueId) -> Result<ValueId> {
        self.op(OpType::GlobalAveragePool, name, &[x], vec![])
    }

    /// Flatten from `axis`.
    pub fn flatten(&mut self, name: &str, x: ValueId, axis: i64) -> Result<ValueId> {
        self.op(OpType::Flatten, name, &[x], vec![("axis", Attr::Int(axis))])
    }

    /// Gemm `x · wᵀ + b` when `trans_b`, else `x · w + b`.
    pub fn gemm(
        &mut self,
        name: &str,
        x: ValueId,
        w: ValueId,
        b: Option<ValueId>,
        trans_b: bool,
    ) -> Result<ValueId> {
        let mut inputs = vec![x, w];
        inputs.extend(b);
        self.op(OpType::Gemm, name, &inputs, vec![("transB", Attr::Int(trans_b as i64))])
    }
}
