//! Splitting a graph into what a changing input does not reach and what it does.
//!
//! A pass that runs one graph many times with only some inputs changing (one cotangent per
//! sample or per class, the rest of the batch and the weights fixed) recomputes everything those
//! inputs do not reach on every run: the whole forward of a training graph. [`split_at_inputs`]
//! cuts the graph in two: the *fixed* part, run once, and the *varying* part, which reads the
//! fixed part's results (the *carried* values) as inputs and is run once per change.

use std::collections::BTreeSet;

use super::graph::{Graph, ValueId, ValueSource};
use crate::error::{Error, Result};

/// A graph cut at the values its varying inputs reach.
#[derive(Debug, Clone)]
pub struct SplitGraph {
    /// The nodes no varying input reaches that the carried values and the source's outputs
    /// need, with the source's other inputs and the initializers they read. Its outputs: the
    /// carried values, then the source's outputs it computes.
    pub fixed: Graph,
    /// The nodes a varying input reaches, and the cheap nodes recomputed beside them. Its
    /// inputs: the varying inputs, the carried values and the source's fixed inputs its nodes
    /// read directly; its outputs: the source's outputs the varying inputs reach.
    pub varying: Graph,
    /// Names of the values the fixed part computes and the varying part reads.
    pub carried: Vec<String>,
    /// Names of the source's outputs the fixed part computes (some may also be carried).
    pub fixed_outputs: Vec<String>,
}

/// An op whose output is larger than this many times what it reads expands its input (an
/// unfolded convolution input, a broadcast).
const EXPANSION: usize = 2;

/// Which fixed nodes the varying part recomputes instead of reading their results carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recompute {
    /// Reshaping ops only (free in place; a copy as an output of the fixed part).
    Reshapes,
    /// Reshaping ops and ops that expand their input ([`EXPANSION`]): less memory carried, at
    /// the cost of recomputing them on every run.
    ReshapesAndExpansions,
}

/// Cuts `src` at the values the inputs named in `varying` reach. Values known before running
/// (initializers, constants shape inference computed) go into each part that reads them as
/// constants, never as carried values. What the varying part reads through the ops `recompute`
/// names is recomputed there from the ops' inputs, which are carried instead.
pub fn split_at_inputs(
    src: &Graph,
    varying: &[String],
    recompute: Recompute,
) -> Result<SplitGraph> {
    let mut reached = vec![false; src.values().len()];
    for name in varying {
        let id = src
            .find(name)
            .filter(|id| src.inputs().contains(id))
            .ok_or_else(|| Error::Input(format!("'{name}' is not an input of the graph")))?;
        reached[id.0] = true;
    }
    let mut in_varying = vec![false; src.nodes().len()];
    for (n, node) in src.nodes().iter().enumerate() {
        if node.inputs.iter().flatten().any(|v| reached[v.0]) {
            in_varying[n] = true;
            for &o in &node.outputs {
                reached[o.0] = true;
            }
        }
    }
    let fixed_nodes: Vec<bool> = in_varying.iter().map(|&v| !v).collect();
    // Recomputed nodes, from the last to the first, so that a chain of them (an unfolding, then
    // a reshape) moves as a whole.
    let consumers = src.consumers();
    for n in (0..src.nodes().len()).rev() {
        let node = &src.nodes()[n];
        if in_varying[n] || !recomputable(src, node, recompute) {
            continue;
        }
        let read_there =
            node.outputs.iter().any(|o| consumers[o.0].iter().any(|(c, _)| in_varying[c.0]));
        if read_there {
            in_varying[n] = true;
        }
    }
    let known = |id: ValueId| src.value(id).data.is_some();
    let produced_by = |v: ValueId, part: &[bool]| match src.value(v).source {
        ValueSource::Node { node, .. } => part[node.0],
        _ => false,
    };
    // Values the varying part reads that only the fixed part computes.
    let mut carried: BTreeSet<ValueId> = BTreeSet::new();
    for (n, node) in src.nodes().iter().enumerate() {
        if !in_varying[n] {
            continue;
        }
        for &v in node.inputs.iter().flatten() {
            if produced_by(v, &fixed_nodes) && !produced_by(v, &in_varying) && !known(v) {
                carried.insert(v);
            }
        }
    }
    let carried: Vec<ValueId> = carried.into_iter().collect();
    let fixed_outputs: Vec<ValueId> = carried
        .iter()
        .copied()
        .chain(src.outputs().iter().copied().filter(|v| !reached[v.0]))
        .collect();
    let fixed = part(src, &fixed_nodes, &[], &fixed_outputs)?;
    let varying_inputs: Vec<ValueId> = src
        .inputs()
        .iter()
        .copied()
        .filter(|v| reached[v.0])
        .chain(carried.iter().copied())
        .collect();
    let varying_outputs: Vec<ValueId> =
        src.outputs().iter().copied().filter(|v| reached[v.0]).collect();
    let varying = part(src, &in_varying, &varying_inputs, &varying_outputs)?;
    let name = |&v: &ValueId| src.value(v).name.clone();
    Ok(SplitGraph {
        fixed,
        varying,
        carried: carried.iter().map(name).collect(),
        fixed_outputs: src.outputs().iter().filter(|v| !reached[v.0]).map(name).collect(),
    })
}

