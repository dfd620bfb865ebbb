//! What is in a model: inputs, outputs, op histogram with differentiability, parameters,
//! MACs and FLOPs (the report of `intrain inspect`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::autodiff::{GradSupport, gradient_support};
use crate::ir::cost::{graph_cost, node_cost, parameters};
use crate::ir::{Graph, OpType};

/// A graph input or output.
#[derive(Debug, Serialize)]
pub struct TensorInfo {
    /// Name.
    pub name: String,
    /// Element type.
    pub dtype: String,
    /// Static shape.
    pub shape: Vec<usize>,
}

/// One line of the op histogram.
#[derive(Debug, Serialize)]
pub struct OpCount {
    /// ONNX op type.
    pub op: String,
    /// Number of nodes.
    pub count: usize,
    /// Multiply-accumulates of these nodes.
    pub macs: u64,
    /// Whether intrain can differentiate it.
    pub gradient: GradSupport,
}

/// One node, with `--nodes`.
#[derive(Debug, Serialize)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Op type.
    pub op: String,
    /// Shape of its first output.
    pub output_shape: Vec<usize>,
    /// Multiply-accumulates.
    pub macs: u64,
    /// FLOPs (NAS-Bench-201 convention).
    pub flops: u64,
}

/// The `inspect --json` document.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    /// The model file.
    pub model: String,
    /// Producer recorded in the file.
    pub producer: String,
    /// IR version of the file.
    pub ir_version: i64,
    /// Default-domain opset.
    pub opset: i64,
    /// Symbolic dimensions and the values used.
    pub resolved_dims: BTreeMap<String, usize>,
    /// Whether a dynamic batch axis was set to 1 (no `--batch`): costs are per sample.
    pub per_sample: bool,
    /// Graph inputs.
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// Number of nodes.
    pub nodes: usize,
    /// Number of initializers.
    pub initializers: usize,
    /// Trainable parameters (see the parameter rule in the README).
    pub parameters: u64,
    /// Number of parameter tensors.
    pub parameter_tensors: usize,
    /// Multiply-accumulates of Conv/Gemm/MatMul.
    pub macs: u64,
    /// FLOPs in the NAS-Bench-201 convention.
    pub flops: u64,
    /// Op histogram, most frequent first.
    pub ops: Vec<OpCount>,
    /// Ops present that intrain cannot differentiate yet.
    pub not_differentiable: Vec<String>,
    /// Per-node details (with `--nodes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_list: Option<Vec<NodeInfo>>,
}

fn tensor_info(g: &Graph, ids: &[crate::ir::ValueId]) -> Vec<TensorInfo> {
    ids.iter()
        .map(|&i| {
            let v = g.value(i);
            TensorInfo {
                name: v.name.clone(),
                dtype: v.ty.dtype.to_string(),
                shape: v.ty.shape.clone(),
            }
        })
        .collect()
}

/// Builds the report for a graph.
pub fn report(path: &str, m: &crate::onnx::ImportedModel, with_nodes: bool) -> InspectReport {
    let g = &m.graph;
    let mut hist: BTreeMap<OpType, (usize, u64)> = BTreeMap::new();
    for n in g.nodes() {
        let e = hist.entry(n.op).or_default();
        e.0 += 1;
        e.1 += node_cost(g, n).macs;
    }
    let mut ops: Vec<OpCount> = hist
        .iter()
        .map(|(op, (count, macs))| OpCount {
            op: op.name().into(),
            count: *count,
            macs: *macs,
            gradient: gradient_support(*op),
        })
        .collect();
    ops.sort_by(|a, b| b.count.cmp(&a.count).then(a.op.cmp(&b.op)));
    let params = parameters(g);
    let cost = graph_cost(g);
    let node_list = with_nodes.then(|| {
        g.nodes()
            .iter()
            .map(|n| {
                let c = node_cost(g, n);
                NodeInfo {
                    name: n.name.clone(),
                    op: n.op.name().into(),
                    output_shape: g.value(n.outputs[0]).ty.shape.clone(),
                    macs: c.macs,
                    flops: c.flops,
                }
            })
            .collect()
    });
    InspectReport {
        model: path.to_string(),
        producer: m.producer.clone(),
        ir_version: m.ir_version,
        opset: g.opset,
        resolved_dims: m.resolved_dims.clone(),
        per_sample: false,
        inputs: tensor_info(g, g.inputs()),
        outputs: tensor_info(g, g.outputs()),
        nodes: g.nodes().len(),
        initializers: g.initializers().count(),
        parameters: params.iter().map(|p| p.numel).sum(),
        parameter_tensors: params.len(),
        macs: cost.macs,
        flops: cost.flops,
        not_differentiable: ops
            .iter()
            .filter(|o| o.gradient == GradSupport::Unsupported)
            .map(|o| o.op.clone())
            .collect(),
        ops,
        node_list,
    }
}
