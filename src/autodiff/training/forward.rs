//! The forward copy: the live part of the source graph emitted into the training graph, with
//! statically known values folded, batch-statistics BatchNormalization rewritten and Dropout as
//! identity.

use std::collections::{BTreeMap, HashMap};

use super::BnMode;
use super::batch_norm::{emit_bn_train, uses_batch_statistics};
use crate::autodiff::emit::Emitter;
use crate::autodiff::rules::BnSaved;
use crate::error::{Error, Result};
use crate::ir::{Graph, Node, NodeId, OpType, ValueId, ValueSource};

/// The forward graph as copied into the training graph.
pub(super) struct Forward {
    /// The training-graph value of each source value (by index), once emitted.
    pub map: Vec<Option<ValueId>>,
    /// What each batch-statistics BatchNormalization saved for its backward.
    pub bn_saved: HashMap<NodeId, BnSaved>,
}

impl Forward {
    /// Copies the graph inputs and the `live` nodes of `src` into `e`, in order. `need` (by
    /// value index) marks the values that need a gradient: a node none of whose inputs does is
    /// folded into initializers when its outputs are statically known.
    pub fn copy(
        e: &mut Emitter,
        src: &Graph,
        live: &[bool],
        need: &[bool],
        bn: BnMode,
    ) -> Result<Forward> {
        let mut fwd = Forward { map: vec![None; src.values().len()], bn_saved: HashMap::new() };
        for &i in src.inputs() {
            let v = src.value(i);
            fwd.map[i.0] = Some(e.builder().input(&v.name, v.ty.clone())?);
        }
        for (i, node) in src.nodes().iter().enumerate() {
            if !live[i] {
                continue;
            }
            let differentiable_input = node.inputs.iter().flatten().any(|v| need[v.0]);
            if !differentiable_input && fwd.fold(e, src, node)? {
                continue;
            }
            if uses_batch_statistics(node, bn)? {
                // The running statistics play no part: not emitted, so that the training graph
                // holds no unused initializer (which ONNX Runtime warns about, one line each).
                let inputs =
                    fwd.inputs_of(e, src, &node.inputs[..node.inputs.len().min(3)], node)?;
                let (y, saved) = emit_bn_train(e, node, &inputs, &src.value(node.outputs[0]).name)?;
                fwd.map[node.outputs[0].0] = Some(y);
                fwd.bn_saved.insert(NodeId(i), saved);
                continue;
            }
            let inputs = fwd.inputs(e, src, node)?;
            if per_channel_pool(e, src, node, &inputs) {
                fwd.copy_pool_per_channel(e, src, node, &inputs)?;
            } else {
                fwd.copy_node(e, src, node, inputs)?;
            }
        }
        Ok(fwd)
    }

    /// Emits the outputs of `node` as initializers of their own when all are statically known
    /// (constants, shape arithmetic, Identity of a small initializer); `false` if one is not.
    fn fold(&mut self, e: &mut Emitter, src: &Graph, node: &Node) -> Result<bool> {
        if !node.outputs.iter().all(|&o| src.value(o).data.is_some()) {
            return Ok(false);
        }
        for &o in &node.outputs {
            let v = src.value(o);
            if let Some(t) = &v.data {
                self.map[o.0] = Some(e.tensor(&v.name, t.clone())?);
            }
        }
        Ok(true)
    }

    /// The training-graph values of `node`'s inputs (`None` for omitted optional inputs).
    fn inputs(
        &mut self,
        e: &mut Emitter,
        src: &Graph,
        node: &Node,
    ) -> Result<Vec<Option<ValueId>>> {
        self.inputs_of(e, src, &node.inputs, node)
    }

    /// The training-graph values of `wanted`, some of `node`'s inputs.
    fn inputs_of(
        &mut self,
        e: &mut Emitter,
        src: &Graph,
        wanted: &[Option<ValueId>],
        node: &Node,
    ) -> Result<Vec<Option<ValueId>>> {
        let mut inputs = Vec::with_capacity(wanted.len());
        for i in wanted {
            inputs.push(match i {
                Some(v) => Some(self.emitted(e, src, *v)?.ok_or_else(|| {
                    Error::node(
                        &node.name,
                        node.op,
                        format!("input '{}' was not emitted", src.value(*v).name),
                    )
                })?),
                None => None,
            });
        }
        Ok(inputs)
    }

