//! The memory one run of a graph needs, estimated before the run from its static shapes: every
//! tensor is allocated when its node runs and freed after its last reader, in the graph's node
//! order (the order ONNX Runtime's sequential executor follows closely); the outputs of
//! Reshape-like ops share their input's buffer, as ONNX Runtime makes them.

use super::{Graph, OpType, ValueSource};

/// An estimate of the memory one run of a graph needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct MemoryEstimate {
    /// Bytes of the initializers (weights and constants), held for the whole run.
    pub constant_bytes: u64,
    /// Bytes of the graph inputs, held for the whole run.
    pub input_bytes: u64,
    /// The most bytes of node outputs alive at once (graph outputs stay alive to the end).
    pub peak_tensor_bytes: u64,
    /// The node whose outputs bring the tensors alive to their peak.
    pub peak_node: String,
    /// Bytes of the graph outputs, which the caller receives as copies.
    pub output_bytes: u64,
    /// Of the outputs, the bytes of those whose first dimension is the batch.
    pub output_batched_bytes: u64,
    /// The batch of the graph's first input (its first dimension), if it has one.
    pub batch: Option<usize>,
    /// Of the peak, the bytes of tensors whose first dimension is the batch: what a smaller
    /// batch shrinks in proportion.
    pub peak_batched_bytes: u64,
}

impl MemoryEstimate {
    /// Everything together: constants, inputs, the peak of node outputs, and the output copies.
    pub fn total(&self) -> u64 {
        self.constant_bytes
            .saturating_add(self.input_bytes)
            .saturating_add(self.peak_tensor_bytes)
            .saturating_add(self.output_bytes)
    }

    /// The largest batch whose estimate fits in `budget` bytes, scaling what depends on the
    /// batch in proportion; `None` when the graph has no batch or not even batch 1 fits.
    pub fn batch_within(&self, budget: u64) -> Option<usize> {
        let batch = self.batch.filter(|&b| b > 0)? as u64;
        let per_sample = self.peak_batched_bytes.div_ceil(batch)
            + self.input_bytes.div_ceil(batch)
            + self.output_batched_bytes.div_ceil(batch);
        let fixed = self.total().saturating_sub(per_sample.saturating_mul(batch));
        let room = budget.checked_sub(fixed)?;
        let fits = room.checked_div(per_sample).unwrap_or(u64::MAX).min(batch);
        (fits >= 1).then_some(fits as usize)
    }
}

/// Estimates the memory one run of `g` needs (see the module documentation).
pub fn estimate(g: &Graph) -> MemoryEstimate {
    let bytes = |v: &super::Value| -> u64 {
        v.ty.shape
            .iter()
            .try_fold(v.ty.dtype.size_of() as u64, |acc, &d| acc.checked_mul(d as u64))
            .unwrap_or(u64::MAX)
    };
    let batch = g.inputs().first().and_then(|&i| g.value(i).ty.shape.first().copied());
    let batched = |v: &super::Value| batch.is_some_and(|b| b > 1 && v.ty.shape.first() == Some(&b));
    let n = g.nodes().len();
    // The buffer each value lives in: its own, or, for a Reshape-like op, its input's.
    let mut storage: Vec<usize> = (0..g.values().len()).collect();
    for node in g.nodes() {
        if aliases_input(node.op)
            && let (Some(Some(input)), Some(out)) = (node.inputs.first(), node.outputs.first())
        {
            storage[out.0] = storage[input.0];
        }
    }
    // The last node that reads each buffer through any of its values; graph outputs are read
    // "after the end".
    let mut last_read: Vec<Option<usize>> = vec![None; g.values().len()];
    let mut read = |v: usize, at: usize| {
        let s = storage[v];
        last_read[s] = Some(last_read[s].map_or(at, |l| l.max(at)));
    };
    for (i, node) in g.nodes().iter().enumerate() {
        for v in node.inputs.iter().flatten() {
            read(v.0, i);
        }
    }
    for &o in g.outputs() {
        read(o.0, n);
    }
    let mut frees: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
    for (id, v) in g.values().iter().enumerate() {
        if let ValueSource::Node { node, .. } = v.source
            && storage[id] == id
        {
            // A buffer nothing reads is freed right after its node.
            frees[last_read[id].unwrap_or(node.0)].push(id);
        }
    }
    let (mut alive, mut alive_batched) = (0u64, 0u64);
    let outputs = || g.outputs().iter().map(|&o| g.value(o));
    let mut est = MemoryEstimate {
        constant_bytes: 0,
        input_bytes: 0,
        peak_tensor_bytes: 0,
        peak_node: String::new(),
        output_bytes: outputs().fold(0u64, |a, v| a.saturating_add(bytes(v))),
        output_batched_bytes: outputs()
            .filter(|v| batched(v))
            .fold(0u64, |a, v| a.saturating_add(bytes(v))),
        batch,
        peak_batched_bytes: 0,
    };
    for v in g.values() {
        match v.source {
            ValueSource::Initializer => {
                est.constant_bytes = est.constant_bytes.saturating_add(bytes(v));
            }
            ValueSource::Input => est.input_bytes = est.input_bytes.saturating_add(bytes(v)),
            ValueSource::Node { .. } => {}
        }
    }
    for (i, node) in g.nodes().iter().enumerate() {
        for &o in &node.outputs {
            if storage[o.0] != o.0 {
                continue;
            }
            let v = g.value(o);
            alive = alive.saturating_add(bytes(v));
            if batched(v) {
                alive_batched = alive_batched.saturating_add(bytes(v));
            }
        }
        if alive > est.peak_tensor_bytes {
            est.peak_tensor_bytes = alive;
            est.peak_batched_bytes = alive_batched;
            est.peak_node = node.name.clone();
        }
        for &id in &frees[i] {
            let v = &g.values()[id];
            alive = alive.saturating_sub(bytes(v));
            if batched(v) {
                alive_batched = alive_batched.saturating_sub(bytes(v));
            }
        }
    }
    est
}

