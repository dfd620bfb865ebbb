//! Scoring a model: which layers count, re-initialisation, one forward + backward pass with
//! in-graph layer statistics, and the InTrain score with its per-layer and per-tensor diagnosis.
//!
//! **Layer rule for arbitrary models** (`default_layers`): the outputs of activations (ReLU,
//! LeakyReLU, Clip/ReLU6, HardSwish, GELU, ELU, Softplus, Tanh, and the gated activations
//! exporters spell out element-wise: SiLU `x·σ(x)`, exact and tanh GELU, HardSwish, Mish), of
//! residual `Add`s and `Concat`s between activations, and of `LayerNormalization` on token
//! features, with rank 2 `(N, D)`, 3 `(N, T, D)` or 4 `(N, C, H, W)`; an `Add`/`Concat` whose
//! consumers all belong to one activation is represented by that activation. Sigmoid and
//! HardSigmoid outputs are gates (squeeze-excitation), not features, and do not count; nor do the
//! inner nodes of a spelled-out activation. A list of tensor names overrides the rule.

use serde::Serialize;

use super::gates::feeds_only_gates;
use super::gradients::{PassInputs, PreparedPass, TensorStats, prepare_session};
use super::intrain::{Score, health, score};
use super::participation::{LayerSpectrum, layer};
use crate::autodiff::TrainingOptions;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::ir::cost::parameters;
use crate::ir::{Graph, NodeAttrs, OpType, Tensor, ValueId, ValueSource};
use crate::runtime::Runtime;

/// How parameters are initialised before scoring.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    schemars::JsonSchema,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum InitMode {
    /// Kaiming-normal (fan_in, ReLU gain) Conv/Gemm/MatMul weights, their biases 0, BN and
    /// LayerNorm γ=1 β=0 (the paper's protocol); parameters no rule covers (layer scales,
    /// embeddings, constants) keep the model's values.
    #[default]
    Kaiming,
    /// PyTorch's default initialisation of `nn.Conv2d` and `nn.Linear`: weights and biases
    /// U(-1/√fan_in, 1/√fan_in) (Kaiming-uniform with a = √5), normalisation scale 1 and bias 0
    /// (the convention of the zero-cost-nas and NASLib proxies).
    Torch,
    /// Weights N(0, 1), biases 0, normalisation scale 1 and bias 0 (Zen-NAS).
    Normal,
    /// The weights stored in the model.
    AsIs,
}

/// One layer of the report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LayerReport {
    /// Tensor name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Participation-ratio diagnosis.
    #[serde(flatten)]
    pub spectrum: LayerSpectrum,
    /// The layer only feeds a multiplicative gate (a squeeze-and-excitation hidden layer): it
    /// rescales the main path's channels without carrying its signal.
    pub gate: bool,
}

/// One parameter tensor of the report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TensorReport {
    /// Parameter name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Gradient health h (None when it does not count).
    pub h: Option<f64>,
    /// RMS of the parameter's values in the pass (None when the model does not store them).
    pub value_rms: Option<f64>,
    /// Relative gradient RMS(∂L/∂θ) / RMS(θ): how fast one SGD step moves the tensor for its
    /// size (None without a gradient or with all-zero values).
    pub relative_grad: Option<f64>,
    /// All its values are zero and it multiplies what it is applied to (a zero-initialised
    /// head's weight, a residual branch's last BatchNorm scale γ = 0, a layer scale of 0): until
    /// it moves, nothing behind it gets a gradient.
    pub zero_multiplier: bool,
    /// Gradient statistics (None when the parameter does not influence the loss).
    pub grad: Option<TensorStats>,
}

/// The `score` report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ScoreReport {
    /// The score and its components.
    pub score: Score,
    /// Seed of initialisation, inputs and labels.
    pub seed: u64,
    /// Initialisation.
    pub init: InitMode,
    /// Loss value of the pass.
    pub loss: f64,
    /// RMS of the floating-point inputs fed to the model: the scale the layers' scales compare
    /// with.
    pub input_rms: f64,
    /// The loss of an uninformed prediction: ln(classes) for cross-entropy (uniform
    /// probabilities), the target's mean square for MSE (predicting 0); None for the sum loss.
    pub chance_loss: Option<f64>,
    /// Seconds of the forward + backward pass alone (ONNX Runtime `run`, first call).
    pub pass_seconds: f64,
    /// Peak memory: estimated from the training graph before the run, and the process's own
    /// peak after it.
    pub memory: PeakMemory,
    /// Per layer.
    pub layers: Vec<LayerReport>,
    /// Per parameter tensor.
    pub tensors: Vec<TensorReport>,
}

