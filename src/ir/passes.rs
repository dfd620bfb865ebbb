//! Graph rewrites.

use std::collections::HashMap;

use super::graph::{Graph, Node, ValueId};
use super::op::OpType;
use super::tensor::Tensor;
use crate::error::Result;

/// A rewritten graph and, for each value name that no longer exists, the name that replaced it.
pub struct Rewritten {
    /// The new graph.
    pub graph: Graph,
    /// Removed value name → surviving value name.
    pub aliases: HashMap<String, String>,
}

/// Merges nodes that compute the same thing (same op, same inputs, same attributes): exporters
/// and search spaces repeat, e.g., the ReLU of a tensor once per consumer. `Identity` and
/// `Dropout` are never merged (an `Identity` of an initializer is its own parameter).
pub fn merge_duplicates(src: &Graph) -> Result<Rewritten> {
    let mut g = Graph::new(src.name.clone(), src.opset)?;
    let mut map: Vec<Option<ValueId>> = vec![None; src.values().len()];
    let mut aliases = HashMap::new();
    for &i in src.inputs() {
        let v = src.value(i);
        map[i.0] = Some(g.add_input(v.name.clone(), v.ty.clone())?);
    }
    for (i, v) in src.initializers() {
        if let Some(t) = &v.data {
            map[i.0] = Some(g.add_initializer(v.name.clone(), t.clone())?);
        }
    }
    let mut seen: HashMap<String, Vec<ValueId>> = HashMap::new();
    for node in src.nodes() {
        let inputs: Vec<Option<ValueId>> =
            node.inputs.iter().map(|i| i.and_then(|v| map[v.0])).collect();
        let key = format!("{:?}|{:?}|{:?}|{}", node.op, inputs, node.attrs, node.outputs.len());
        let mergeable = !matches!(node.op, OpType::Identity | OpType::Dropout);
        if mergeable && let Some(outs) = seen.get(&key) {
            for (k, &o) in node.outputs.iter().enumerate() {
                map[o.0] = Some(outs[k]);
                aliases.insert(src.value(o).name.clone(), g.value(outs[k]).name.clone());
            }
            continue;
        }
        let names: Vec<String> = node.outputs.iter().map(|&o| src.value(o).name.clone()).collect();
        let outs = g.add_node(node.name.clone(), node.op, &inputs, node.attrs.clone(), &names)?;
        for (k, &o) in node.outputs.iter().enumerate() {
            map[o.0] = Some(outs[k]);
        }
        if mergeable {
            seen.insert(key, outs);
        }
    }
    for &o in src.outputs() {
        if let Some(v) = map[o.0] {
            g.add_output(v);
        }
    }
    Ok(Rewritten { graph: g, aliases })
}

/// Copies `src` node by node into a new graph: the inputs as they are, each initializer through
/// `initializer`, and each node through `node`, which adds whatever replaces it (given the node
/// and its inputs in the new graph) and returns the values standing for its outputs, in order
/// (fewer when trailing outputs are dropped). The outputs are the values standing for `src`'s.
pub fn rebuild(
    src: &Graph,
    mut initializer: impl FnMut(&Tensor) -> Tensor,
    mut node: impl FnMut(&mut Graph, &Node, &[Option<ValueId>]) -> Result<Vec<ValueId>>,
) -> Result<Graph> {
    let mut g = Graph::new(src.name.clone(), src.opset)?;
    let mut map: Vec<Option<ValueId>> = vec![None; src.values().len()];
    for &i in src.inputs() {
        let v = src.value(i);
        map[i.0] = Some(g.add_input(v.name.clone(), v.ty.clone())?);
    }
    for (i, v) in src.initializers() {
        if let Some(t) = &v.data {
            map[i.0] = Some(g.add_initializer(v.name.clone(), initializer(t))?);
        }
    }
    for n in src.nodes() {
        let inputs: Vec<Option<ValueId>> =
            n.inputs.iter().map(|i| i.and_then(|v| map[v.0])).collect();
        let outs = node(&mut g, n, &inputs)?;
        for (&o, new) in n.outputs.iter().zip(outs) {
            map[o.0] = Some(new);
        }
    }
    for &o in src.outputs() {
        if let Some(v) = map[o.0] {
            g.add_output(v);
        }
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{GraphBuilder, TensorType};

    #[test]
    fn merges_repeated_relus_but_not_identities() {
        let mut b = GraphBuilder::new("t");
        let x = b.input("x", TensorType::f32([2, 3])).expect("x");
        let r1 = b.relu("r1", x).expect("r1");
        let r2 = b.relu("r2", x).expect("r2");
        let i1 = b.op(OpType::Identity, "i1", &[x], vec![]).expect("i1");
        let i2 = b.op(OpType::Identity, "i2", &[x], vec![]).expect("i2");
        let s = b.add("s", r1, r2).expect("s");
        let t = b.add("t", i1, i2).expect("t");
        let u = b.add("u", s, t).expect("u");
        b.output(u);
        let r = merge_duplicates(&b.finish()).expect("merge");
        assert_eq!(r.graph.nodes().iter().filter(|n| n.op == OpType::Relu).count(), 1);
        assert_eq!(r.graph.nodes().iter().filter(|n| n.op == OpType::Identity).count(), 2);
        assert_eq!(r.aliases.get("r2").map(String::as_str), Some("r1"));
    }
}
