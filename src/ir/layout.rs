//! Which axis of a feature tensor holds its channels.
//!
//! A convolutional network keeps its features channels-first, `(N, C, H, W)` or `(N, C, L)`; a
//! transformer keeps its tokens channels-last, `(N, T, D)`, and windowed or permuted blocks
//! (Swin, MaxViT, ConvNeXt) hold rank-4 features `(N, H, W, C)`. The shape cannot tell them
//! apart; the operators around the tensor can. A linear layer (`MatMul` by a 2-D weight) or a
//! `LayerNormalization` over the last axis works on the last axis; a convolution, pooling or
//! `BatchNormalization` works on axis 1. The evidence is looked for in what consumes the tensor
//! and, through operators that keep the last axis where it is (element-wise arithmetic and
//! activations, slices, paddings, concatenations and reshapes that leave the last axis alone), in
//! what produced it.

use super::{Graph, NodeAttrs, OpType, ValueId, ValueSource};

/// Where the operators around a tensor put its channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    First,
    Last,
}

/// Whether a feature tensor of rank 3 or more holds its channels on its last axis: rank 3
/// unless a convolution (or another channels-first operator) produced it, rank 4 and more when
/// a linear layer or a last-axis normalisation consumes or produced it.
pub fn channels_last(g: &Graph, v: ValueId) -> bool {
    let rank = g.value(v).ty.rank();
    if rank < 3 {
        return false;
    }
    let consumed = consumer_evidence(g, v);
    let produced = producer_evidence(g, v);
    if rank == 3 {
        consumed != Some(Evidence::First) && produced != Some(Evidence::First)
    } else {
        consumed == Some(Evidence::Last) || produced == Some(Evidence::Last)
    }
}

/// The layout an operator imposes on its input in `slot`, if it imposes one.
fn imposed(g: &Graph, node: &super::Node, slot: usize) -> Option<Evidence> {
    match node.op {
        OpType::MatMul if slot == 0 => node
            .input(1)
            .and_then(|w| super::cost::weight_behind(g, w))
            .filter(|&w| g.value(w).ty.rank() == 2)
            .map(|_| Evidence::Last),
        OpType::LayerNormalization if slot == 0 => {
            let rank = g.value(node.input(0)?).ty.rank() as i64;
            let axis = node.attr_int("axis", -1).ok()?;
            (axis == -1 || axis == rank - 1).then_some(Evidence::Last)
        }
        OpType::Conv
        | OpType::ConvTranspose
        | OpType::BatchNormalization
        | OpType::InstanceNormalization
        | OpType::MaxPool
        | OpType::AveragePool
        | OpType::GlobalAveragePool
        | OpType::GlobalMaxPool
            if slot == 0 =>
        {
            Some(Evidence::First)
        }
        _ => None,
    }
}

fn consumer_evidence(g: &Graph, v: ValueId) -> Option<Evidence> {
    let consumers = g.consumers();
    let found: Vec<Evidence> =
        consumers[v.0].iter().filter_map(|&(n, slot)| imposed(g, g.node(n), slot)).collect();
    strongest(&found)
}

/// A last-axis layout wins over a channels-first one (a tensor a linear layer reads is
/// channels-last whatever else touched its ancestors).
fn strongest(found: &[Evidence]) -> Option<Evidence> {
    if found.contains(&Evidence::Last) { Some(Evidence::Last) } else { found.first().copied() }
}

