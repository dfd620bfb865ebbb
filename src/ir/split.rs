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
    /// The nodes no varying input reaches, with the source's other inputs and the initializers
    /// they read. Its outputs: the carried values, then the source's outputs it computes.
    pub fixed: Graph,
    /// The nodes a varying input reaches. Its inputs: the varying inputs, the carried values and
    /// the source's fixed inputs those nodes read directly; its outputs: the source's outputs it
    /// computes.
    pub varying: Graph,
    /// Names of the values the fixed part computes and the varying part reads.
    pub carried: Vec<String>,
    /// Names of the source's outputs the fixed part computes (some may also be carried).
    pub fixed_outputs: Vec<String>,
}

/// Cuts `src` at the values the inputs named in `varying` reach. Values known before running
/// (initializers, constants shape inference computed) go into each part that reads them as
/// constants, never as carried values.
pub fn split_at_inputs(src: &Graph, varying: &[String]) -> Result<SplitGraph> {
    let mut reached = vec![false; src.values().len()];
    for name in varying {
        let id = src
            .find(name)
            .filter(|id| src.inputs().contains(id))
            .ok_or_else(|| Error::Input(format!("'{name}' is not an input of the graph")))?;
        reached[id.0] = true;
    }
    let mut varying_nodes = vec![false; src.nodes().len()];
    for (n, node) in src.nodes().iter().enumerate() {
        if node.inputs.iter().flatten().any(|v| reached[v.0]) {
            varying_nodes[n] = true;
            for &o in &node.outputs {
                reached[o.0] = true;
            }
        }
    }
    let known = |id: ValueId| src.value(id).data.is_some();
    // Values the varying nodes read that the fixed part computes.
    let mut carried: BTreeSet<ValueId> = BTreeSet::new();
    for (n, node) in src.nodes().iter().enumerate() {
        if !varying_nodes[n] {
            continue;
        }
        for &v in node.inputs.iter().flatten() {
            let computed = matches!(src.value(v).source, ValueSource::Node { .. });
            if !reached[v.0] && computed && !known(v) {
                carried.insert(v);
            }
        }
    }
    let carried: Vec<ValueId> = carried.into_iter().collect();
    let fixed = part(src, &|n| !varying_nodes[n], &[], &carried, &|v| !reached[v.0])?;
    let varying_inputs: Vec<ValueId> = src
        .inputs()
        .iter()
        .copied()
        .filter(|v| reached[v.0])
        .chain(carried.iter().copied())
        .collect();
    let varying = part(src, &|n| varying_nodes[n], &varying_inputs, &[], &|v| reached[v.0])?;
    let fixed_outputs = src
        .outputs()
        .iter()
        .filter(|v| !reached[v.0])
        .map(|&v| src.value(v).name.clone())
        .collect();
    Ok(SplitGraph {
        fixed,
        varying,
        carried: carried.iter().map(|&v| src.value(v).name.clone()).collect(),
        fixed_outputs,
    })
}

/// The graph of the nodes `keep` selects, in source order: `inputs` (and every source input the
/// kept nodes read) as inputs, the constants they read as initializers; `outputs_first` then the
/// source outputs `owns` as outputs.
fn part(
    src: &Graph,
    keep: &dyn Fn(usize) -> bool,
    inputs: &[ValueId],
    outputs_first: &[ValueId],
    owns: &dyn Fn(ValueId) -> bool,
) -> Result<Graph> {
    let mut g = Graph::new(src.name.clone(), src.opset)?;
    let mut map: Vec<Option<ValueId>> = vec![None; src.values().len()];
    let bring = |g: &mut Graph, map: &mut Vec<Option<ValueId>>, v: ValueId| -> Result<()> {
        if map[v.0].is_some() {
            return Ok(());
        }
        let value = src.value(v);
        map[v.0] = Some(match (&value.data, value.source) {
            (Some(t), ValueSource::Initializer | ValueSource::Node { .. }) => {
                g.add_initializer(value.name.clone(), t.clone())?
            }
            _ => g.add_input(value.name.clone(), value.ty.clone())?,
        });
        Ok(())
    };
    for &v in inputs {
        bring(&mut g, &mut map, v)?;
    }
    for &v in src.inputs() {
        if !inputs.contains(&v) && !owns(v) {
            continue;
        }
        bring(&mut g, &mut map, v)?;
    }
    for (n, node) in src.nodes().iter().enumerate() {
        if !keep(n) {
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
    for &o in outputs_first.iter().chain(src.outputs().iter().filter(|&&o| owns(o))) {
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
        let s = split_at_inputs(&g, &["c".to_string()]).expect("s");
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
        assert!(split_at_inputs(&g, &["w".to_string()]).is_err());
    }
}
