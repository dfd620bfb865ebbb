//! Which layers only feed a multiplicative gate: the hidden layer of a squeeze-and-excitation
//! block (`x · σ(W₂ relu(W₁ pool(x)))`) rescales the main path's channels but does not carry its
//! signal, so its width is not the network's width.
//!
//! A gate is a `Sigmoid` or `HardSigmoid` whose every consumer is a `Mul` by something other than
//! the gate's own input (that would be a SiLU or HardSwish, `x · σ(x)`) or a constant. A tensor
//! feeds only gates when every path from it to a graph output passes through one.

use crate::ir::{Graph, OpType, ValueId, ValueSource};

/// For each named tensor, whether every path from it to the graph's outputs passes through a
/// gate. Names the graph does not have are `false`.
pub fn feeds_only_gates(g: &Graph, names: &[String]) -> Vec<bool> {
    let consumers = g.consumers();
    let is_constant = |v: ValueId| {
        g.value(v).source == ValueSource::Initializer
            || g.producer(v).is_some_and(|p| p.op == OpType::Constant)
    };
    let is_gate = |i: usize| {
        let n = &g.nodes()[i];
        let (Some(x), Some(&y)) = (n.input(0), n.outputs.first()) else { return false };
        matches!(n.op, OpType::Sigmoid | OpType::HardSigmoid)
            && !consumers[y.0].is_empty()
            && consumers[y.0].iter().all(|&(c, slot)| {
                let m = g.node(c);
                let other = m.input(1 - slot.min(1));
                m.op == OpType::Mul && other.is_some_and(|o| o != x && !is_constant(o))
            })
    };
    let mut is_output = vec![false; g.values().len()];
    for &o in g.outputs() {
        is_output[o.0] = true;
    }
    // Nodes are in topological order: walking them backwards, every consumer of a value is
    // settled before the value's producer.
    let mut node_reaches = vec![false; g.nodes().len()];
    let mut value_reaches = is_output.clone();
    let settle = |v: ValueId, node_reaches: &[bool], value_reaches: &mut [bool]| {
        value_reaches[v.0] |= consumers[v.0].iter().any(|(c, _)| node_reaches[c.0]);
    };
    for i in (0..g.nodes().len()).rev() {
        for &y in &g.nodes()[i].outputs {
            settle(y, &node_reaches, &mut value_reaches);
        }
        node_reaches[i] = !is_gate(i) && g.nodes()[i].outputs.iter().any(|y| value_reaches[y.0]);
    }
    for &v in g.inputs() {
        settle(v, &node_reaches, &mut value_reaches);
    }
    names.iter().map(|n| g.find(n).is_some_and(|v| !value_reaches[v.0])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{GraphBuilder, Tensor, TensorType};

    #[test]
    fn a_squeeze_excitation_hidden_layer_feeds_only_its_gate_and_a_silu_does_not_gate() {
        let mut b = GraphBuilder::new("se");
        let x = b.input("x", TensorType::f32([4, 8])).expect("input");
        let w1 = b.param("fc1.weight", Tensor::f32([2, 8], vec![0.1; 16])).expect("w1");
        let h = b.gemm("fc1", x, w1, None, true).expect("fc1");
        let hidden = b.relu("hidden", h).expect("relu");
        let w2 = b.param("fc2.weight", Tensor::f32([8, 2], vec![0.1; 16])).expect("w2");
        let z = b.gemm("fc2", hidden, w2, None, true).expect("fc2");
        let s = b.op(OpType::Sigmoid, "gate", &[z], vec![]).expect("gate");
        let scaled = b.op(OpType::Mul, "scaled", &[x, s], vec![]).expect("mul");
        // A SiLU on the main path: x · σ(x) is an activation, not a gate.
        let sx = b.op(OpType::Sigmoid, "silu_sigmoid", &[scaled], vec![]).expect("sigmoid");
        let y = b.op(OpType::Mul, "silu", &[scaled, sx], vec![]).expect("silu");
        b.output(y);
        let g = b.finish();
        let names: Vec<String> = ["hidden", "scaled", "silu", "x"]
            .iter()
            .map(|n| g.value(find(&g, n)).name.clone())
            .collect();
        assert_eq!(feeds_only_gates(&g, &names), vec![true, false, false, false]);
    }

    fn find(g: &Graph, node: &str) -> ValueId {
        match g.find_node(node) {
            Some(n) => g.node(n).outputs[0],
            None => g.find(node).expect("value"),
        }
    }
}