/// Evidence from the operators that produced `v`, walking back through operators that keep the
/// last axis in place (at most 32 of them).
fn producer_evidence(g: &Graph, v: ValueId) -> Option<Evidence> {
    let last_dim = |x: ValueId| g.value(x).ty.shape.last().copied();
    let mut seen: Vec<ValueId> = Vec::new();
    let mut stack = vec![v];
    let mut found = Vec::new();
    while let Some(x) = stack.pop() {
        if seen.contains(&x) || seen.len() > 32 {
            continue;
        }
        seen.push(x);
        let ValueSource::Node { node, .. } = g.value(x).source else { continue };
        let n = g.node(node);
        let data: Vec<ValueId> = n
            .inputs
            .iter()
            .flatten()
            .copied()
            .filter(|&i| {
                g.value(i).source != ValueSource::Initializer
                    && g.value(i).data.is_none()
                    && g.value(i).ty.rank() >= 2
            })
            .collect();
        let keeps_last_axis = match n.op {
            OpType::Add
            | OpType::Sub
            | OpType::Mul
            | OpType::Div
            | OpType::Relu
            | OpType::LeakyRelu
            | OpType::Gelu
            | OpType::Sigmoid
            | OpType::HardSigmoid
            | OpType::HardSwish
            | OpType::Tanh
            | OpType::Erf
            | OpType::Softplus
            | OpType::Clip
            | OpType::Elu
            | OpType::Dropout
            | OpType::Identity
            | OpType::Cast
            | OpType::Slice => true,
            OpType::Concat => {
                let rank = g.value(x).ty.rank() as i64;
                n.attr_int("axis", 0).is_ok_and(|a| a != -1 && a != rank - 1)
            }
            OpType::Reshape | OpType::Pad => {
                data.first().is_some_and(|&i| last_dim(i) == last_dim(x))
            }
            OpType::Transpose => n
                .attr_ints("perm")
                .ok()
                .flatten()
                .is_some_and(|p| p.last().is_some_and(|&l| l as usize + 1 == p.len())),
            _ => false,
        };
        if keeps_last_axis {
            stack.extend(data);
            continue;
        }
        // The operator that made `x` decides its layout when it imposes one on its own output:
        // a linear layer's output features are its last axis, a convolution's its axis 1.
        found.extend(imposed(g, n, 0));
    }
    strongest(&found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Attr, GraphBuilder, Tensor, TensorType};

    fn value(g: &Graph, node: &str) -> ValueId {
        g.node(g.find_node(node).expect("node")).outputs[0]
    }

    #[test]
    fn a_rolled_linear_output_is_channels_last_and_a_convolution_is_channels_first() {
        let mut b = GraphBuilder::new("layouts");
        // A window block as Swin exports it: a linear layer on (N, H, W, C), then a cyclic
        // shift spelled as two slices and a concatenation over H.
        let x = b.input("x", TensorType::f32([2, 4, 4, 8])).expect("input");
        let w = b.param("proj.weight", Tensor::f32([8, 8], vec![0.1; 64])).expect("w");
        let y = b.op(OpType::MatMul, "proj", &[x, w], vec![]).expect("matmul");
        let slice = |b: &mut GraphBuilder, name: &str, from: i64, to: i64| {
            let s = b.param(&format!("{name}.starts"), Tensor::i64_vec(vec![from])).expect("s");
            let e = b.param(&format!("{name}.ends"), Tensor::i64_vec(vec![to])).expect("e");
            let a = b.param(&format!("{name}.axes"), Tensor::i64_vec(vec![1])).expect("a");
            b.op(OpType::Slice, name, &[y, s, e, a], vec![]).expect("slice")
        };
        let tail = slice(&mut b, "tail", 1, 4);
        let head = slice(&mut b, "head", 0, 1);
        let rolled = b.concat("rolled", &[tail, head], 1).expect("concat");
        b.output(rolled);
        // Swin V2 pads H and W of a normalised (N, H, W, C) tensor before its windows.
        let gamma = b.param("norm.weight", Tensor::f32([8], vec![1.0; 8])).expect("gamma");
        let norm = b.op(OpType::LayerNormalization, "norm", &[x, gamma], vec![]).expect("norm");
        let pads = b.param("pads", Tensor::i64_vec(vec![0, 0, 0, 0, 0, 1, 1, 0])).expect("p");
        let padded = b.op(OpType::Pad, "padded", &[norm, pads], vec![]).expect("pad");
        b.output(padded);
        // A 1-D convolution's output (N, C, L) is channels-first, unlike tokens (N, T, D).
        let s = b.input("signal", TensorType::f32([2, 3, 16])).expect("signal");
        let k = b.param("conv.weight", Tensor::f32([8, 3, 3], vec![0.1; 72])).expect("k");
        let c = b
            .op(OpType::Conv, "conv1d", &[s, k], vec![("kernel_shape", Attr::Ints(vec![3]))])
            .expect("conv");
        let r = b.relu("conv1d_relu", c).expect("relu");
        b.output(r);
        let tokens = b.input("tokens", TensorType::f32([2, 5, 8])).expect("tokens");
        let t = b.relu("tokens_relu", tokens).expect("relu");
        b.output(t);
        let g = b.finish();
        assert!(channels_last(&g, value(&g, "rolled")));
        assert!(channels_last(&g, value(&g, "padded")));
        assert!(!channels_last(&g, value(&g, "conv1d_relu")));
        assert!(channels_last(&g, value(&g, "tokens_relu")));
    }
}
