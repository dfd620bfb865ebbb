//! Parameter counts and compute cost (multiply-accumulates and FLOPs) per node.
//!
//! **Parameters.** A parameter is a float tensor with a value stored in the model (an
//! initializer) that a node consumes as data, except in the slots that hold statistics or bounds
//! (BatchNormalization mean/var, Clip bounds, Pad value, Pow exponent, Dropout ratio). An
//! `Identity` of an initializer is its own parameter: PyTorch's TorchScript exporter shares
//! equal-valued initializers between unrelated parameters through `Identity` nodes, and each
//! consumer behind one is a separate PyTorch parameter. A value consumed by several nodes is
//! counted once (true weight sharing). Rank-0 scalars are constants, not parameters.
//!
//! **MACs** count multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul only (the
//! usual "FLOPs" of NAS papers, e.g. 300M for MobileNetV2). **FLOPs** follow the counter behind
//! the NAS-Bench-201 `flops` column (tensorwatch's `ModelStats`, as used by NASLib): MACs, plus a
//! convolution bias one per output element (a Gemm bias is free), an affine BatchNormalization
//! two per element, an activation one per element, a k×k pool k² per output element, and a global
//! average pool N·C·(H+1)·(W+1) (tensorwatch's window off-by-one, reproduced so that the counts
//! match the benchmark exactly); Add/Mul between activations are not counted.

use super::attr::NodeAttrs;
use super::graph::{Graph, Node, NodeId, ValueId, ValueSource};
use super::op::OpType;

/// Compute cost of one node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeCost {
    /// Multiply-accumulates (Conv, ConvTranspose, Gemm, MatMul).
    pub macs: u64,
    /// FLOPs in the NAS-Bench-201 convention (MACs plus elementwise work; see module docs).
    pub flops: u64,
}

/// One parameter tensor of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// The value holding it (an initializer or an `Identity` of one).
    pub value: ValueId,
    /// The initializer the value comes from.
    pub initializer: ValueId,
    /// Number of elements.
    pub numel: u64,
    /// The nodes consuming it, with the input slot.
    pub consumers: Vec<(NodeId, usize)>,
}

/// Whether input `slot` of `node` holds data that can be a parameter (not statistics or bounds).
pub fn is_parameter_slot(op: OpType, slot: usize) -> bool {
    use OpType::*;
    match op {
        BatchNormalization => slot == 1 || slot == 2,
        Clip | Pad | Dropout | Pow => slot == 0,
        Identity => false,
        Reshape | Expand | Tile | Slice | Squeeze | Unsqueeze | Split | ReduceSum | ReduceMean
        | ReduceMax | ReduceMin | ReduceSumSquare | ReduceL2 | Range | ConstantOfShape => slot == 0,
        _ => true,
    }
}

/// The initializer behind a value: itself, or the start of an `Identity` chain ending in it.
pub fn initializer_behind(graph: &Graph, mut v: ValueId) -> Option<ValueId> {
    loop {
        let value = graph.value(v);
        match value.source {
            ValueSource::Initializer => return Some(v),
            ValueSource::Node { node, .. } => {
                let n = graph.node(node);
                if n.op != OpType::Identity {
                    return None;
                }
                v = n.input(0)?;
            }
            ValueSource::Input => return None,
        }
    }
}

/// The initializer behind a value through `Identity` and `Transpose` nodes: the weight of a
/// `MatMul` as the TorchScript exporter writes a linear layer, `MatMul(x, Transpose(W))`.
pub fn weight_behind(graph: &Graph, v: ValueId) -> Option<ValueId> {
    initializer_behind(graph, v).or_else(|| {
        let ValueSource::Node { node, .. } = graph.value(v).source else { return None };
        let n = graph.node(node);
        (n.op == OpType::Transpose)
            .then(|| n.input(0))
            .flatten()
            .and_then(|i| weight_behind(graph, i))
    })
}