/// Peak memory of a scoring pass.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PeakMemory {
    /// The estimate made before the run from the training graph's shapes (weights, inputs,
    /// the tensors alive at once, the output copies), checked against `--max-memory`.
    pub estimate: crate::ir::memory::MemoryEstimate,
    /// The process's peak resident memory after the run (`VmHWM`; Linux only): the whole
    /// process so far, ONNX Runtime's library and arena included.
    pub process_peak_bytes: Option<u64>,
}

impl PeakMemory {
    /// The estimate of `g`'s run made before it, and the process's peak now.
    pub fn after_run(estimate: crate::ir::memory::MemoryEstimate) -> Self {
        PeakMemory { estimate, process_peak_bytes: process_peak_bytes() }
    }
}

impl std::fmt::Display for PeakMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "estimated peak {} (tensors alive at '{}')",
            crate::limits::human_bytes(self.estimate.total()),
            self.estimate.peak_node
        )?;
        if let Some(b) = self.process_peak_bytes {
            write!(f, ", process peak {}", crate::limits::human_bytes(b))?;
        }
        Ok(())
    }
}

/// The process's peak resident memory so far (`VmHWM` of `/proc/self/status`), `None` where it
/// cannot be read.
pub fn process_peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The layers that count under the default rule, in graph order; a network whose only
/// nonlinearities are Sigmoid or HardSigmoid counts their outputs.
pub fn default_layers(g: &Graph) -> Vec<String> {
    use OpType::*;
    let consumers = g.consumers();
    let plain = |op: OpType| {
        matches!(op, Relu | LeakyRelu | Clip | HardSwish | Gelu | Elu | Softplus | Tanh)
    };
    // Decomposed activations: which nodes make up each (their root's output is the feature),
    // and the activation each of those nodes belongs to.
    let mut member: Vec<Option<usize>> = vec![None; g.nodes().len()];
    for (i, n) in g.nodes().iter().enumerate() {
        if let Some(nodes) = gated_product(g, &consumers, n) {
            for m in nodes {
                member[m].get_or_insert(i);
            }
            member[i] = Some(i);
        }
    }
    // A feature depends on the model's input; a tensor computed from parameters alone (a Swin V2
    // logit scale clipped and exponentiated) is not one.
    let mut from_input = vec![false; g.values().len()];
    for &i in g.inputs() {
        from_input[i.0] = true;
    }
    for n in g.nodes() {
        if n.inputs.iter().flatten().any(|v| from_input[v.0]) {
            for &y in &n.outputs {
                from_input[y.0] = true;
            }
        }
    }
    let float_feature = |y: ValueId| {
        let ty = &g.value(y).ty;
        matches!(ty.rank(), 2..=4) && ty.dtype.is_float() && from_input[y.0]
    };
    // The activation a node belongs to, as a node index: itself for a plain activation.
    let activation_of = |i: usize| match member[i] {
        Some(root) => Some(root),
        None => plain(g.nodes()[i].op).then_some(i),
    };
    let mut out = Vec::new();
    for (i, n) in g.nodes().iter().enumerate() {
        let Some(&y) = n.outputs.first() else { continue };
        if !float_feature(y) {
            continue;
        }
        let counts = if member[i] == Some(i) {
            true
        } else if member[i].is_some() {
            false
        } else if plain(n.op) {
            true
        } else if n.op == LayerNormalization {
            // Transformers' normalised token features (N, T, D) or (N, D).
            matches!(g.value(y).ty.rank(), 2 | 3)
        } else if matches!(n.op, Add | Concat) {
            let rank = g.value(y).ty.rank();
            let between_activations = n.inputs.iter().flatten().all(|&v| {
                g.value(v).source != ValueSource::Initializer
                    && !is_constant(g, v)
                    && g.value(v).ty.rank() == rank
            });
            // Represented by the activation it feeds when every consumer belongs to one.
            let users: Vec<Option<usize>> =
                consumers[y.0].iter().map(|(c, _)| activation_of(c.0)).collect();
            let only_into_activation =
                !users.is_empty() && users[0].is_some() && users.iter().all(|u| *u == users[0]);
            between_activations && !only_into_activation && !attention_logits(g, &consumers, y)
        } else {
            false
        };
        if counts {
            out.push(g.value(y).name.clone());
        }
    }
    if out.is_empty() {
        // A network whose only nonlinearities are sigmoids (they gate elsewhere, so they count
        // only when nothing else does).
        out = g
            .nodes()
            .iter()
            .filter(|n| matches!(n.op, Sigmoid | HardSigmoid))
            .filter_map(|n| n.outputs.first().copied())
            .filter(|&y| float_feature(y))
            .map(|y| g.value(y).name.clone())
            .collect();
    }
    out
}

