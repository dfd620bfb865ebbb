//! The graph: values in SSA form, nodes in topological order, shapes known statically.
//!
//! A [`Graph`] only grows by [`Graph::add_node`], which checks the node (arity, attributes,
//! shapes) and infers its output types on the spot, so a graph is valid at every moment and every
//! value has a static [`TensorType`]. Nodes are stored in a topological order by construction.

use std::collections::{BTreeMap, HashMap};

use super::attr::Attr;
use super::dtype::TensorType;
use super::infer;
use super::op::OpType;
use super::tensor::Tensor;
use crate::error::{Error, Result};

/// Index of a value in its graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub usize);

/// Index of a node in its graph (also its position in topological order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// Where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueSource {
    /// A graph input fed at run time.
    Input,
    /// A constant initializer stored with the model.
    Initializer,
    /// Output `slot` of a node.
    Node {
        /// The producing node.
        node: NodeId,
        /// Which of its outputs.
        slot: usize,
    },
}

/// A tensor value: a graph input, an initializer, or a node output.
#[derive(Debug, Clone)]
pub struct Value {
    /// Unique name (the ONNX tensor name).
    pub name: String,
    /// Static type.
    pub ty: TensorType,
    /// Where it comes from.
    pub source: ValueSource,
    /// The value's contents when known before running: always for initializers, and for node
    /// outputs that shape inference could compute (constants, shape arithmetic).
    pub data: Option<Tensor>,
}

/// One operator application.
#[derive(Debug, Clone)]
pub struct Node {
    /// Unique, readable name (`stage1/cell0/edge_1_0/conv`).
    pub name: String,
    /// The operator.
    pub op: OpType,
    /// Attributes by name (sorted, so exports are deterministic).
    pub attrs: BTreeMap<String, Attr>,
    /// Inputs in ONNX order; `None` is an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    /// Outputs in ONNX order.
    pub outputs: Vec<ValueId>,
}

impl Node {
    /// The input in `slot`, if given.
    pub fn input(&self, slot: usize) -> Option<ValueId> {
        self.inputs.get(slot).copied().flatten()
    }
}

/// A computation graph with static shapes.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Graph name.
    pub name: String,
    /// Opset version of the default ONNX domain the graph is written for.
    pub opset: i64,
    values: Vec<Value>,
    nodes: Vec<Node>,
    inputs: Vec<ValueId>,
    outputs: Vec<ValueId>,
    by_name: HashMap<String, ValueId>,
    node_names: HashMap<String, NodeId>,
}

/// Oldest opset of the default domain we read (the oldest ONNX Runtime guarantees to run).
pub const MIN_OPSET: i64 = 7;
/// Newest opset of the default domain we read (the newest ONNX Runtime 1.31 runs).
pub const MAX_OPSET: i64 = 26;
/// The opset of graphs that intrain builds itself.
pub const BUILD_OPSET: i64 = 17;