/// Every parameter of the graph, in order of first use.
pub fn parameters(graph: &Graph) -> Vec<Parameter> {
    let mut out: Vec<Parameter> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for (n, node) in graph.nodes().iter().enumerate() {
        for (slot, input) in node.inputs.iter().enumerate() {
            let Some(v) = *input else { continue };
            if !is_parameter_slot(node.op, slot) {
                continue;
            }
            let Some(init) = initializer_behind(graph, v) else { continue };
            let ty = &graph.value(v).ty;
            if !ty.dtype.is_float() || ty.rank() == 0 {
                continue;
            }
            let i = *index.entry(v).or_insert_with(|| {
                out.push(Parameter {
                    value: v,
                    initializer: init,
                    numel: ty.numel() as u64,
                    consumers: vec![],
                });
                out.len() - 1
            });
            out[i].consumers.push((NodeId(n), slot));
        }
    }
    out
}

/// Total number of parameter elements.
pub fn parameter_count(graph: &Graph) -> u64 {
    parameters(graph).iter().map(|p| p.numel).sum()
}

/// The compute cost of one node.
pub fn node_cost(graph: &Graph, node: &Node) -> NodeCost {
    use OpType::*;
    let numel_in =
        |slot: usize| node.input(slot).map(|v| graph.value(v).ty.numel() as u64).unwrap_or(0);
    let shape_in =
        |slot: usize| node.input(slot).map(|v| graph.value(v).ty.shape.clone()).unwrap_or_default();
    let out_numel = node.outputs.first().map(|&v| graph.value(v).ty.numel() as u64).unwrap_or(0);
    let out_shape =
        node.outputs.first().map(|&v| graph.value(v).ty.shape.clone()).unwrap_or_default();
    let has_bias = |slot: usize| node.input(slot).is_some();
    match node.op {
        Conv => {
            let w = shape_in(1);
            let per_out: u64 = w[1..].iter().map(|&d| d as u64).product();
            let macs = out_numel.saturating_mul(per_out);
            NodeCost { macs, flops: macs.saturating_add(if has_bias(2) { out_numel } else { 0 }) }
        }
        ConvTranspose => {
            let w = shape_in(1);
            let per_in: u64 = w[1..].iter().map(|&d| d as u64).product();
            let macs = numel_in(0).saturating_mul(per_in);
            NodeCost { macs, flops: macs.saturating_add(if has_bias(2) { out_numel } else { 0 }) }
        }
        Gemm => {
            let a = shape_in(0);
            let k = if matches!(node.attr_int("transA", 0), Ok(1)) { a[0] } else { a[1] } as u64;
            let macs = out_numel.saturating_mul(k);
            // The NAS-Bench-201 counter (tensorwatch) counts a Linear layer's bias as free.
            NodeCost { macs, flops: macs }
        }
        MatMul => {
            let a = shape_in(0);
            let k = *a.last().unwrap_or(&0) as u64;
            let macs = out_numel.saturating_mul(k);
            NodeCost { macs, flops: macs }
        }
        BatchNormalization | LayerNormalization | InstanceNormalization => {
            NodeCost { macs: 0, flops: numel_in(0).saturating_mul(2) }
        }
        Relu | LeakyRelu | Sigmoid | Tanh | HardSigmoid | HardSwish | Gelu | Elu | Clip
        | Softplus => NodeCost { macs: 0, flops: out_numel },
        AveragePool | MaxPool => {
            let k: u64 = match node.attr_ints("kernel_shape") {
                Ok(Some(k)) => k.iter().map(|&d| d.max(0) as u64).product(),
                _ => 1,
            };
            let _ = out_shape;
            NodeCost { macs: 0, flops: out_numel.saturating_mul(k) }
        }
        GlobalAveragePool | GlobalMaxPool => {
            // tensorwatch counts an adaptive pool to 1x1 as N·C·(H+1)·(W+1) (an off-by-one in
            // its window size), and the benchmark's FLOPs include it.
            let s = shape_in(0);
            let per_map: u64 = s[2..].iter().map(|&d| d as u64 + 1).product();
            let maps = s[..2].iter().map(|&d| d as u64).product::<u64>();
            NodeCost { macs: 0, flops: maps.saturating_mul(per_map) }
        }
        _ => NodeCost::default(),
    }
}

/// Total cost of the graph.
pub fn graph_cost(graph: &Graph) -> NodeCost {
    graph.nodes().iter().fold(NodeCost::default(), |acc, n| {
        let c = node_cost(graph, n);
        NodeCost { macs: acc.macs.saturating_add(c.macs), flops: acc.flops.saturating_add(c.flops) }
    })
}
