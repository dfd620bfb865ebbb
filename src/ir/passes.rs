//! Graph rewrites.

use std::collections::HashMap;

use super::graph::{Graph, Node, ValueId, ValueSource};
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

/// Gives every node its own copy of a parameter that an exporter deduplicated across layers.
/// PyTorch's dynamo exporter, optimising, replaces initializers of equal value by one: a
/// BatchNorm's all-zero bias then also serves as its running mean and as the bias (and mean) of
/// every other BatchNorm of that width, and ConvNeXt's layer scales (all 1e-6) become one tensor
/// for a whole stage, so a gradient would be the sum over unrelated layers. An initializer that
/// feeds parameter slots of more than one node is split when it also feeds a BatchNorm's running
/// mean or variance (which no trained parameter can be), or when its elements are all equal and
/// two nodes of the same computing op read it in the same slot (layer after layer). Other sharing
/// is left alone: tied weights are shared in the source model too, and one layer may read its
/// bias through several different nodes (SwinV2 slices and scatters its zero `qkv` bias). The
/// first node to read it keeps the name; the others read `NAME@NODE`. Returns the graph unchanged
/// when there is nothing to split.
pub fn unshare_deduplicated_constants(src: &Graph) -> Result<Graph> {
    use OpType::*;
    let computes = |op: OpType| {
        matches!(
            op,
            Add | Sub
                | Mul
                | Div
                | Conv
                | ConvTranspose
                | Gemm
                | MatMul
                | Einsum
                | BatchNormalization
                | LayerNormalization
                | InstanceNormalization
        )
    };
    let mut users: HashMap<ValueId, Vec<usize>> = HashMap::new();
    // Per initializer, the (op, slot) pairs of computing ops reading it, with a repeat seen.
    let mut reads: HashMap<ValueId, Vec<(OpType, usize)>> = HashMap::new();
    let mut repeated: HashMap<ValueId, bool> = HashMap::new();
    let mut statistic: HashMap<ValueId, bool> = HashMap::new();
    for (n, node) in src.nodes().iter().enumerate() {
        for (slot, v) in node.inputs.iter().enumerate() {
            let Some(v) = *v else { continue };
            let value = src.value(v);
            if value.source != ValueSource::Initializer || !value.ty.dtype.is_float() {
                continue;
            }
            if node.op == BatchNormalization && slot >= 3 {
                *statistic.entry(v).or_default() = true;
                continue;
            }
            if !super::cost::is_parameter_slot(node.op, slot) {
                continue;
            }
            let u = users.entry(v).or_default();
            if u.last() != Some(&n) {
                u.push(n);
                if computes(node.op) {
                    let r = reads.entry(v).or_default();
                    if r.contains(&(node.op, slot)) {
                        repeated.insert(v, true);
                    }
                    r.push((node.op, slot));
                }
            }
        }
    }
    let split: HashMap<ValueId, usize> = users
        .into_iter()
        .filter(|(v, u)| {
            let value = src.value(*v);
            let constant = || {
                value.data.as_ref().is_some_and(|t| {
                    let x = t.to_f64();
                    x.iter().all(|e| e.to_bits() == x[0].to_bits())
                })
            };
            u.len() > 1
                && value.ty.rank() > 0
                && (statistic.get(v).copied().unwrap_or(false)
                    || repeated.get(v).copied().unwrap_or(false) && constant())
        })
        .map(|(v, u)| (v, u[0]))
        .collect();
    if split.is_empty() {
        return Ok(src.clone());
    }
    let mut index = 0usize;
    rebuild(
        src,
        |t| t.clone(),
        |g, n, inputs| {
            let me = index;
            index += 1;
            let mut inputs = inputs.to_vec();
            let mut copies: HashMap<ValueId, ValueId> = HashMap::new();
            for (slot, v) in n.inputs.iter().enumerate() {
                let Some(v) = *v else { continue };
                let Some(&first) = split.get(&v) else { continue };
                if first == me {
                    continue;
                }
                let copy = match copies.get(&v) {
                    Some(&c) => c,
                    None => {
                        let value = src.value(v);
                        let name = g.fresh_name(&format!("{}@{}", value.name, n.name));
                        let data = value.data.clone().expect("an initializer has data");
                        let c = g.add_initializer(name, data)?;
                        copies.insert(v, c);
                        c
                    }
                };
                inputs[slot] = Some(copy);
            }
            let names: Vec<String> = n.outputs.iter().map(|&o| src.value(o).name.clone()).collect();
            g.add_node(n.name.clone(), n.op, &inputs, n.attrs.clone(), &names)
        },
    )
}