impl Graph {
    /// An empty graph for `opset` ([`MIN_OPSET`] to [`MAX_OPSET`]).
    pub fn new(name: impl Into<String>, opset: i64) -> Result<Graph> {
        if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
            return Err(Error::Opset {
                domain: String::new(),
                found: opset,
                min: MIN_OPSET,
                max: MAX_OPSET,
            });
        }
        Ok(Graph {
            name: name.into(),
            opset,
            values: Vec::new(),
            nodes: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            by_name: HashMap::new(),
            node_names: HashMap::new(),
        })
    }

    fn push_value(&mut self, value: Value) -> Result<ValueId> {
        if value.name.is_empty() {
            return Err(Error::InvalidModel("a tensor has an empty name".into()));
        }
        if crate::ir::dtype::checked_numel(&value.ty.shape).is_none() {
            return Err(Error::InvalidModel(format!(
                "tensor '{}' has shape {:?}, more than 2^40 elements",
                value.name, value.ty.shape
            )));
        }
        if self.by_name.contains_key(&value.name) {
            return Err(Error::InvalidModel(format!(
                "tensor name '{}' is defined twice",
                value.name
            )));
        }
        let id = ValueId(self.values.len());
        self.by_name.insert(value.name.clone(), id);
        self.values.push(value);
        Ok(id)
    }

    /// Adds a graph input.
    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> Result<ValueId> {
        let id = self.push_value(Value {
            name: name.into(),
            ty,
            source: ValueSource::Input,
            data: None,
        })?;
        self.inputs.push(id);
        Ok(id)
    }

    /// Adds a constant initializer.
    pub fn add_initializer(&mut self, name: impl Into<String>, tensor: Tensor) -> Result<ValueId> {
        self.push_value(Value {
            name: name.into(),
            ty: tensor.ty(),
            source: ValueSource::Initializer,
            data: Some(tensor),
        })
    }

    /// Adds a node, checks it and infers its outputs' types. `outputs` names the outputs; their
    /// number is the number of outputs the node produces (ONNX optional outputs omitted at the end).
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: OpType,
        inputs: &[Option<ValueId>],
        attrs: BTreeMap<String, Attr>,
        outputs: &[String],
    ) -> Result<Vec<ValueId>> {
        let name = name.into();
        if name.is_empty() || self.node_names.contains_key(&name) {
            return Err(Error::InvalidModel(format!("node name '{name}' is empty or used twice")));
        }
        for id in inputs.iter().flatten() {
            if id.0 >= self.values.len() {
                return Err(Error::node(&name, op, "input refers to a value of another graph"));
            }
        }
        let inferred = infer::infer_node(self, &name, op, inputs, &attrs, outputs.len())?;
        let node_id = NodeId(self.nodes.len());
        let mut out_ids = Vec::with_capacity(outputs.len());
        for (slot, ((ty, data), out_name)) in inferred.into_iter().zip(outputs).enumerate() {
            let id = self
                .push_value(Value {
                    name: out_name.clone(),
                    ty,
                    source: ValueSource::Node { node: node_id, slot },
                    data,
                })
                .map_err(|e| Error::node(&name, op, e.to_string()))?;
            out_ids.push(id);
        }
        self.node_names.insert(name.clone(), node_id);
        self.nodes.push(Node {
            name,
            op,
            attrs,
            inputs: inputs.to_vec(),
            outputs: out_ids.clone(),
        });
        Ok(out_ids)
    }

    /// Replaces an initializer's contents with a tensor of the same type (re-initialisation).
    pub fn set_initializer(&mut self, id: ValueId, tensor: Tensor) -> Result<()> {
        let v = &mut self.values[id.0];
        if v.source != ValueSource::Initializer || v.ty != tensor.ty() {
            return Err(Error::Input(format!(
                "'{}' is not an initializer of type {}",
                v.name,
                tensor.ty()
            )));
        }
        v.data = Some(tensor);
        Ok(())
    }

    /// Renames a node's output value to `name`, which must be unused; inputs and initializers
    /// keep their names (they are the model's interface).
    pub fn rename_node_output(&mut self, id: ValueId, name: &str) -> Result<()> {
        let v = &self.values[id.0];
        if !matches!(v.source, ValueSource::Node { .. }) {
            return Err(Error::InvalidModel(format!("'{}' is not a node output", v.name)));
        }
        if name.is_empty() || self.by_name.contains_key(name) {
            return Err(Error::InvalidModel(format!("tensor name '{name}' is empty or used")));
        }
        let old = std::mem::replace(&mut self.values[id.0].name, name.to_string());
        self.by_name.remove(&old);
        self.by_name.insert(name.to_string(), id);
        Ok(())
    }

    /// Marks a value as a graph output (idempotent).
    pub fn add_output(&mut self, id: ValueId) {
        if !self.outputs.contains(&id) {
            self.outputs.push(id);
        }
    }

    /// Removes every graph output mark.
    pub fn clear_outputs(&mut self) {
        self.outputs.clear();
    }

    /// The value with this id.
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.0]
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    /// All values, indexed by [`ValueId`].
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// All nodes in topological order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Graph inputs in order.
    pub fn inputs(&self) -> &[ValueId] {
        &self.inputs
    }

    /// Graph outputs in order.
    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }

    /// The value with this name.
    pub fn find(&self, name: &str) -> Option<ValueId> {
        self.by_name.get(name).copied()
    }

    /// The node with this name.
    pub fn find_node(&self, name: &str) -> Option<NodeId> {
        self.node_names.get(name).copied()
    }

    /// Initializers in definition order.
    pub fn initializers(&self) -> impl Iterator<Item = (ValueId, &Value)> {
        self.values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.source == ValueSource::Initializer)
            .map(|(i, v)| (ValueId(i), v))
    }

    /// The node producing a value, if any.
    pub fn producer(&self, id: ValueId) -> Option<&Node> {
        match self.values[id.0].source {
            ValueSource::Node { node, .. } => Some(&self.nodes[node.0]),
            _ => None,
        }
    }

    /// For every value, the nodes that read it (with the input slot), in node order.
    pub fn consumers(&self) -> Vec<Vec<(NodeId, usize)>> {
        let mut out = vec![Vec::new(); self.values.len()];
        for (n, node) in self.nodes.iter().enumerate() {
            for (slot, input) in node.inputs.iter().enumerate() {
                if let Some(v) = input {
                    out[v.0].push((NodeId(n), slot));
                }
            }
        }
        out
    }

    /// A fresh value or node name starting with `base` that is not used yet.
    pub fn fresh_name(&self, base: &str) -> String {
        if !self.by_name.contains_key(base) && !self.node_names.contains_key(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}_{i}"))
            .find(|n| !self.by_name.contains_key(n) && !self.node_names.contains_key(n))
            .unwrap_or_else(|| base.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_node_output_is_renamed_and_only_to_an_unused_name() -> Result<()> {
        let mut g = Graph::new("g", BUILD_OPSET)?;
        let x = g.add_input("x", TensorType::f32([2, 3]))?;
        let y = g.add_node("relu", OpType::Relu, &[Some(x)], BTreeMap::new(), &["y".into()])?[0];
        assert!(g.rename_node_output(x, "x2").is_err(), "an input keeps its name");
        assert!(g.rename_node_output(y, "x").is_err(), "a name in use");
        g.rename_node_output(y, "y_grad")?;
        assert_eq!(g.value(y).name, "y_grad");
        assert_eq!(g.find("y_grad"), Some(y));
        assert_eq!(g.find("y"), None);
        assert_eq!(g.fresh_name("y"), "y", "the old name is free again");
        Ok(())
    }
}
