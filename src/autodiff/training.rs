//! Building a training graph: forward (with batch-statistics BatchNorm) + loss + backward.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::emit::Emitter;
use super::loss::{self, Loss};
use super::rules::{self, BnSaved, RuleCtx};
use super::siblings::Siblings;
use super::{GradSupport, gradient_support};
use crate::error::{Error, Result};
use crate::ir::cost::parameters;
use crate::ir::passes::merge_duplicates;
use crate::ir::{Attr, Graph, NodeId, OpType, ValueId, ValueSource};

/// Which BatchNormalization statistics a pass uses: the one BatchNorm mode of the crate (training
/// graphs, lowering of space architectures, scoring protocols, the command line).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum BnMode {
    /// Batch statistics (training mode; the paper's protocol).
    #[default]
    Train,
    /// As the model says: each node's `training_mode` (an architecture of a space is lowered in
    /// inference mode, running statistics 0 and 1).
    #[serde(rename = "eval")]
    #[value(name = "eval", alias = "as-is")]
    AsIs,
}

/// Which parameter tensors get gradients (and count in o): the one parameter set of the crate.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ParamSet {
    /// Every tensor with a gradient and at least 2 elements (the paper; see
    /// [`crate::ir::cost`] for the rule).
    #[default]
    All,
    /// Weights of Conv, ConvTranspose, Gemm and MatMul only.
    Weights,
    /// These parameters, by name (a library option; not part of a scoring protocol).
    #[serde(skip)]
    #[schemars(skip)]
    Named(Vec<String>),
}

/// The values of [`ParamSet`] a command line offers (`Named` is for library callers).
static PARAM_SET_VALUES: [ParamSet; 2] = [ParamSet::All, ParamSet::Weights];

impl clap::ValueEnum for ParamSet {
    fn value_variants<'a>() -> &'a [Self] {
        &PARAM_SET_VALUES
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        use clap::builder::PossibleValue;
        match self {
            ParamSet::All => Some(
                PossibleValue::new("all")
                    .help("Every tensor with a gradient and at least 2 elements (the paper)"),
            ),
            ParamSet::Weights => {
                Some(PossibleValue::new("weights").help("Conv/Gemm/MatMul weights only"))
            }
            ParamSet::Named(_) => None,
        }
    }
}

/// What a training graph outputs for each parameter's gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GradOutputs {
    /// The full gradient tensors.
    #[default]
    Full,
    /// Only in-graph statistics (sum, sum of squares, max |g|): tiny outputs.
    Stats,
    /// Both.
    Both,
}

/// How to build a training graph.
#[derive(Debug, Clone, Default)]
pub struct TrainingOptions {
    /// The loss head.
    pub loss: Loss,
    /// The forward output the loss reads (default: the first graph output).
    pub output: Option<String>,
    /// Parameters to differentiate.
    pub params: ParamSet,
    /// BatchNormalization statistics.
    pub batch_norm: BnMode,
    /// Forward values to expose as outputs.
    pub activations: Vec<String>,
    /// Forward values whose gradients to expose (as `<name>_grad`).
    pub activation_grads: Vec<String>,
    /// Forward values to expose as channel Gram matrices `(C, C)` with channel sums `(C)` (as
    /// `<name>_gram` and `<name>_chsum`), so covariance needs no full tensor transfer.
    pub activation_grams: Vec<String>,
    /// Parameter gradient outputs.
    pub grad_outputs: GradOutputs,
}

/// In-graph statistics outputs of one gradient.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatOutputs {
    /// Output holding Σ g.
    pub sum: String,
    /// Output holding Σ g².
    pub sum_sq: String,
    /// Output holding max |g|.
    pub max_abs: String,
}

/// One differentiated parameter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParamGrad {
    /// Parameter name (initializer, or `Identity` output of a shared initializer).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Output holding the full gradient (if requested and the parameter influences the loss).
    pub grad: Option<String>,
    /// Outputs holding its statistics (if requested and it influences the loss).
    pub stats: Option<StatOutputs>,
}