/// Whether `recompute` names `node`: a reshaping op, or one whose output is [`EXPANSION`] times
/// larger than the values it reads that are not constants.
fn recomputable(src: &Graph, node: &crate::ir::Node, recompute: Recompute) -> bool {
    use crate::ir::OpType::*;
    if matches!(node.op, Reshape | Flatten | Squeeze | Unsqueeze | Identity) {
        return true;
    }
    if recompute == Recompute::Reshapes {
        return false;
    }
    let bytes = |v: ValueId| {
        let ty = &src.value(v).ty;
        ty.numel() * ty.dtype.size_of()
    };
    let read: usize = node
        .inputs
        .iter()
        .flatten()
        .filter(|v| src.value(**v).data.is_none())
        .map(|&v| bytes(v))
        .sum();
    let written: usize = node.outputs.iter().map(|&v| bytes(v)).sum();
    read > 0 && written > EXPANSION * read
}

/// The graph of the nodes `keep` selects that `outputs` need, in source order: `inputs` (and
/// every source input those nodes read) as inputs, the constants they read as initializers.
fn part(src: &Graph, keep: &[bool], inputs: &[ValueId], outputs: &[ValueId]) -> Result<Graph> {
    // The kept nodes the outputs need, from the last to the first.
    let mut needed_value = vec![false; src.values().len()];
    for &o in outputs {
        needed_value[o.0] = true;
    }
    let mut needed = vec![false; src.nodes().len()];
    for n in (0..src.nodes().len()).rev() {
        let node = &src.nodes()[n];
        if keep[n] && node.outputs.iter().any(|o| needed_value[o.0]) {
            needed[n] = true;
            for &v in node.inputs.iter().flatten() {
                needed_value[v.0] = true;
            }
        }
    }
    let mut g = Graph::new(src.name.clone(), src.opset)?;
    let mut map: Vec<Option<ValueId>> = vec![None; src.values().len()];
    let bring = |g: &mut Graph, map: &mut Vec<Option<ValueId>>, v: ValueId| -> Result<()> {
        if map[v.0].is_some() {
            return Ok(());
        }
        let value = src.value(v);
        map[v.0] = Some(match &value.data {
            Some(t) if value.source != ValueSource::Input => {
                g.add_initializer(value.name.clone(), t.clone())?
            }
            _ => g.add_input(value.name.clone(), value.ty.clone())?,
        });
        Ok(())
    };
    for &v in inputs {
        bring(&mut g, &mut map, v)?;
    }
    for (n, node) in src.nodes().iter().enumerate() {
        if !needed[n] {
            continue;
        }
        for &v in node.inputs.iter().flatten() {
            if map[v.0].is_none() {
                if matches!(src.value(v).source, ValueSource::Node { .. })
                    && src.value(v).data.is_none()
                {
                    return Err(Error::InvalidModel(format!(
                        "node '{}' reads '{}' from the other part of a split graph",
                        node.name,
                        src.value(v).name
                    )));
                }
                bring(&mut g, &mut map, v)?;
            }
        }
        let inputs: Vec<Option<ValueId>> =
            node.inputs.iter().map(|i| i.and_then(|v| map[v.0])).collect();
        let names: Vec<String> = node.outputs.iter().map(|&o| src.value(o).name.clone()).collect();
        let outs = g.add_node(node.name.clone(), node.op, &inputs, node.attrs.clone(), &names)?;
        for (&o, new) in node.outputs.iter().zip(outs) {
            map[o.0] = Some(new);
        }
    }
    for &o in outputs {
        if map[o.0].is_none() && src.value(o).source == ValueSource::Input {
            bring(&mut g, &mut map, o)?;
        }
        let Some(v) = map[o.0] else {
            return Err(Error::InvalidModel(format!(
                "output '{}' is not computed by its part of a split graph",
                src.value(o).name
            )));
        };
        g.add_output(v);
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{GraphBuilder, OpType, Tensor, TensorType};

    /// `y = relu(x · w) + c`: with `c` varying, only the Add is run per change.
    #[test]
    fn only_what_the_varying_input_reaches_is_rerun() {
        let mut b = GraphBuilder::new("t");
        let x = b.input("x", TensorType::f32([2, 3])).expect("x");
        let c = b.input("c", TensorType::f32([2, 4])).expect("c");
        let w = b.param("w", Tensor::f32(vec![3, 4], vec![0.5; 12])).expect("w");
        let h = b.op(OpType::MatMul, "h", &[x, w], vec![]).expect("h");
        let r = b.relu("r", h).expect("r");
        let y = b.add("y", r, c).expect("y");
        b.output(y);
        b.output(r);
        let g = b.finish();
        let s = split_at_inputs(&g, &["c".to_string()], Recompute::Reshapes).expect("split");
        assert_eq!(s.carried, vec!["r".to_string()]);
        assert_eq!(s.fixed_outputs, vec!["r".to_string()]);
        assert_eq!(s.fixed.nodes().len(), 2);
        assert_eq!(s.varying.nodes().len(), 1);
        let names = |g: &Graph, ids: &[ValueId]| -> Vec<String> {
            ids.iter().map(|&v| g.value(v).name.clone()).collect()
        };
        assert_eq!(names(&s.fixed, s.fixed.outputs()), ["r"]);
        assert_eq!(names(&s.varying, s.varying.inputs()), ["c", "r"]);
        assert_eq!(names(&s.varying, s.varying.outputs()), ["y"]);
        assert!(split_at_inputs(&g, &["w".to_string()], Recompute::Reshapes).is_err());
    }

    /// `y = reshape(tile(relu(x))) + c`: the tiling (three times the bytes it reads) is
    /// recomputed per change from the carried ReLU output when expansions are recomputed.
    #[test]
    fn expanding_and_reshaping_nodes_are_recomputed_not_carried() {
        let mut b = GraphBuilder::new("t");
        let x = b.input("x", TensorType::f32([2, 4])).expect("x");
        let c = b.input("c", TensorType::f32([1, 24])).expect("c");
        let r = b.relu("r", x).expect("r");
        let reps = b.param("reps", Tensor::i64_vec(vec![3, 1])).expect("reps");
        let t = b.op(OpType::Tile, "t", &[r, reps], vec![]).expect("t");
        let shape = b.param("shape", Tensor::i64_vec(vec![1, 24])).expect("shape");
        let f = b.op(OpType::Reshape, "f", &[t, shape], vec![]).expect("f");
        let y = b.add("y", f, c).expect("y");
        b.output(y);
        let g = b.finish();
        let ops = |g: &Graph| g.nodes().iter().map(|n| n.op).collect::<Vec<_>>();
        let s = split_at_inputs(&g, &["c".to_string()], Recompute::ReshapesAndExpansions)
            .expect("split");
        assert_eq!(s.carried, vec!["r".to_string()]);
        assert_eq!(ops(&s.fixed), [OpType::Relu]);
        assert_eq!(ops(&s.varying), [OpType::Tile, OpType::Reshape, OpType::Add]);
        // Carrying expansions: the tiled tensor is carried, the reshape still recomputed.
        let s = split_at_inputs(&g, &["c".to_string()], Recompute::Reshapes).expect("split");
        assert_eq!(s.carried, vec!["t".to_string()]);
        assert_eq!(ops(&s.fixed), [OpType::Relu, OpType::Tile]);
        assert_eq!(ops(&s.varying), [OpType::Reshape, OpType::Add]);
    }
}