/// Reads initializers directly where an exporter copies them first. PyTorch's dynamo exporter
/// writes `tensor.clone()` as an `Identity` named after the clone (`clone_7`), so the parameter
/// it copies would be known by that name. An `Identity` whose input is an initializer read by
/// nothing else, and whose output is not a graph output, is dropped and its readers read the
/// initializer. Other `Identity` nodes of initializers stay: the TorchScript exporter names a
/// deduplicated parameter by such a node's output. Returns the graph unchanged when there is
/// nothing to drop.
pub fn bypass_initializer_clones(src: &Graph) -> Result<Graph> {
    let mut readers: HashMap<ValueId, usize> = HashMap::new();
    for node in src.nodes() {
        for v in node.inputs.iter().flatten() {
            *readers.entry(*v).or_default() += 1;
        }
    }
    let clone_of = |n: &Node| -> Option<ValueId> {
        let input = n.input(0)?;
        let out = *n.outputs.first()?;
        (n.op == OpType::Identity
            && src.value(input).source == ValueSource::Initializer
            && readers.get(&input) == Some(&1)
            && !src.outputs().contains(&input)
            && !src.outputs().contains(&out))
        .then_some(input)
    };
    if !src.nodes().iter().any(|n| clone_of(n).is_some()) {
        return Ok(src.clone());
    }
    rebuild(
        src,
        |t| t.clone(),
        |g, n, inputs| match (clone_of(n), inputs.first().copied().flatten()) {
            (Some(_), Some(initializer)) => Ok(vec![initializer]),
            _ => {
                let names: Vec<String> =
                    n.outputs.iter().map(|&o| src.value(o).name.clone()).collect();
                g.add_node(n.name.clone(), n.op, inputs, n.attrs.clone(), &names)
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{GraphBuilder, TensorType};

    #[test]
    fn parameters_shared_with_running_statistics_are_split_per_node_and_others_stay_shared() {
        let mut b = GraphBuilder::new("t");
        let x = b.input("x", TensorType::f32([2, 3, 4, 4])).expect("x");
        let ones = b.param("ones", Tensor::f32([3], vec![1.0; 3])).expect("ones");
        let zeros = b.param("zeros", Tensor::f32([3], vec![0.0; 3])).expect("zeros");
        // As the dynamo exporter writes them: scale = var, bias = mean, shared by two layers.
        let bn1 = b.batch_norm("bn1", x, ones, zeros, zeros, ones, 1e-5, false).expect("bn1");
        let bn2 = b.batch_norm("bn2", bn1, ones, zeros, zeros, ones, 1e-5, false).expect("bn2");
        let w = b.param("w", Tensor::f32([3, 3, 1, 1], (0..9).map(|i| i as f32).collect()));
        let w = w.expect("w");
        let c1 = b.conv("c1", bn2, w, None, Default::default()).expect("c1");
        let c2 = b.conv("c2", c1, w, None, Default::default()).expect("c2");
        // A zero bias one layer reads through two different nodes (as SwinV2 slices and
        // scatters its qkv bias): one parameter.
        let bias = b.param("bias", Tensor::f32([3, 1, 1], vec![0.0; 3])).expect("bias");
        let a1 = b.op(OpType::Add, "a1", &[c2, bias], vec![]).expect("a1");
        let a2 = b.op(OpType::Mul, "a2", &[a1, bias], vec![]).expect("a2");
        // Layer scales of equal value merged across blocks (ConvNeXt): one per block.
        let gamma = b.param("gamma", Tensor::f32([3, 1, 1], vec![1e-6; 3])).expect("gamma");
        let s1 = b.op(OpType::Mul, "s1", &[a2, gamma], vec![]).expect("s1");
        let s2 = b.op(OpType::Mul, "s2", &[s1, gamma], vec![]).expect("s2");
        b.output(s2);
        let g = unshare_deduplicated_constants(&b.finish()).expect("unshare");
        let input = |node: &str, slot: usize| {
            let n = g.node(g.find_node(node).expect("node"));
            g.value(n.input(slot).expect("input")).name.clone()
        };
        assert_eq!([input("bn1", 1), input("bn1", 2), input("bn1", 3)], ["ones", "zeros", "zeros"]);
        assert_eq!(
            [input("bn2", 1), input("bn2", 2), input("bn2", 3), input("bn2", 4)],
            ["ones@bn2", "zeros@bn2", "zeros@bn2", "ones@bn2"]
        );
        assert_eq!([input("c1", 1), input("c2", 1)], ["w", "w"]);
        assert_eq!([input("a1", 1), input("a2", 1)], ["bias", "bias"]);
        assert_eq!([input("s1", 1), input("s2", 1)], ["gamma", "gamma@s2"]);
        assert_eq!(crate::ir::cost::parameters(&g).len(), 8);
    }

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

    #[test]
    fn clones_of_initializers_are_bypassed_but_named_copies_stay() {
        let mut b = GraphBuilder::new("t");
        let x = b.input("x", TensorType::f32([2, 3])).expect("x");
        let bias = b.param("bias", Tensor::f32([3], vec![0.5; 3])).expect("bias");
        let clone = b.op(OpType::Identity, "clone_7", &[bias], vec![]).expect("clone");
        let y = b.add("y", x, clone).expect("y");
        // A second layer's name for a shared weight (TorchScript's deduplication): kept.
        let w = b.param("w", Tensor::f32([3], vec![2.0; 3])).expect("w");
        let w2 = b.op(OpType::Identity, "layer2.w", &[w], vec![]).expect("w2");
        let z = b.op(OpType::Mul, "z", &[y, w], vec![]).expect("z");
        let u = b.op(OpType::Mul, "u", &[z, w2], vec![]).expect("u");
        b.output(u);
        let g = bypass_initializer_clones(&b.finish()).expect("bypass");
        assert!(g.find_node("clone_7").is_none());
        assert!(g.find_node("layer2.w").is_some());
        let y = g.node(g.find_node("y").expect("y"));
        assert_eq!(g.value(y.input(1).expect("in")).name, "bias");
        let names: Vec<String> =
            crate::ir::cost::parameters(&g).iter().map(|p| g.value(p.value).name.clone()).collect();
        assert!(names.contains(&"bias".to_string()), "{names:?}");
    }
}