    /// The training-graph value of `v`; an initializer is emitted when first read.
    fn emitted(&mut self, e: &mut Emitter, src: &Graph, v: ValueId) -> Result<Option<ValueId>> {
        if self.map[v.0].is_none() {
            let val = src.value(v);
            if let Some(t) = val.data.as_ref().filter(|_| val.source == ValueSource::Initializer) {
                self.map[v.0] = Some(e.tensor(&val.name, t.clone())?);
            }
        }
        Ok(self.map[v.0])
    }

    /// Emits `node` as it is, Dropout as an Identity of its input (dropout off, no mask).
    fn copy_node(
        &mut self,
        e: &mut Emitter,
        src: &Graph,
        node: &Node,
        inputs: Vec<Option<ValueId>>,
    ) -> Result<()> {
        let (op, outputs, ins, attrs) = if node.op == OpType::Dropout {
            (OpType::Identity, &node.outputs[..1], inputs[..1].to_vec(), BTreeMap::new())
        } else {
            (node.op, &node.outputs[..], inputs, node.attrs.clone())
        };
        let names: Vec<String> = outputs.iter().map(|&o| src.value(o).name.clone()).collect();
        let ids = e.builder().op_named(op, &node.name, &ins, attrs, &names)?;
        for (&o, id) in outputs.iter().zip(ids) {
            self.map[o.0] = Some(id);
        }
        Ok(())
    }

    /// Emits a 2-D AveragePool over `(N, C, H, W)` as the same pool over `(N·C, 1, H, W)`
    /// between two Reshapes (no copies): with one channel ONNX Runtime's CPU provider pools the
    /// tensor in place instead of reordering it into and out of its blocked channel layout
    /// (NCHWc), which a training graph's batch-statistics neighbours would need undone; 30-40%
    /// faster with the reorders counted. The output keeps the node's name.
    fn copy_pool_per_channel(
        &mut self,
        e: &mut Emitter,
        src: &Graph,
        node: &Node,
        inputs: &[Option<ValueId>],
    ) -> Result<()> {
        let x = inputs[0].ok_or_else(|| Error::node(&node.name, node.op, "input 0 missing"))?;
        let xs = e.shape(x);
        let flat =
            e.reshape(&format!("{}/per_channel", node.name), x, &[xs[0] * xs[1], 1, xs[2], xs[3]])?;
        let pooled = e.builder().op_named(
            node.op,
            &node.name,
            &[Some(flat)],
            node.attrs.clone(),
            &[format!("{}/per_channel_pooled", src.value(node.outputs[0]).name)],
        )?[0];
        let out = src.value(node.outputs[0]);
        let shape: Vec<i64> = out.ty.shape.iter().map(|&d| d as i64).collect();
        let shape = e.ints(&shape)?;
        let y = e.builder().op_named(
            OpType::Reshape,
            &format!("{}/channels", node.name),
            &[Some(pooled), Some(shape)],
            BTreeMap::new(),
            std::slice::from_ref(&out.name),
        )?[0];
        self.map[node.outputs[0].0] = Some(y);
        Ok(())
    }

    /// The training-graph value of the source value `v`, which must have been emitted.
    pub fn value(&self, v: ValueId, what: &str) -> Result<ValueId> {
        self.map[v.0].ok_or_else(|| Error::InvalidModel(format!("{what} was not emitted")))
    }
}

/// Whether `node` is a 2-D AveragePool of a statically shaped, multi-channel input that
/// [`Forward::copy_pool_per_channel`] emits per channel.
fn per_channel_pool(e: &Emitter, src: &Graph, node: &Node, inputs: &[Option<ValueId>]) -> bool {
    if node.op != OpType::AveragePool || node.outputs.len() != 1 {
        return false;
    }
    let Some(x) = inputs.first().copied().flatten() else { return false };
    let xs = e.shape(x);
    let out = &src.value(node.outputs[0]).ty.shape;
    xs.len() == 4 && xs[1] > 1 && xs.iter().all(|&d| d > 0) && out.len() == 4
}
