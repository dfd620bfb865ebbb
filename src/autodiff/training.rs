//! Building a training graph: forward (with batch-statistics BatchNorm) + loss + backward.
//!
//! [`build_training_graph`] runs its phases in order, one submodule each: `targets` resolves what
//! the options ask for and marks the live nodes and the values that need a gradient; `forward`
//! copies the forward graph (constants folded, BatchNormalization with batch statistics computed
//! by `batch_norm`, Dropout as identity); the [`Loss`] head is appended; `backward` walks the
//! nodes in reverse, applying the gradient rules (sibling convolutions together) and summing
//! fan-out; `outputs` exposes the loss, the gradients and the requested activations.

mod backward;
mod batch_norm;
mod detach;
mod forward;
mod outputs;
mod schedule;
mod targets;

use self::forward::Forward;
use self::targets::Targets;
use super::emit::Emitter;
use super::loss::{self, Loss};
use crate::error::Result;
use crate::ir::Graph;
use crate::ir::passes::merge_duplicates;

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
    /// Forward values exposed as sign-agreement kernels (as `<name>_codes` `(N, N)` and
    /// `<name>_active` `(N)`): with `c` the 0/1 code of `value > 0` per sample, `c·cᵀ` and the
    /// active count per sample, from which the NASWOT kernel follows without a full transfer.
    pub sign_kernels: Vec<String>,
    /// Forward values `z` exposed with their gradients as per-sample channel products
    /// `Σ_positions z·∂L/∂z`, shape `(N, C)` (as `<name>_zdz`): channel saliency (Fisher).
    pub grad_products: Vec<String>,
    /// Parameter gradient outputs.
    pub grad_outputs: GradOutputs,
    /// Forward values seeded with a fed cotangent each (a float32 input of the value's shape,
    /// named in [`TrainingGraph::cotangents`]): the loss gains `Σ w ⊙ value`, so that the
    /// gradients are vector-Jacobian products of several values at once.
    pub cotangents: Vec<String>,
    /// Pairs (value `v`, direction `d` of `v`'s shape, both forward values) exposed as the
    /// per-sample directional derivative `Σ_{non-batch axes} d ⊙ ∂L/∂v`, shape `(N)` (as
    /// [`TrainingGraph::projections`]): with `d` the change of `v` along a parameter direction,
    /// each sample's gradient along that direction. A `d` with one channel (axis 1) stands for a
    /// direction that is zero on the other channels.
    pub projections: Vec<(String, String)>,
    /// Forward values whose consumers read a gradient-stopped copy: nothing flows back past it,
    /// and what its consumers pass back is exposed ([`TrainingGraph::detached`]), the local
    /// vector-Jacobian product of the nodes that read the value.
    pub detach: Vec<String>,
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
    /// Exposed sign kernels: (value, `c·cᵀ` output, active-count output).
    pub sign_kernels: Vec<(String, String, String)>,
    /// Exposed channel products: (value, output or `None` if it does not influence the loss).
    pub grad_products: Vec<(String, Option<String>)>,
    /// Exposed projections: (value, direction, output or `None` if the value does not influence
    /// the loss).
    pub projections: Vec<(String, String, Option<String>)>,
    /// Cotangent inputs: (value, input name).
    pub cotangents: Vec<(String, String)>,
    /// Gradients passed back to the detached values by their consumers: (value, output or
    /// `None` if nothing flows back).
    pub detached: Vec<(String, Option<String>)>,
}

/// Builds the training graph of `original`: forward, loss head and backward, in standard ONNX
/// ops.
pub fn build_training_graph(original: &Graph, opts: &TrainingOptions) -> Result<TrainingGraph> {
    // Repeated computations (the same ReLU once per consumer) are merged first, so their
    // gradients are summed before, not after, the backward of the shared node.
    let (detached, copies) = detach::insert_copies(original, &opts.detach)?;
    let merged = merge_duplicates(&detached)?;
    let src = &merged.graph;
    let targets = Targets::resolve(&merged, opts, &copies)?;
    let live = targets.live_nodes(src);
    let need = targets.needs_gradient(src);
    let mut e = Emitter::new(Graph::new(src.name.clone(), src.opset)?);
    let fwd = Forward::copy(&mut e, src, &live, &need, opts.batch_norm)?;
    let y = fwd.value(targets.output, "the loss output")?;
    let mut head = loss::append(&mut e, opts.loss, y)?;
    let mut seeds = vec![(targets.output, head.grad)];
    let mut cotangents = Vec::new();
    for (&v, name) in targets.cotangents.iter().zip(&opts.cotangents) {
        let value = fwd.value(v, &format!("cotangent value '{name}'"))?;
        e.push_scope(&format!("{name}_vjp"));
        let value = if e.graph().value(value).ty.dtype == crate::ir::DType::F32 {
            value
        } else {
            e.cast_f32("f32", value)?
        };
        let (term, w) = loss::cotangent_term(&mut e, value, &format!("{name}_cotangent"))?;
        head.loss = e.op(crate::ir::OpType::Add, "loss_plus", &[head.loss, term], vec![])?;
        e.pop_scope();
        let w_in = if e.graph().value(value).ty.dtype == src.value(v).ty.dtype {
            w
        } else {
            let to = ("to", crate::ir::Attr::Int(src.value(v).ty.dtype.onnx_code() as i64));
            e.op(crate::ir::OpType::Cast, "cotangent_cast", &[w], vec![to])?
        };
        seeds.push((v, w_in));
        cotangents.push((name.clone(), e.graph().value(w).name.clone()));
    }
    let mut grads = backward::reverse_walk(&mut e, src, &fwd, &live, &need, &targets, &seeds)?;
    let mut tg = outputs::expose(e, src, &fwd, &mut grads, &targets, opts, head)?;
    tg.cotangents = cotangents;
    Ok(tg)
}
