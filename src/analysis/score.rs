//! Scoring a model: which layers count, re-initialisation, one forward + backward pass with
//! in-graph layer statistics, and the InTrain score with its per-layer and per-tensor diagnosis.
//!
//! **Layer rule for arbitrary models** (`default_layers`): the outputs of activations (ReLU,
//! LeakyReLU, Clip/ReLU6, HardSwish, GELU, ELU, Softplus, Tanh, SiLU written as
//! `Mul(x, Sigmoid(x))`) and of residual `Add`s and
//! `Concat`s between activations, with rank 2 `(N, D)` or 4 `(N, C, H, W)`; an `Add`/`Concat`
//! whose only consumer is an activation is represented by that activation. Sigmoid and
//! HardSigmoid outputs are gates (squeeze-excitation), not features, and do not count. A list of
//! tensor names overrides the rule.

use serde::Serialize;

use super::gradients::{PassInputs, TensorStats, prepare};
use super::intrain::{Score, health, score};
use super::participation::{LayerSpectrum, layer};
use crate::autodiff::TrainingOptions;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::ir::cost::parameters;
use crate::ir::{Graph, NodeAttrs, OpType, Tensor, ValueSource};
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
    /// Kaiming-normal (fan_in, ReLU gain) Conv/Gemm/MatMul weights, BN γ=1 β=0, other
    /// parameters 0 (the paper's protocol).
    #[default]
    Kaiming,
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
    /// Seconds of the forward + backward pass alone (ONNX Runtime `run`, first call).
    pub pass_seconds: f64,
    /// Per layer.
    pub layers: Vec<LayerReport>,
    /// Per parameter tensor.
    pub tensors: Vec<TensorReport>,
}

/// The layers that count under the default rule, in graph order.
pub fn default_layers(g: &Graph) -> Vec<String> {
    use OpType::*;
    let consumers = g.consumers();
    let activation = |op: OpType| {
        matches!(op, Relu | LeakyRelu | Clip | HardSwish | Gelu | Elu | Softplus | Tanh)
    };
    // SiLU/Swish as exporters write it: Mul(x, Sigmoid(x)).
    let silu = |n: &crate::ir::Node| {
        n.op == Mul
            && n.inputs.len() == 2
            && (0..2).any(|i| {
                let (a, b) = (n.inputs[i], n.inputs[1 - i]);
                match (a, b) {
                    (Some(a), Some(b)) => g
                        .producer(b)
                        .is_some_and(|p| p.op == Sigmoid && p.inputs.first() == Some(&Some(a))),
                    _ => false,
                }
            })
    };
    let mut out = Vec::new();
    for n in g.nodes() {
        let Some(&y) = n.outputs.first() else { continue };
        let ty = &g.value(y).ty;
        if !(ty.rank() == 2 || ty.rank() == 4) || !ty.dtype.is_float() {
            continue;
        }
        let counts = if activation(n.op) || silu(n) {
            true
        } else if matches!(n.op, Add | Concat) {
            let between_activations = n.inputs.iter().flatten().all(|&v| {
                g.value(v).source != ValueSource::Initializer && g.value(v).ty.rank() == ty.rank()
            });
            let only_into_activation =
                consumers[y.0].len() == 1 && activation(g.node(consumers[y.0][0].0).op);
            between_activations && !only_into_activation
        } else {
            false
        };
        if counts {
            out.push(g.value(y).name.clone());
        }
    }
    out
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

/// Re-initialises the parameters of a graph (Kaiming protocol).
pub fn kaiming_init(g: &mut Graph, seed: u64) -> Result<()> {
    let mut init = Init::new(seed);
    for p in parameters(g) {
        let v = g.value(p.initializer).clone();
        let (node, slot) = p.consumers[0];
        let op = g.node(node).op;
        let shape = &v.ty.shape;
        let t = match (op, slot) {
            (OpType::Conv | OpType::Gemm | OpType::MatMul, 0 | 1) if shape.len() >= 2 => {
                // Conv (Co, Ci, k..) and Gemm with transB (out, in) have fan_in = Π shape[1..];
                // MatMul and Gemm without transB store (in, out): fan_in = shape[0].
                let in_out = op == OpType::MatMul
                    || !matches!(g.node(node).attr_int("transB", 0), Ok(1)) && op == OpType::Gemm;
                let fan_in: usize = if in_out { shape[0] } else { shape[1..].iter().product() };
                init.normal_tensor(shape, (2.0 / fan_in.max(1) as f64).sqrt())
            }
            (OpType::BatchNormalization | OpType::LayerNormalization, 1) => {
                Tensor::full(v.ty.dtype, shape.clone(), 1.0)
            }
            _ => Tensor::full(v.ty.dtype, shape.clone(), 0.0),
        };
        g.set_initializer(p.initializer, t.cast(v.ty.dtype))?;
    }
    Ok(())
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
    if init == InitMode::Kaiming {
        kaiming_init(&mut g, inputs.seed)?;
    }
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
    let (tg, feeds) = prepare(&g, &opts, inputs)?;
    let mut session = rt.session(&crate::onnx::to_bytes(&tg.graph))?;
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let pass_start = std::time::Instant::now();
    let out = session.run(&refs)?;
    let pass_seconds = pass_start.elapsed().as_secs_f64();
    let get = |n: &str| out.get(n).ok_or_else(|| Error::Runtime(format!("output '{n}' missing")));
    let mut layer_reports = Vec::new();
    for name in &names {
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
        });
    }
    let mut tensors = Vec::new();
    for p in &tg.params {
        let grad = match &p.grad {
            Some(n) => Some(TensorStats::of(&get(n)?.to_f32())),
            None => None,
        };
        tensors.push(TensorReport {
            name: p.name.clone(),
            shape: p.shape.clone(),
            h: grad.as_ref().and_then(health),
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
        pass_seconds,
        layers: layer_reports,
        tensors,
    })
}