/// Attention scores, not features: a tensor that reaches a `Softmax` through reshapes and
/// element-wise arithmetic (the relative position bias and masks of windowed attention are added
/// to the scores before their softmax).
fn attention_logits(g: &Graph, consumers: &[Vec<(crate::ir::NodeId, usize)>], y: ValueId) -> bool {
    use OpType::*;
    let mut frontier = vec![(y, 0)];
    while let Some((v, depth)) = frontier.pop() {
        for &(c, _) in &consumers[v.0] {
            let n = g.node(c);
            match n.op {
                Softmax => return true,
                Reshape | Transpose | Add | Sub | Mul | Div | Where if depth < 4 => {
                    frontier.extend(n.outputs.iter().map(|&o| (o, depth + 1)));
                }
                _ => {}
            }
        }
    }
    false
}

/// A constant: an initializer or a `Constant` node's output (through `Identity`s).
fn is_constant(g: &Graph, v: ValueId) -> bool {
    match g.value(v).source {
        ValueSource::Initializer => true,
        ValueSource::Input => false,
        ValueSource::Node { node, .. } => match g.node(node).op {
            OpType::Constant => true,
            OpType::Identity => g.node(node).input(0).is_some_and(|i| is_constant(g, i)),
            _ => false,
        },
    }
}

/// A decomposed gated activation `x · gate(x)` ending at node `n`, as exporters spell them: SiLU
/// `x·σ(x)`, exact GELU `x·0.5·(1 + erf(x/√2))`, tanh-GELU `0.5·x·(1 + tanh(√(2/π)(x +
/// 0.044715x³)))`, HardSwish `x·HardSigmoid(x)` or `x·clip(x + 3, 0, 6)/6`, Mish
/// `x·tanh(softplus(x))`, in any operand order. `n` is a `Mul` (or a `Div` by a constant) whose
/// product, flattened through single-use `Mul`s, has a factor `x` and a factor computed from `x`
/// by element-wise operations with constants and at least one squashing function (σ, erf, tanh,
/// clip...). Returns the node indices inside the activation, `None` when `n` is not one or its
/// output is still scaled by a further `Mul`/`Div` (then that node is the activation's end).
fn gated_product(
    g: &Graph,
    consumers: &[Vec<(crate::ir::NodeId, usize)>],
    n: &crate::ir::Node,
) -> Option<Vec<usize>> {
    use OpType::*;
    let single_use = |v: ValueId| consumers[v.0].len() == 1;
    let index_of = |v: ValueId| match g.value(v).source {
        ValueSource::Node { node, .. } => Some(node.0),
        _ => None,
    };
    let scales = |c: &crate::ir::Node| {
        c.op == Mul || c.op == Div && c.input(1).is_some_and(|d| is_constant(g, d))
    };
    let &y = n.outputs.first()?;
    if single_use(y) && scales(g.node(consumers[y.0][0].0)) {
        return None;
    }
    let mut nodes = Vec::new();
    let mut factors = Vec::new();
    let mut stack: Vec<ValueId> = match n.op {
        Mul => n.inputs.iter().flatten().copied().collect(),
        Div if n.input(1).is_some_and(|d| is_constant(g, d)) => vec![n.input(0)?],
        _ => return None,
    };
    while let Some(v) = stack.pop() {
        match g.producer(v) {
            Some(p) if p.op == Mul && single_use(v) => {
                nodes.extend(index_of(v));
                stack.extend(p.inputs.iter().flatten().copied());
            }
            _ if is_constant(g, v) => {}
            _ => factors.push(v),
        }
    }
    for (k, &gate) in factors.iter().enumerate() {
        let mut seen: Vec<ValueId> = Vec::new();
        let mut gate_nodes: Vec<usize> = Vec::new();
        let mut squashed = false;
        let mut walk = vec![(gate, 0usize)];
        while let Some((v, depth)) = walk.pop() {
            if seen.contains(&v) || is_constant(g, v) {
                continue;
            }
            seen.push(v);
            let Some(p) = g.producer(v) else { continue };
            let elementwise = matches!(
                p.op,
                Add | Sub
                    | Mul
                    | Div
                    | Pow
                    | Neg
                    | Sqrt
                    | Erf
                    | Tanh
                    | Sigmoid
                    | HardSigmoid
                    | Clip
                    | Softplus
                    | Relu
                    | Min
                    | Max
            );
            let other_factor = factors.iter().enumerate().any(|(j, &f)| j != k && f == v);
            if depth >= 8 || !elementwise || other_factor {
                continue;
            }
            squashed |=
                matches!(p.op, Erf | Tanh | Sigmoid | HardSigmoid | Clip | Softplus | Relu | Min);
            gate_nodes.extend(index_of(v));
            walk.extend(p.inputs.iter().flatten().map(|&i| (i, depth + 1)));
        }
        let x_in_gate = factors.iter().enumerate().any(|(j, &x)| j != k && seen.contains(&x));
        if squashed && x_in_gate {
            nodes.extend(gate_nodes);
            return Some(nodes);
        }
    }
    None
}

