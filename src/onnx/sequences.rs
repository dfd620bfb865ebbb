//! Tensor sequences as exporters use them: `SplitToSequence` whose sequence is only read by
//! `SequenceAt` at constant positions (PyTorch's dynamo exporter writes `x.chunk(2, dim=1)` that
//! way). Sequences are not values of our graphs, so each `SequenceAt` becomes a `Slice` of the
//! split's input (plus a `Squeeze` where the split drops the axis), which every later pass
//! (shapes, costs, gradients) already understands. Any other reader of the sequence is refused
//! with a one-line error naming it.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ir::{Attr, Graph, OpType, Tensor, ValueId};

/// A `SplitToSequence` read so far: the chunks it stands for, not yet materialised.
#[derive(Debug, Clone)]
pub(super) struct PendingSplit {
    /// The `SplitToSequence` node's name.
    node: String,
    /// The tensor being split.
    input: ValueId,
    /// The split axis, non-negative.
    axis: usize,
    /// The chunks along `axis`.
    chunks: Chunks,
    /// Whether chunks drop the split axis (no `split` input and `keepdims = 0`).
    squeeze: bool,
}

/// How a split divides its axis (never materialised per chunk: an axis may be long).
#[derive(Debug, Clone)]
enum Chunks {
    /// Chunks of `length`, the last one shorter when `length` does not divide `dim`.
    Equal { length: usize, dim: usize },
    /// The given lengths, in order.
    Given(Vec<usize>),
}

impl Chunks {
    fn count(&self) -> usize {
        match self {
            Chunks::Equal { length, dim } => dim.div_ceil(*length),
            Chunks::Given(v) => v.len(),
        }
    }

    /// Start and end of chunk `k` along the axis.
    fn range(&self, k: usize) -> (usize, usize) {
        match self {
            Chunks::Equal { length, dim } => (k * length, ((k + 1) * length).min(*dim)),
            Chunks::Given(v) => {
                let start: usize = v[..k].iter().sum();
                (start, start + v[k])
            }
        }
    }
}

/// Reads a `SplitToSequence` node: `inputs` are its resolved inputs (the tensor, then the
/// optional `split`, which must be a constant).
pub(super) fn split_to_sequence(
    g: &Graph,
    node: &str,
    inputs: &[Option<ValueId>],
    attrs: &BTreeMap<String, Attr>,
) -> Result<PendingSplit> {
    let err = |msg: String| Error::node(node, "SplitToSequence", msg);
    let input = inputs.first().copied().flatten().ok_or_else(|| err("input 0 missing".into()))?;
    let shape = &g.value(input).ty.shape;
    let int = |k: &str, default: i64| match attrs.get(k) {
        Some(Attr::Int(v)) => Ok(*v),
        None => Ok(default),
        Some(_) => Err(err(format!("attribute '{k}' must be an integer"))),
    };
    let rank = shape.len() as i64;
    let axis = int("axis", 0)?;
    if !(-rank..rank).contains(&axis) {
        return Err(err(format!("axis {axis} is out of range for rank {rank}")));
    }
    let axis = axis.rem_euclid(rank.max(1)) as usize;
    let dim = shape[axis];
    let keepdims = int("keepdims", 1)? != 0;
    let split = match inputs.get(1).copied().flatten() {
        None => None,
        Some(s) => Some(
            g.value(s)
                .data
                .as_ref()
                .map(Tensor::to_i64)
                .ok_or_else(|| err("the 'split' input must be a constant".into()))?,
        ),
    };
    let scalar = inputs.get(1).copied().flatten().is_some_and(|s| g.value(s).ty.rank() == 0);
    let chunks = match split {
        None => Chunks::Equal { length: 1, dim },
        Some(v) if scalar => {
            let n = *v.first().ok_or_else(|| err("empty 'split'".into()))?;
            if n <= 0 {
                return Err(err(format!("split length {n} must be positive")));
            }
            Chunks::Equal { length: n as usize, dim }
        }
        Some(v) => {
            if v.iter().any(|&l| l < 0) || v.iter().sum::<i64>() != dim as i64 {
                return Err(err(format!("split lengths {v:?} do not add up to {dim}")));
            }
            Chunks::Given(v.iter().map(|&l| l as usize).collect())
        }
    };
    Ok(PendingSplit {
        node: node.to_string(),
        input,
        axis,
        chunks,
        squeeze: inputs.get(1).copied().flatten().is_none() && !keepdims,
    })
}

/// Materialises `SequenceAt(seq, position)` of a pending split as a `Slice` (and a `Squeeze`)
/// named after the `SequenceAt` node, its output named `output`.
pub(super) fn sequence_at(
    g: &mut Graph,
    split: &PendingSplit,
    node: &str,
    position: Option<ValueId>,
    output: &str,
) -> Result<ValueId> {
    let err = |msg: String| Error::node(node, "SequenceAt", msg);
    let position = position
        .and_then(|p| g.value(p).data.as_ref().map(Tensor::to_i64))
        .and_then(|v| v.first().copied())
        .ok_or_else(|| err("the position must be a constant".into()))?;
    let n = split.chunks.count() as i64;
    if !(-n..n).contains(&position) {
        return Err(err(format!(
            "position {position} is out of range for the {n} chunks of '{}'",
            split.node
        )));
    }
    let (start, end) = split.chunks.range(position.rem_euclid(n) as usize);
    let constant = |g: &mut Graph, what: &str, v: Vec<i64>| {
        g.add_initializer(g.fresh_name(&format!("{node}_{what}")), Tensor::i64_vec(v))
    };
    let starts = constant(g, "starts", vec![start as i64])?;
    let ends = constant(g, "ends", vec![end as i64])?;
    let axes = constant(g, "axes", vec![split.axis as i64])?;
    let slice_out =
        if split.squeeze { g.fresh_name(&format!("{output}_unsqueezed")) } else { output.into() };
    let inputs = [Some(split.input), Some(starts), Some(ends), Some(axes)];
    let y = g.add_node(node, OpType::Slice, &inputs, BTreeMap::new(), &[slice_out])?[0];
    if !split.squeeze {
        return Ok(y);
    }
    let name = g.fresh_name(&format!("{node}_squeeze"));
    let mut attrs = BTreeMap::new();
    let mut inputs = vec![Some(y)];
    if g.opset < 13 {
        attrs.insert("axes".to_string(), Attr::Ints(vec![split.axis as i64]));
    } else {
        inputs.push(Some(constant(g, "squeeze_axes", vec![split.axis as i64])?));
    }
    Ok(g.add_node(name, OpType::Squeeze, &inputs, attrs, &[output.to_string()])?[0])
}

/// The error for any other node reading a split's sequence.
pub(super) fn unsupported_reader(split: &PendingSplit, node: &str, op: &str) -> Error {
    Error::node(
        node,
        op,
        format!(
            "reads the tensor sequence of SplitToSequence '{}'; only SequenceAt at a constant \
             position is supported",
            split.node
        ),
    )
}