/// A training graph and the names of what it computes.
#[derive(Debug, Clone)]
pub struct TrainingGraph {
    /// The graph: forward + loss + backward, standard ONNX ops only.
    pub graph: Graph,
    /// The forward graph's inputs.
    pub inputs: Vec<String>,
    /// The labels (cross-entropy) or target (MSE) input, if the loss has one.
    pub target_input: Option<String>,
    /// The scalar loss output.
    pub loss: String,
    /// Differentiated parameters, in order of first use.
    pub params: Vec<ParamGrad>,
    /// Exposed activations: (requested name, output name; they differ when the activation was
    /// merged with an identical computation).
    pub activations: Vec<(String, String)>,
    /// Exposed activation gradients: (activation, output name or `None` if it does not influence the loss).
    pub activation_grads: Vec<(String, Option<String>)>,
    /// Exposed Gram matrices: (activation, gram output, channel-sum output).
    pub activation_grams: Vec<(String, String, String)>,
}

/// Builds the training graph of `src`.
pub fn build_training_graph(original: &Graph, opts: &TrainingOptions) -> Result<TrainingGraph> {
    // Repeated computations (the same ReLU once per consumer) are merged first, so their
    // gradients are summed before, not after, the backward of the shared node.
    let merged = merge_duplicates(original)?;
    let src = &merged.graph;
    let find = |name: &str, what: &str| -> Result<ValueId> {
        let name = merged.aliases.get(name).map(String::as_str).unwrap_or(name);
        src.find(name)
            .ok_or_else(|| Error::Usage(format!("{what} '{name}' is not a tensor of the model")))
    };
    let output = match &opts.output {
        Some(n) => find(n, "loss output")?,
        None => *src
            .outputs()
            .first()
            .ok_or_else(|| Error::InvalidModel("the model has no outputs".into()))?,
    };
    // Parameters to differentiate.
    let all_params = parameters(src);
    let selected: Vec<_> = match &opts.params {
        ParamSet::All => all_params,
        ParamSet::Weights => all_params
            .into_iter()
            .filter(|p| {
                p.consumers.iter().any(|&(n, slot)| {
                    let op = src.node(n).op;
                    slot == 1 && matches!(op, OpType::Conv | OpType::ConvTranspose | OpType::Gemm)
                        || op == OpType::MatMul
                        || op == OpType::Transpose
                })
            })
            .collect(),
        ParamSet::Named(names) => {
            let mut out = Vec::new();
            for n in names {
                let p =
                    all_params.iter().find(|p| src.value(p.value).name == *n).ok_or_else(|| {
                        Error::Usage(format!("'{n}' is not a parameter of the model"))
                    })?;
                out.push(p.clone());
            }
            out
        }
    };
    let act_grads: Vec<ValueId> =
        opts.activation_grads.iter().map(|n| find(n, "activation")).collect::<Result<_>>()?;
    let acts: Vec<ValueId> =
        opts.activations.iter().map(|n| find(n, "activation")).collect::<Result<_>>()?;
    let grams: Vec<ValueId> =
        opts.activation_grams.iter().map(|n| find(n, "activation")).collect::<Result<_>>()?;

    // Live nodes: those the loss output or an exposed activation depends on.
    let mut live_values: HashSet<ValueId> =
        [output].into_iter().chain(acts.iter().copied()).chain(grams.iter().copied()).collect();
    let mut live_nodes = vec![false; src.nodes().len()];
    for (i, node) in src.nodes().iter().enumerate().rev() {
        if node.outputs.iter().any(|o| live_values.contains(o)) {
            live_nodes[i] = true;
            live_values.extend(node.inputs.iter().flatten().copied());
        }
    }

    // Which values need a gradient: the targets and everything computed from them.
    let mut need = vec![false; src.values().len()];
    for p in &selected {
        need[p.value.0] = true;
    }
    for &a in &act_grads {
        need[a.0] = true;
    }
    for node in src.nodes() {
        if gradient_support(node.op) == GradSupport::NoGradient {
            continue;
        }
        if node.inputs.iter().flatten().any(|v| need[v.0]) {
            for &o in &node.outputs {
                if src.value(o).ty.dtype.is_float() {
                    need[o.0] = true;
                }
            }
        }
    }

    // Forward copy.
    let mut e = Emitter::new(Graph::new(src.name.clone(), src.opset)?);
    let mut map: Vec<Option<ValueId>> = vec![None; src.values().len()];
    for &i in src.inputs() {
        let v = src.value(i);
        map[i.0] = Some(e.builder().input(&v.name, v.ty.clone())?);
    }
    // Initializers are emitted when first read.
    let ensure = |e: &mut Emitter,
                  map: &mut Vec<Option<ValueId>>,
                  v: ValueId|
     -> Result<Option<ValueId>> {
        if map[v.0].is_none() {
            let val = src.value(v);
            if let Some(t) = val.data.as_ref().filter(|_| val.source == ValueSource::Initializer) {
                map[v.0] = Some(e.tensor(&val.name, t.clone())?);
            }
        }
        Ok(map[v.0])
    };
    let mut bn_saved: HashMap<NodeId, BnSaved> = HashMap::new();
    for (i, node) in src.nodes().iter().enumerate() {
        if !live_nodes[i] {
            continue;
        }
        // Statically known outputs (constants, shape arithmetic, Identity of a small
        // initializer) become initializers of their own.
        let differentiable_input = node.inputs.iter().flatten().any(|v| need[v.0]);
        if !differentiable_input && node.outputs.iter().all(|&o| src.value(o).data.is_some()) {
            for &o in &node.outputs {
                let v = src.value(o);
                map[o.0] = Some(e.tensor(
                    &v.name,
                    v.data.clone().unwrap_or_else(|| unreachable_tensor(&v.ty)),
                )?);
            }
            continue;
        }
        let training_bn = node.op == OpType::BatchNormalization
            && (opts.batch_norm == BnMode::Train
                || node.attrs.get("training_mode") == Some(&Attr::Int(1)));
        let mut inputs: Vec<Option<ValueId>> = Vec::with_capacity(node.inputs.len());
        for i in node.inputs.iter() {
            inputs.push(match i {
                Some(v) => Some(ensure(&mut e, &mut map, *v)?.ok_or_else(|| {
                    Error::node(
                        &node.name,
                        node.op,
                        format!("input '{}' was not emitted", src.value(*v).name),
                    )
                })?),
                _ => None,
            });
        }
        if training_bn {
            let (y, saved) =
                emit_bn_train(&mut e, node, &inputs, &src.value(node.outputs[0]).name)?;
            map[node.outputs[0].0] = Some(y);
            bn_saved.insert(NodeId(i), saved);
            continue;
        }
        let (op, outputs) = if node.op == OpType::Dropout {
            (OpType::Identity, &node.outputs[..1])
        } else {
            (node.op, &node.outputs[..])
        };
        let (ins, attrs) = if node.op == OpType::Dropout {
            (inputs[..1].to_vec(), BTreeMap::new())
        } else {
            (inputs, node.attrs.clone())
        };
        let names: Vec<String> = outputs.iter().map(|&o| src.value(o).name.clone()).collect();
        let ids = e.builder().op_named(op, &node.name, &ins, attrs, &names)?;
        for (k, &o) in outputs.iter().enumerate() {
            map[o.0] = Some(ids[k]);
        }
    }
    let y = map[output.0]
        .ok_or_else(|| Error::InvalidModel("the loss output was not emitted".into()))?;
    let head = loss::append(&mut e, opts.loss, y)?;

    // Reverse walk.
    let param_values: HashSet<ValueId> = selected.iter().map(|p| p.value).collect();
    let mut grads: Vec<Vec<ValueId>> = vec![Vec::new(); src.values().len()];
    grads[output.0].push(head.grad);
    let mut siblings = Siblings::find(src, &live_nodes);
    for (i, node) in src.nodes().iter().enumerate().rev() {
        if !live_nodes[i] {
            continue;
        }
        for &o in &node.outputs {
            siblings.flush(Some(o), &mut e, src, &map, &mut grads)?;
        }
        let gy: Vec<Option<ValueId>> = node
            .outputs
            .iter()
            .map(|&o| total(&mut e, &mut grads, o, &src.value(o).name))
            .collect::<Result<_>>()?;
        if gy.iter().all(Option::is_none) {
            continue;
        }
        // Parameters are leaves: a parameter that is an Identity of another parameter's
        // initializer is a separate PyTorch parameter, so nothing flows through to it.
        if node.outputs.iter().all(|o| param_values.contains(o)) {
            continue;
        }
        let needs: Vec<bool> = node.inputs.iter().map(|i| i.is_some_and(|v| need[v.0])).collect();
        if !needs.iter().any(|&n| n) {
            continue;
        }
        if let Some(g) = gy[0]
            && siblings.defer(NodeId(i), g, &needs)
        {
            continue;
        }
        let rule = match gradient_support(node.op) {
            GradSupport::NoGradient => continue,
            GradSupport::Unsupported => {
                return Err(Error::node(
                    &node.name,
                    node.op,
                    "intrain cannot differentiate this op yet",
                ));
            }
            GradSupport::Rule => rules::rule(node.op)
                .ok_or_else(|| Error::node(&node.name, node.op, "missing rule"))?,
        };
        let inputs: Vec<Option<ValueId>> =
            node.inputs.iter().map(|i| i.and_then(|v| map[v.0])).collect();
        let outputs: Vec<ValueId> =
            node.outputs.iter().map(|&o| map[o.0].unwrap_or(ValueId(usize::MAX))).collect();
        e.push_scope(&format!("{}_Grad", node.name));
        let mut ctx = RuleCtx {
            e: &mut e,
            node,
            inputs,
            outputs,
            gy,
            needs: needs.clone(),
            bn: bn_saved.get(&NodeId(i)).copied(),
        };
        let dx = rule(&mut ctx);
        e.pop_scope();
        for (k, d) in dx?.into_iter().enumerate() {
            if let (Some(d), Some(v)) = (d, node.input(k))
                && needs[k]
            {
                grads[v.0].push(d);
            }
        }
    }

    siblings.flush(None, &mut e, src, &map, &mut grads)?;

    // Outputs.
    let mut g = TrainingGraph {
        graph: Graph::new("", src.opset)?,
        inputs: src.inputs().iter().map(|&i| src.value(i).name.clone()).collect(),
        target_input: head.target_input,
        loss: e.graph().value(head.loss).name.clone(),
        params: Vec::new(),
        activations: Vec::new(),
        activation_grads: Vec::new(),
        activation_grams: Vec::new(),
    };
    e.builder().output(head.loss);
    for p in &selected {
        let v = src.value(p.value);
        let total_grad = total(&mut e, &mut grads, p.value, &v.name)?;
        let mut pg =
            ParamGrad { name: v.name.clone(), shape: v.ty.shape.clone(), grad: None, stats: None };
        if let Some(d) = total_grad {
            if opts.grad_outputs != GradOutputs::Stats {
                let name = e.graph().fresh_name(&format!("{}_grad", v.name));
                let id = e.builder().op_named(
                    OpType::Identity,
                    &format!("{}_grad_out", v.name),
                    &[Some(d)],
                    BTreeMap::new(),
                    std::slice::from_ref(&name),
                )?[0];
                e.builder().output(id);
                pg.grad = Some(name);
            }
            if opts.grad_outputs != GradOutputs::Full {
                pg.stats = Some(emit_stats(&mut e, d, &v.name)?);
            }
        }
        g.params.push(pg);
    }
    for (&a, requested) in acts.iter().zip(&opts.activations) {
        let v = map[a.0].ok_or_else(|| {
            Error::InvalidModel(format!("activation '{}' was not emitted", src.value(a).name))
        })?;
        e.builder().output(v);
        g.activations.push((requested.clone(), e.graph().value(v).name.clone()));
    }
    for (&a, requested) in act_grads.iter().zip(&opts.activation_grads) {
        let name = src.value(a).name.clone();
        let d = total(&mut e, &mut grads, a, &name)?;
        let out = match d {
            Some(d) => {
                let oname = e.graph().fresh_name(&format!("{name}_grad"));
                let id = e.builder().op_named(
                    OpType::Identity,
                    &format!("{name}_grad_out"),
                    &[Some(d)],
                    BTreeMap::new(),
                    std::slice::from_ref(&oname),
                )?[0];
                e.builder().output(id);
                Some(oname)
            }
            None => None,
        };
        g.activation_grads.push((requested.clone(), out));
    }
    for (&a, requested) in grams.iter().zip(&opts.activation_grams) {
        let name = requested.clone();
        let v = map[a.0]
            .ok_or_else(|| Error::InvalidModel(format!("activation '{name}' was not emitted")))?;
        let (gram, chsum) = emit_gram(&mut e, v, &name)?;
        g.activation_grams.push((name, gram, chsum));
    }
    g.graph = e.finish();
    Ok(g)
}