/// Every ReLU output (rank 2 or 4): "post-activation" read literally.
pub fn relu_layers(g: &Graph) -> Vec<String> {
    g.nodes()
        .iter()
        .filter(|n| n.op == OpType::Relu)
        .filter_map(|n| n.outputs.first())
        .filter(|&&y| matches!(g.value(y).ty.rank(), 2 | 4))
        .map(|&y| g.value(y).name.clone())
        .collect()
}

/// Re-initialises the parameters of a graph (Kaiming protocol); see [`initialise`].
pub fn kaiming_init(g: &mut Graph, seed: u64) -> Result<()> {
    initialise(g, InitMode::Kaiming, seed)
}

/// Re-initialises the parameters of a graph under `mode` (nothing for [`InitMode::AsIs`]). The
/// rules, by the role of the parameter at its first consumer:
///
/// - Conv/Gemm/MatMul weights (also a `MatMul`'s weight stored `(out, in)` behind a `Transpose`):
///   drawn by the mode (Kaiming-normal fan_in with ReLU gain, PyTorch's U(±1/√fan_in), or
///   N(0, 1));
/// - Conv/Gemm biases, and the bias a `MatMul` is followed by (`Add(MatMul(x, W), b)`, a linear
///   layer on 3-D inputs as exporters write it): 0 (U(±1/√fan_in) under [`InitMode::Torch`]);
/// - BatchNormalization and LayerNormalization scale 1, bias 0.
///
/// Every other parameter keeps the value stored in the model: a ConvNeXt layer scale, a
/// positional embedding, a class token or a constant such as a GELU's √2 is not a weight the
/// protocol re-draws, and zeroing it would cut the branch it scales.
pub fn initialise(g: &mut Graph, mode: InitMode, seed: u64) -> Result<()> {
    if mode == InitMode::AsIs {
        return Ok(());
    }
    let mut init = Init::new(seed);
    let consumers = g.consumers();
    // The fan-in of each layer's weight, by consuming node, for the biases of the Torch mode.
    let mut fan_in_of: std::collections::HashMap<usize, usize> = Default::default();
    let weight = |init: &mut Init, shape: &[usize], fan_in: usize| match mode {
        InitMode::Torch => init.uniform_tensor(shape, 1.0 / (fan_in.max(1) as f64).sqrt()),
        InitMode::Normal => init.normal_tensor(shape, 1.0),
        _ => init.normal_tensor(shape, (2.0 / fan_in.max(1) as f64).sqrt()),
    };
    let params = parameters(g);
    // Weights first, so that each bias knows its layer's fan-in.
    let mut order: Vec<&crate::ir::cost::Parameter> = params.iter().collect();
    order.sort_by_key(|p| p.consumers[0].1 > 1);
    for p in order {
        let v = g.value(p.initializer).clone();
        let (node, slot) = p.consumers[0];
        let n = g.node(node);
        let op = n.op;
        let shape = &v.ty.shape;
        // A linear layer's weight (out, in) transposed for a MatMul: MatMul(x, Transpose(W)).
        let transposed_weight = op == OpType::Transpose
            && shape.len() == 2
            && n.attr_ints("perm").ok().flatten().is_none_or(|p| p == [1, 0])
            && n.outputs.first().is_some_and(|&y| {
                consumers[y.0].iter().any(|&(c, s)| s == 1 && g.node(c).op == OpType::MatMul)
            });
        let bias = |init: &mut Init, fan_in: Option<usize>| match (mode, fan_in) {
            (InitMode::Torch, Some(f)) => {
                init.uniform_tensor(shape, 1.0 / (f.max(1) as f64).sqrt())
            }
            _ => Tensor::full(v.ty.dtype, shape.clone(), 0.0),
        };
        let t = match (op, slot) {
            _ if transposed_weight => weight(&mut init, shape, shape[1]),
            (OpType::Conv | OpType::Gemm | OpType::MatMul, 0 | 1) if shape.len() >= 2 => {
                // Conv (Co, Ci, k..) and Gemm with transB (out, in) have fan_in = Π shape[1..];
                // MatMul and Gemm without transB store (in, out): fan_in = shape[0].
                let in_out = op == OpType::MatMul
                    || !matches!(n.attr_int("transB", 0), Ok(1)) && op == OpType::Gemm;
                let fan_in: usize = if in_out { shape[0] } else { shape[1..].iter().product() };
                fan_in_of.insert(node.0, fan_in);
                weight(&mut init, shape, fan_in)
            }
            (OpType::BatchNormalization | OpType::LayerNormalization, 1) => {
                Tensor::full(v.ty.dtype, shape.clone(), 1.0)
            }
            (OpType::BatchNormalization | OpType::LayerNormalization, 2) => {
                Tensor::full(v.ty.dtype, shape.clone(), 0.0)
            }
            (OpType::Conv | OpType::Gemm, 2) => bias(&mut init, fan_in_of.get(&node.0).copied()),
            (OpType::Add, 0 | 1) if matmul_bias(g, n, slot) => bias(&mut init, None),
            _ => continue,
        };
        g.set_initializer(p.initializer, t.cast(v.ty.dtype))?;
    }
    Ok(())
}

