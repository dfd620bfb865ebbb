//! An execution-order hint for ONNX Runtime.
//!
//! ONNX Runtime's default order is a depth-first walk back from the graph's leaf nodes, the
//! last-defined leaf first. A training graph's outputs are mostly leaves off the main chain (a
//! weight gradient, a layer's Gram matrix), so the walk from the last leaf runs the whole
//! forward and backward chain first and leaves the other outputs to the end: every sibling
//! convolution group's weight gradient and every activation Gram matrix ran after the whole
//! backward, keeping their inputs (saved activations, concatenated output gradients) alive
//! throughout (a conv-heavy NAS-Bench-201 training step at batch 64, 64×64: a peak of 1.52 GB
//! instead of 1.31 GB).
//!
//! [`append_order_sink`] adds one node that reads a tiny reduction of every float output,
//! defined in reverse order of where each output attaches to the rest of the graph. The walk
//! then starts there and reaches the outputs in that order, each with the part of the graph it
//! still needs: a weight gradient right after its output gradient, a Gram matrix right after
//! its activation. The node's value is never read; it changes no output.

use super::super::emit::Emitter;
use crate::error::Result;
use crate::ir::{Attr, DType, Graph, OpType, ValueId, ValueSource};

/// Appends the sink node (see the module documentation); nothing with fewer than two non-empty
/// float outputs produced by nodes.
pub(super) fn append_order_sink(e: &mut Emitter) -> Result<()> {
    let order = outputs_by_attachment(e.graph());
    if order.len() < 2 {
        return Ok(());
    }
    e.push_scope("execution_order");
    let mut taps = Vec::with_capacity(order.len());
    for &o in order.iter().rev() {
        taps.push(e.op(OpType::ReduceMin, "tap", &[o], vec![("keepdims", Attr::Int(0))])?);
    }
    e.op(OpType::Max, "sink", &taps, vec![])?;
    e.pop_scope();
    Ok(())
}

/// Nodes that at most this many outputs depend on belong to those outputs' side branches (a
/// Gram matrix and its channel sums, a sibling group's weight gradients); the main chain feeds
/// many more.
const SIDE_BRANCH_OUTPUTS: u32 = 4;

/// The non-empty float32 outputs produced by nodes, ordered by where each attaches to the rest
/// of the graph: the last node outside its side branch (the ancestors that at most
/// [`SIDE_BRANCH_OUTPUTS`] outputs depend on) that the branch reads, or the producer itself when
/// the branch reads nothing else. Ties keep definition order.
fn outputs_by_attachment(g: &Graph) -> Vec<ValueId> {
    let outputs: Vec<ValueId> = g.outputs().to_vec();
    let words = outputs.len().div_ceil(64);
    // The outputs depending on each node, as a bitset, from the last node back.
    let consumers = g.consumers();
    let mut deps = vec![0u64; g.nodes().len() * words];
    let mut output_slot = vec![None; g.values().len()];
    for (k, &o) in outputs.iter().enumerate() {
        output_slot[o.0] = Some(k);
    }
    for n in (0..g.nodes().len()).rev() {
        let mut set = vec![0u64; words];
        for &v in &g.nodes()[n].outputs {
            if let Some(k) = output_slot[v.0] {
                set[k / 64] |= 1 << (k % 64);
            }
            for &(c, _) in &consumers[v.0] {
                for (w, d) in set.iter_mut().zip(&deps[c.0 * words..(c.0 + 1) * words]) {
                    *w |= d;
                }
            }
        }
        deps[n * words..(n + 1) * words].copy_from_slice(&set);
    }
    let side = |n: usize| -> bool {
        deps[n * words..(n + 1) * words].iter().map(|w| w.count_ones()).sum::<u32>()
            <= SIDE_BRANCH_OUTPUTS
    };
    let producer = |v: ValueId| match g.value(v).source {
        ValueSource::Node { node, .. } => Some(node.0),
        _ => None,
    };
    let mut keyed = Vec::new();
    let mut seen = vec![false; g.nodes().len()];
    for &o in &outputs {
        let ty = &g.value(o).ty;
        if ty.dtype != DType::F32 || ty.shape.contains(&0) {
            continue;
        }
        let Some(p) = producer(o) else { continue };
        let mut visited = vec![p];
        seen[p] = true;
        let mut attach = None::<usize>;
        let mut stack = vec![p];
        while let Some(n) = stack.pop() {
            for input in g.nodes()[n].inputs.iter().flatten() {
                let Some(q) = producer(*input) else { continue };
                if seen[q] {
                    continue;
                }
                seen[q] = true;
                visited.push(q);
                if side(q) {
                    stack.push(q);
                } else {
                    attach = Some(attach.map_or(q, |a| a.max(q)));
                }
            }
        }
        for n in visited {
            seen[n] = false;
        }
        keyed.push((attach.unwrap_or(p), p, o));
    }
    keyed.sort();
    keyed.into_iter().map(|(_, _, o)| o).collect()
}

#[cfg(test)]
mod tests {
    use super::outputs_by_attachment;
    use crate::ir::{Graph, OpType, TensorType, ValueId};

    fn relu(g: &mut Graph, name: &str, v: ValueId) -> crate::error::Result<ValueId> {
        let out = [format!("{name}_out")];
        Ok(g.add_node(name, OpType::Relu, &[Some(v)], Default::default(), &out)?[0])
    }

    #[test]
    fn side_branches_come_in_the_order_they_attach() -> crate::error::Result<()> {
        // Main chain x -> a -> b, five outputs read b (c first); a side branch a -> s1 -> s2,
        // defined last, attaches at a, before all of them, so it comes first.
        let mut g = Graph::new("t", 17)?;
        let x = g.add_input("x", TensorType::f32(vec![4]))?;
        let a = relu(&mut g, "a", x)?;
        let b = relu(&mut g, "b", a)?;
        let mut readers_of_b = Vec::new();
        for k in 0..5 {
            readers_of_b.push(relu(&mut g, &format!("c{k}"), b)?);
        }
        let s1 = relu(&mut g, "s1", a)?;
        let s2 = relu(&mut g, "s2", s1)?;
        for &o in readers_of_b.iter().chain([&s2]) {
            g.add_output(o);
        }
        let mut expected = vec![s2];
        expected.extend(&readers_of_b);
        assert_eq!(outputs_by_attachment(&g), expected);
        Ok(())
    }
}