/// Ops whose output ONNX Runtime places in their input's buffer (a view of the same data).
fn aliases_input(op: OpType) -> bool {
    matches!(
        op,
        OpType::Reshape | OpType::Flatten | OpType::Squeeze | OpType::Unsqueeze | OpType::Identity
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{DType, OpType, Tensor, TensorType};

    /// x (batch 4) → Relu → a → Mul(w) → b → Add(a, b) → y: `a` lives until the Add.
    fn chain() -> Graph {
        let mut g = Graph::new("g", 17).expect("graph");
        let x = g.add_input("x", TensorType::new(DType::F32, vec![4, 256])).expect("input");
        let w = g.add_initializer("w", Tensor::f32([256], vec![1.0; 256])).expect("init");
        let mut node = |name: &str, op, inputs: &[Option<crate::ir::ValueId>]| {
            g.add_node(name, op, inputs, Default::default(), &[format!("{name}_out")])
                .expect("node")[0]
        };
        let a = node("r1", OpType::Relu, &[Some(x)]);
        let b = node("m", OpType::Mul, &[Some(a), Some(w)]);
        let y = node("add", OpType::Add, &[Some(a), Some(b)]);
        g.add_output(y);
        g
    }

    #[test]
    fn a_tensor_lives_until_its_last_reader() {
        let e = estimate(&chain());
        let t = 4 * 256 * 4;
        assert_eq!(e.constant_bytes, 256 * 4);
        assert_eq!(e.input_bytes, t);
        // At the Add: a, b and y alive.
        assert_eq!(e.peak_tensor_bytes, 3 * t);
        assert_eq!(e.peak_node, "add");
        assert_eq!(e.peak_batched_bytes, 3 * t);
        assert_eq!(e.output_bytes, t);
        assert_eq!(e.output_batched_bytes, t);
        assert_eq!(e.batch, Some(4));
        assert_eq!(e.total(), 256 * 4 + 5 * t);
    }

    #[test]
    fn a_reshape_shares_its_input_buffer_and_keeps_it_alive() {
        let mut g = Graph::new("g", 17).expect("graph");
        let x = g.add_input("x", TensorType::new(DType::F32, vec![4, 256])).expect("input");
        let shape = g.add_initializer("shape", Tensor::i64_vec(vec![8, 128])).expect("shape");
        let mut node = |name: &str, op, inputs: &[Option<crate::ir::ValueId>]| {
            g.add_node(name, op, inputs, Default::default(), &[format!("{name}_out")])
                .expect("node")[0]
        };
        let a = node("r", OpType::Relu, &[Some(x)]);
        let v = node("view", OpType::Reshape, &[Some(a), Some(shape)]);
        let b = node("neg", OpType::Neg, &[Some(v)]);
        g.add_output(b);
        let e = estimate(&g);
        let t = 4 * 256 * 4;
        // At Neg: a (seen through the view) and b; the view adds nothing.
        assert_eq!(e.peak_tensor_bytes, 2 * t);
        assert_eq!(e.peak_node, "neg");
        // b is not batched (its first dimension is 8): only a scales with the batch.
        assert_eq!(e.peak_batched_bytes, t);
        assert_eq!(e.output_batched_bytes, 0);
    }

    #[test]
    fn the_batch_that_fits_scales_what_depends_on_it() {
        let e = estimate(&chain());
        let t = 4 * 256 * 4;
        // Per sample: (3 + 1 + 1) * 1 KiB; fixed: the 1 KiB weight.
        assert_eq!(e.batch_within(e.total()), Some(4));
        assert_eq!(e.batch_within(256 * 4 + 5 * t / 2), Some(2));
        assert_eq!(e.batch_within(256 * 4 + 5 * 1024 - 1), None);
        assert_eq!(e.batch_within(u64::MAX), Some(4));
    }
}