/// Whether input `slot` of an `Add` is the bias of a linear layer: the other operand comes from a
/// `MatMul` with a parameter for its weight.
fn matmul_bias(g: &Graph, add: &crate::ir::Node, slot: usize) -> bool {
    let Some(Some(other)) = add.inputs.get(1 - slot) else { return false };
    g.producer(*other).is_some_and(|p| {
        p.op == OpType::MatMul
            && p.inputs.iter().flatten().any(|&w| crate::ir::cost::weight_behind(g, w).is_some())
    })
}

/// Scores a model: one forward + backward pass.
pub fn score_model(
    rt: &Runtime,
    graph: &Graph,
    layers: Option<Vec<String>>,
    init: InitMode,
    training: &TrainingOptions,
    inputs: &PassInputs,
) -> Result<ScoreReport> {
    let mut g = graph.clone();
    initialise(&mut g, init, inputs.seed)?;
    let names = layers.unwrap_or_else(|| default_layers(&g));
    if names.is_empty() {
        return Err(Error::NoLayers);
    }
    // A layer may repeat (a cell that passes its input through): one Gram per tensor.
    let mut unique: Vec<String> = Vec::new();
    for n in &names {
        if !unique.contains(n) {
            unique.push(n.clone());
        }
    }
    let opts = TrainingOptions { activation_grams: unique, ..training.clone() };
    let PreparedPass { graph: tg, feeds, mut session, estimate } =
        prepare_session(rt, &g, &opts, inputs)?;
    let input_rms = float_inputs_rms(feeds[..g.inputs().len()].iter().map(|(_, t)| t));
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let pass_start = std::time::Instant::now();
    let out = session.run(&refs)?;
    let pass_seconds = pass_start.elapsed().as_secs_f64();
    let memory = PeakMemory::after_run(estimate);
    let get = |n: &str| out.get(n).ok_or_else(|| Error::Runtime(format!("output '{n}' missing")));
    let gates = feeds_only_gates(&g, &names);
    let mut layer_reports = Vec::new();
    for (name, gate) in names.iter().zip(gates) {
        let (_, gram, sums) = tg
            .activation_grams
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| Error::Runtime(format!("no Gram matrix for '{name}'")))?;
        let id = g.find(name).ok_or_else(|| Error::Input(format!("no tensor '{name}'")))?;
        let shape = g.value(id).ty.shape.clone();
        let sums = get(sums)?.to_f64();
        let m = shape.iter().product::<usize>() / sums.len().max(1);
        layer_reports.push(LayerReport {
            name: name.clone(),
            shape,
            spectrum: layer(&get(gram)?.to_f64(), &sums, m),
            gate,
        });
    }
    let consumers = g.consumers();
    let mut tensors = Vec::new();
    for p in &tg.params {
        let grad = match &p.grad {
            Some(n) => Some(TensorStats::of(&get(n)?.to_f32())),
            None => None,
        };
        let value_rms =
            g.find(&p.name).and_then(|id| g.value(id).data.as_ref()).map(|t| rms(&t.to_f64()));
        let relative_grad = match (grad, value_rms) {
            (Some(s), Some(v)) if v > 0.0 && s.numel > 0 => {
                Some(s.norm / (s.numel as f64).sqrt() / v)
            }
            _ => None,
        };
        let zero_multiplier = value_rms == Some(0.0)
            && g.find(&p.name).is_some_and(|v| multiplies(&g, &consumers, v));
        tensors.push(TensorReport {
            name: p.name.clone(),
            shape: p.shape.clone(),
            h: grad.as_ref().and_then(health),
            value_rms,
            relative_grad,
            zero_multiplier,
            grad,
        });
    }
    let stats: Vec<TensorStats> = tensors.iter().filter_map(|t| t.grad).collect();
    let spectra: Vec<LayerSpectrum> = layer_reports.iter().map(|l| l.spectrum.clone()).collect();
    let loss = out.get(&tg.loss).map(|t| t.to_f64()[0]).unwrap_or(f64::NAN);
    Ok(ScoreReport {
        score: score(&spectra, &stats),
        seed: inputs.seed,
        init,
        loss,
        input_rms,
        chance_loss: chance_loss(&g, training, &tg, &feeds),
        pass_seconds,
        memory,
        layers: layer_reports,
        tensors,
    })
}