fn unreachable_tensor(ty: &crate::ir::TensorType) -> crate::ir::Tensor {
    crate::ir::Tensor::full(ty.dtype, ty.shape.clone(), 0.0)
}

/// The total gradient of a source value (summing fan-out contributions once).
fn total(
    e: &mut Emitter,
    grads: &mut [Vec<ValueId>],
    v: ValueId,
    name: &str,
) -> Result<Option<ValueId>> {
    let parts = &mut grads[v.0];
    match parts.len() {
        0 => Ok(None),
        1 => Ok(Some(parts[0])),
        _ => {
            let list = std::mem::take(parts);
            let s = e.op(OpType::Sum, &format!("{name}_grad_sum"), &list, vec![])?;
            grads[v.0].push(s);
            Ok(Some(s))
        }
    }
}

/// BatchNormalization with batch statistics, as PyTorch computes it in training mode:
/// `mean = Σx/M`, `d = x − mean`, `var = Σd²/M` (biased, two passes, so a large mean costs no
/// precision; both sums accumulate in float64), then an inference-mode BatchNormalization of `d` with mean 0 and that variance.
/// `d` and `inv = 1/√(var + ε)` are kept for the backward. The model's running statistics,
/// momentum and `training_mode` play no part. ONNX Runtime's own training-mode kernel is not
/// used: it writes the running statistics back into its input buffers, and ONNX Runtime 1.31
/// gives wrong outputs with it unless momentum is 1 (see the README's notes on BatchNorm).
fn emit_bn_train(
    e: &mut Emitter,
    node: &crate::ir::Node,
    inputs: &[Option<ValueId>],
    out_name: &str,
) -> Result<(ValueId, BnSaved)> {
    let get = |i: usize| {
        inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| Error::node(&node.name, node.op, format!("input {i} missing")))
    };
    let (x, scale, bias) = (get(0)?, get(1)?, get(2)?);
    let eps = match node.attrs.get("epsilon") {
        Some(Attr::Float(f)) => *f,
        _ => 1e-5,
    };
    let xs = e.shape(x);
    if xs.len() < 2 {
        return Err(Error::node(&node.name, node.op, "the input has fewer than 2 dimensions"));
    }
    let ch = xs[1];
    let axes: Vec<usize> = (0..xs.len()).filter(|&a| a != 1).collect();
    let mut bshape = vec![1usize; xs.len()];
    bshape[1] = ch;
    e.push_scope(&node.name);
    // Both sums accumulate in float64, as PyTorch's CPU BatchNorm accumulates its statistics:
    // float32 sums over thousands of elements put errors of 1e-7 to 1e-6 into every normalised
    // value, which deep train-mode networks amplify (a ReLU input near zero flips sign) into
    // gradient errors of 1e-3. The sum of squares matters most (median gradient error against
    // float64 PyTorch 25x lower on ShuffleNetV2); the mean's sum in float32 still costs RegNetY
    // (squeeze-excitation) tensors up to 2e-2.
    let inv_count = 1.0 / axes.iter().map(|&a| xs[a]).product::<usize>().max(1) as f32;
    let mean = sum_f64(e, "batch_mean", x, &axes, true)?;
    let mean = e.scale("batch_mean", mean, inv_count)?;
    let centered = e.sub("centered", x, mean)?;
    let sq = e.mul("sq", centered, centered)?;
    let var = sum_f64(e, "batch_var", sq, &axes, false)?;
    let var = e.scale("batch_var", var, inv_count)?;
    let zero_mean = e.tensor("zero_mean", crate::ir::Tensor::f32([ch], vec![0.0; ch]))?;
    let epsv = e.scalar(eps)?;
    let ve = e.add("var_eps", var, epsv)?;
    let sd = e.op(OpType::Sqrt, "std", &[ve], vec![])?;
    let inv = e.op(OpType::Reciprocal, "inv", &[sd], vec![])?;
    let inv = e.reshape("inv_b", inv, &bshape)?;
    e.pop_scope();
    let mut attrs = BTreeMap::new();
    attrs.insert("epsilon".to_string(), Attr::Float(eps));
    let y = e.builder().op_named(
        OpType::BatchNormalization,
        &node.name,
        &[Some(centered), Some(scale), Some(bias), Some(zero_mean), Some(var)],
        attrs,
        &[out_name.to_string()],
    )?[0];
    Ok((y, BnSaved { centered, inv }))
}