/// The loss an uninformed prediction gets (see [`ScoreReport::chance_loss`]).
fn chance_loss(
    g: &Graph,
    training: &TrainingOptions,
    tg: &crate::autodiff::TrainingGraph,
    feeds: &[(String, Tensor)],
) -> Option<f64> {
    match training.loss {
        crate::autodiff::Loss::CrossEntropy => {
            let output = match &training.output {
                Some(name) => g.find(name)?,
                None => *g.outputs().first()?,
            };
            let shape = &g.value(output).ty.shape;
            (shape.len() == 2 && shape[1] >= 2).then(|| (shape[1] as f64).ln())
        }
        crate::autodiff::Loss::Mse => {
            let name = tg.target_input.as_ref()?;
            let (_, target) = feeds.iter().find(|(n, _)| n == name)?;
            Some(rms(&target.to_f64()).powi(2))
        }
        crate::autodiff::Loss::Sum | crate::autodiff::Loss::Cotangent => None,
    }
}

/// Whether a parameter multiplies what it is applied to (through identities, transposes,
/// reshapes and casts): a Conv/Gemm/MatMul operand other than a bias, a normalisation's scale, a
/// `Mul` factor.
fn multiplies(g: &Graph, consumers: &[Vec<(crate::ir::NodeId, usize)>], v: ValueId) -> bool {
    use OpType::*;
    consumers[v.0].iter().any(|&(c, slot)| {
        let n = g.node(c);
        match n.op {
            Conv | ConvTranspose | Gemm => slot < 2,
            MatMul | Mul => true,
            BatchNormalization | LayerNormalization | InstanceNormalization => slot == 1,
            Identity | Transpose | Reshape | Cast | Squeeze | Unsqueeze => {
                n.outputs.iter().any(|&o| multiplies(g, consumers, o))
            }
            _ => false,
        }
    })
}

/// Root mean square of the finite values (0 when there are none).
fn rms(values: &[f64]) -> f64 {
    root_mean(values.iter().fold((0, 0.0), |acc, &v| add_square(acc, v)))
}

/// [`rms`] over the elements of the float tensors among `inputs`, one after the other, read in
/// place (the batch of a large network is not copied to f64 for it).
fn float_inputs_rms<'a>(inputs: impl Iterator<Item = &'a Tensor>) -> f64 {
    let mut acc = (0, 0.0);
    for t in inputs.filter(|t| t.dtype().is_float()) {
        acc = match &t.data {
            crate::ir::TensorData::F32(v) => {
                v.iter().fold(acc, |acc, &x| add_square(acc, x as f64))
            }
            _ => t.to_f64().into_iter().fold(acc, add_square),
        };
    }
    root_mean(acc)
}

/// √(sum / count) of a (count, sum of squares); 0 for no elements.
fn root_mean((n, sum): (usize, f64)) -> f64 {
    if n == 0 { 0.0 } else { (sum / n as f64).sqrt() }
}

/// One element into a (count, sum of squares) of the finite elements.
fn add_square((n, sum): (usize, f64), v: f64) -> (usize, f64) {
    if v.is_finite() { (n + 1, sum + v * v) } else { (n, sum) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{GraphBuilder, Tensor, TensorType};

    #[test]
    fn a_sigmoid_only_network_has_layers_and_sigmoid_gates_do_not_count_elsewhere() {
        let mut b = GraphBuilder::new("sigmoids");
        let x = b.input("x", TensorType::f32([4, 3])).expect("input");
        let w1 = b.param("fc1.weight", Tensor::f32([5, 3], vec![0.1; 15])).expect("w1");
        let h = b.gemm("fc1", x, w1, None, true).expect("fc1");
        let s1 = b.op(OpType::Sigmoid, "s1", &[h], vec![]).expect("s1");
        let w2 = b.param("fc2.weight", Tensor::f32([2, 5], vec![0.1; 10])).expect("w2");
        let y = b.gemm("fc2", s1, w2, None, true).expect("fc2");
        b.output(y);
        assert_eq!(default_layers(&b.finish()), vec!["s1".to_string()]);

        // With a ReLU in the network, a sigmoid is a gate and does not count.
        let mut b = GraphBuilder::new("gated");
        let x = b.input("x", TensorType::f32([4, 3])).expect("input");
        let r = b.relu("r", x).expect("relu");
        let g = b.op(OpType::Sigmoid, "g", &[x], vec![]).expect("gate");
        let y = b.op(OpType::Mul, "y", &[r, g], vec![]).expect("mul");
        b.output(y);
        assert_eq!(default_layers(&b.finish()), vec!["r".to_string()]);
    }

    #[test]
    fn attention_scores_with_a_position_bias_are_not_a_layer_but_the_residual_stream_is() {
        let mut b = GraphBuilder::new("attention");
        let x = b.input("x", TensorType::f32([2, 4, 8])).expect("tokens");
        let act = b.relu("act", x).expect("relu");
        let kt = b
            .op(
                OpType::Transpose,
                "kt",
                &[act],
                vec![("perm", crate::ir::Attr::Ints(vec![0, 2, 1]))],
            )
            .expect("kt");
        let raw = b.op(OpType::MatMul, "raw_scores", &[act, kt], vec![]).expect("qk");
        // A learned logit scale (Swin V2): computed from a parameter alone, not a feature.
        let p = b.param("logit_scale", Tensor::f32([2, 1, 1], vec![0.5, 2.0])).expect("scale");
        let scale = b.relu("scale", p).expect("scale");
        let scores = b.op(OpType::Mul, "scores", &[raw, scale], vec![]).expect("scaled");
        let bias = b.relu("bias", scores).expect("bias");
        let biased = b.add("biased", scores, bias).expect("add");
        let attn = b.op(OpType::Softmax, "softmax", &[biased], vec![]).expect("softmax");
        let mixed = b.op(OpType::MatMul, "mix", &[attn, act], vec![]).expect("av");
        let residual = b.add("residual", act, mixed).expect("residual");
        b.output(residual);
        let layers = default_layers(&b.finish());
        assert!(layers.contains(&"residual".to_string()), "{layers:?}");
        assert!(!layers.contains(&"biased".to_string()), "{layers:?}");
        assert!(!layers.contains(&"scale".to_string()), "{layers:?}");
    }
}