/// `ReduceSum` over `axes` accumulated in float64, the result back in float32.
fn sum_f64(
    e: &mut Emitter,
    name: &str,
    x: ValueId,
    axes: &[usize],
    keepdims: bool,
) -> Result<ValueId> {
    let wide = e.op(OpType::Cast, &format!("{name}_f64"), &[x], vec![("to", Attr::Int(11))])?;
    let s = e.reduce_sum(&format!("{name}_sum_f64"), wide, axes, keepdims)?;
    e.cast_f32(&format!("{name}_sum"), s)
}

fn emit_stats(e: &mut Emitter, d: ValueId, name: &str) -> Result<StatOutputs> {
    e.push_scope(&format!("{name}_grad_stats"));
    let keep0 = || vec![("keepdims", Attr::Int(0))];
    let s = e.op(OpType::ReduceSum, "sum", &[d], keep0())?;
    let sq = e.mul("sq", d, d)?;
    let ss = e.op(OpType::ReduceSum, "sum_sq", &[sq], keep0())?;
    let a = e.op(OpType::Abs, "abs", &[d], vec![])?;
    let m = e.op(OpType::ReduceMax, "max_abs", &[a], keep0())?;
    e.pop_scope();
    for v in [s, ss, m] {
        e.builder().output(v);
    }
    let n = |v: ValueId| e.graph().value(v).name.clone();
    Ok(StatOutputs { sum: n(s), sum_sq: n(ss), max_abs: n(m) })
}

/// Channel Gram matrix `A·Aᵀ` of an `(N, C, ...)` activation reshaped to `(C, N·positions)`, and
/// the channel sums.
fn emit_gram(e: &mut Emitter, v: ValueId, name: &str) -> Result<(String, String)> {
    let s = e.shape(v);
    let c = if s.len() >= 2 { s[1] } else { s[0] };
    e.push_scope(&format!("{name}_stats"));
    let mat = if s.len() == 2 {
        e.transpose("t", v, &[1, 0])?
    } else {
        let mut perm: Vec<usize> = vec![1, 0];
        perm.extend(2..s.len());
        let t = e.transpose("channels_first", v, &perm)?;
        let m: usize = s.iter().product::<usize>() / c;
        e.reshape("matrix", t, &[c, m])?
    };
    let mt = e.transpose("matrix_t", mat, &[1, 0])?;
    let gram = e.op(OpType::MatMul, "gram", &[mat, mt], vec![])?;
    let chsum = e.reduce_sum("chsum", mat, &[1], false)?;
    e.pop_scope();
    e.builder().output(gram);
    e.builder().output(chsum);
    Ok((e.graph().value(gram).name.clone(), e.graph().value(chsum).name.clone()))
}
