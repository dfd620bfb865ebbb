//! The passes behind the baseline proxies, and the plan that runs the fewest of them.
//!
//! Each proxy of the registry that is not InTrain or a cost names the kind of pass it reduces
//! ([`PassKind`]) and the conventions its authors compute it under ([`Reference`]). Under the
//! reference conventions (the default) a pass takes its authors' data, initialisation, batch
//! and resolution; under the protocol's, every pass takes the scoring protocol's (Gaussian
//! input, random labels, its initialisation, batch and resolution) and only what defines a
//! proxy stays (SynFlow's all-ones input without BatchNorm). Proxies whose passes have the same
//! [`PassSettings`] share one run ([`plan`]), which outputs the union of what they ask for.

mod az;
mod gradient;
mod grasp;
mod jacobian;
mod meco;
mod ntk;
mod synflow;
mod vkdnw;
mod zen;

use std::collections::BTreeMap;
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{BnMode, InitMode, Protocol, Proxy, Target, kebab};
use crate::error::{Error, Result};
use crate::images::Images;
use crate::ir::Graph;
use crate::onnx::{ImportOptions, load_model};
use crate::runtime::Runtime;
use crate::space::LowerOptions;

pub use az::{AzBlocks, az_blocks, block_outputs};
pub use gradient::{ChannelProduct, SignKernel, WeightGrad, weight_grads_on};
pub use meco::meco;
pub use ntk::ntk_condition;
pub use vkdnw::{Vkdnw, vkdnw};
pub use zen::zen_score;

/// Whose conventions the baseline proxies' passes follow.
///
/// Under [`Conventions::Protocol`] the passes take the protocol's data: its images when it
/// names a file, else Gaussian samples with random labels.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Conventions {
    /// Each proxy's authors' (data, initialisation, batch, resolution): comparable with the
    /// published numbers.
    #[default]
    Reference,
    /// The scoring protocol's for every proxy (Gaussian input, random labels, the protocol's
    /// initialisation, batch and resolution): one comparable setting for all.
    Protocol,
}

/// The kind of pass a proxy reduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PassKind {
    /// Forward and cross-entropy backward: Conv/Gemm/MatMul weight gradients, per-sample channel
    /// products of their outputs with their gradients, ReLU sign kernels.
    Gradient,
    /// Forward and backward of the sum of the outputs with respect to the input: the input
    /// Jacobian of each sample.
    InputJacobian,
    /// SynFlow's pass: BatchNorm removed, |θ|, an all-ones input, the sum of the outputs
    /// differentiated; rescaled at the graph's cut points so that f32 does not overflow.
    #[serde(rename = "synflow")]
    SynFlow,
    /// Three gradient passes (θ, θ ± εg): the Hessian-vector product along the gradient
    /// (GraSP).
    Grasp,
    /// Two forwards (x and x + 0.01·ε) of the features before global pooling, with the
    /// BatchNorm batch variances (Zen-NAS).
    Zen,
    /// Two gradient passes on two disjoint batches: the Conv/Gemm/MatMul weight gradients of
    /// each (ZiCo).
    TwoBatches,
    /// One forward and one backward of vector-Jacobian products: the channel covariance of each
    /// block's output, and each block's backward map of a random sign vector (AZ-NAS).
    AzNas,
    /// One backward per class of the logits' Jacobian rows, projected per sample on the first
    /// element of each parameter tensor, BatchNorm on running statistics (VKDNW).
    Vkdnw,
    /// One forward: the channel correlations of every feature map (MeCo).
    #[serde(rename = "meco")]
    MeCo,
    /// One backward per sample of its summed logits, batch statistics over the whole batch:
    /// the empirical neural tangent kernel (TE-NAS).
    Ntk,
}

/// What a gradient pass must output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Request {
    /// Values and gradients of the Conv/Gemm/MatMul weights.
    Weights,
    /// Channel products of the Conv/Gemm/MatMul outputs with their gradients.
    ChannelProducts,
    /// The sign-agreement kernel of the ReLU inputs.
    SignKernels,
}

/// The authors' conventions of a proxy's pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reference {
    /// zero-cost-nas and NASLib: a batch of 64 real images with their labels at the space's
    /// resolution, PyTorch's default initialisation, BatchNorm with batch statistics.
    #[serde(rename = "naslib")]
    NasLib,
    /// Zen-NAS: 64 Gaussian inputs at the space's resolution, N(0, 1) weights, batch statistics.
    ZenNas,
    /// AZ-NAS and VKDNW: 64 Gaussian inputs at the space's resolution, Kaiming-normal (fan-in)
    /// weights; batch statistics (VKDNW: running statistics).
    AzNas,
    /// MeCo: one real image at the space's resolution, PyTorch's default initialisation, batch
    /// statistics.
    #[serde(rename = "meco")]
    MeCo,
    /// TE-NAS's linear regions as AZ-NAS runs them: 64 Gaussian inputs at the space's
    /// resolution, PyTorch's default initialisation, batch statistics.
    TeNas,
}

/// The data a pass is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Data {
    /// Seeded N(0, 1) samples, seeded random labels.
    Gaussian,
    /// Real images and their labels (the file given with the protocol).
    Images,
    /// All ones (SynFlow).
    Ones,
}

/// Every setting of one pass: proxies with equal settings share the pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassSettings {
    /// The kind of pass.
    pub kind: PassKind,
    /// Its data.
    pub data: Data,
    /// Initialisation.
    pub init: InitMode,
    /// Batch size.
    pub batch: usize,
    /// Resolution of a space's architecture (`None`: the space's own).
    pub resolution: Option<usize>,
    /// BatchNormalization statistics.
    pub bn: BnMode,
    /// Seed of initialisation and data.
    pub seed: u64,
}

impl PassSettings {
    /// The settings of a pass of `kind` under the protocol `p`, for a proxy with reference
    /// conventions `reference`.
    pub fn new(kind: PassKind, reference: Reference, p: &Protocol) -> PassSettings {
        let (mut data, init, batch, resolution) = match (p.conventions, reference) {
            (Conventions::Protocol, _) => {
                let data = if p.images.is_some() { Data::Images } else { Data::Gaussian };
                (data, p.init, p.batch, p.resolution)
            }
            (Conventions::Reference, Reference::NasLib) => {
                (Data::Images, InitMode::Torch, 64, None)
            }
            (Conventions::Reference, Reference::ZenNas) => {
                (Data::Gaussian, InitMode::Normal, 64, None)
            }
            (Conventions::Reference, Reference::AzNas) => {
                (Data::Gaussian, InitMode::Kaiming, 64, None)
            }
            (Conventions::Reference, Reference::MeCo) => (Data::Images, InitMode::Torch, 1, None),
            (Conventions::Reference, Reference::TeNas) => {
                (Data::Gaussian, InitMode::Torch, 64, None)
            }
        };
        let mut batch = batch;
        if kind == PassKind::SynFlow {
            data = Data::Ones;
            batch = 1;
        }
        let bn = match (kind, p.conventions) {
            // Per-sample Jacobians need samples that do not share batch statistics.
            (PassKind::Vkdnw, _) => BnMode::AsIs,
            (_, Conventions::Protocol) => p.bn,
            (_, Conventions::Reference) => BnMode::Train,
        };
        PassSettings { kind, data, init, batch, resolution, bn, seed: p.seed }
    }
}

/// What one pass produced, for the proxies that share it to reduce.
#[derive(Debug, Clone, Default)]
pub struct PassOutput {
    /// The loss of the pass (cross-entropy, or the sum of the outputs).
    pub loss: f64,
    /// The labels of the batch (gradient and Jacobian passes).
    pub labels: Vec<i64>,
    /// Classes of the output.
    pub classes: usize,
    /// Conv/Gemm/MatMul weights with their gradients, in order of first use.
    pub weights: Vec<WeightGrad>,
    /// The same weights with their gradients on each further batch of a multi-batch pass.
    pub further_batches: Vec<Vec<WeightGrad>>,
    /// Channel products of the Conv/Gemm/MatMul outputs.
    pub channel_products: Vec<ChannelProduct>,
    /// The sign-agreement kernel summed over the ReLUs.
    pub sign_kernel: Option<SignKernel>,
    /// The input Jacobian of the sum of the outputs, `(N, D)` row-major.
    pub input_jacobian: Option<(usize, Vec<f64>)>,
    /// ln of the SynFlow sum.
    pub log_synflow: Option<f64>,
    /// The Zen-score.
    pub zen: Option<f64>,
    /// GraSP's `Σ −θ ⊙ (H·g)`.
    pub grasp: Option<f64>,
    /// AZ-NAS's per-block scores.
    pub az: Option<AzBlocks>,
    /// VKDNW.
    pub vkdnw: Option<Vkdnw>,
    /// MeCo.
    pub meco: Option<f64>,
    /// The condition number of the empirical NTK.
    pub ntk_condition: Option<f64>,
    /// Forward values a pass was asked to return.
    pub activations: Vec<crate::ir::Tensor>,
    /// What the pass could not output on this model, and why (the proxies that read it are
    /// reported as not computable, the others of the pass are not affected).
    pub missing: Vec<(Request, String)>,
    /// Seconds of the pass (graph building, session, run, reductions).
    pub seconds: f64,
}

/// The graph of a target at a batch size and resolution, with the architecture's layer names
/// when it comes from a space.
pub(crate) fn target_graph(
    target: Target<'_>,
    batch: usize,
    resolution: Option<usize>,
    bn: BnMode,
) -> Result<Graph> {
    match target {
        Target::Arch { space, arch } => Ok(space
            .lower_with_layers(
                arch,
                &LowerOptions { batch, resolution, batch_norm: bn, seed: Some(0) },
            )?
            .graph),
        Target::Model { path, import } => {
            if resolution.is_some() {
                return Err(Error::Protocol(format!(
                    "{}: an ONNX model keeps its own input shape",
                    path.display()
                )));
            }
            Ok(load_model(path, &ImportOptions { batch: Some(batch), ..import.clone() })?.graph)
        }
    }
}

/// Runs one pass of `settings` with the union of `requests` on `graph` (the target's graph at
/// the pass's batch, resolution and BatchNorm mode).
pub fn run(
    rt: &Runtime,
    graph: &Graph,
    settings: &PassSettings,
    requests: &[Request],
    images: Option<&Images>,
) -> Result<PassOutput> {
    let start = Instant::now();
    let mut out = match settings.kind {
        PassKind::Gradient => gradient::run(rt, graph, settings, requests, images)?,
        PassKind::InputJacobian => jacobian::run(rt, graph, settings, images)?,
        PassKind::SynFlow => synflow::run(rt, graph, settings)?,
        PassKind::Zen => zen::run(rt, graph, settings, images)?,
        PassKind::Grasp => grasp::run(rt, graph, settings, images)?,
        PassKind::TwoBatches => gradient::run_two_batches(rt, graph, settings, images)?,
        PassKind::AzNas => az::run(rt, graph, settings, images)?,
        PassKind::Vkdnw => vkdnw::run(rt, graph, settings, images)?,
        PassKind::MeCo => meco::run(rt, graph, settings, images)?,
        PassKind::Ntk => ntk::run(rt, graph, settings, images)?,
    };
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}

/// The `index`-th input batch and labels of a pass: real images (with their labels; disjoint
/// batches) or seeded Gaussian samples (with seeded labels), for a graph whose first input has
/// shape `shape`.
pub(crate) fn batch(
    settings: &PassSettings,
    shape: &[usize],
    classes: usize,
    images: Option<&Images>,
    index: usize,
) -> Result<(crate::ir::Tensor, Vec<i64>)> {
    match settings.data {
        Data::Images => {
            let images = images.ok_or_else(|| {
                Error::Settings(
                    "this proxy's reference conventions feed real images: give an .npz of labelled images (--images), or use the protocol's conventions (--conventions protocol)"
                        .into(),
                )
            })?;
            let (x, y) = images.batch_at(shape, settings.seed, index)?;
            let labels = y.to_i64();
            if let Some(bad) = labels.iter().find(|&&l| l < 0 || l as usize >= classes) {
                return Err(Error::Data(format!(
                    "{}: label {bad} is outside the model's {classes} classes",
                    images.path.display()
                )));
            }
            Ok((x, labels))
        }
        Data::Gaussian => {
            // Index 0 draws from the pass's seed itself; further batches from seeds derived
            // from it.
            let seed = settings.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut init = crate::init::Init::new(seed);
            let x = init.normal_tensor(shape, 1.0);
            let n = shape.first().copied().unwrap_or(1);
            Ok((x, init.labels(n, classes.max(1))))
        }
        Data::Ones => {
            Ok((crate::ir::Tensor::full(crate::ir::DType::F32, shape.to_vec(), 1.0), Vec::new()))
        }
    }
}

/// A pass's start: `graph` initialised under `settings`, and its input batch and labels.
pub(crate) fn initialised_batch(
    graph: &Graph,
    settings: &PassSettings,
    images: Option<&Images>,
) -> Result<(Graph, crate::ir::Tensor, Vec<i64>)> {
    let mut g = graph.clone();
    crate::analysis::score::initialise(&mut g, settings.init, settings.seed)?;
    let (_, shape, classes) = io_shape(&g)?;
    let (x, labels) = batch(settings, &shape, classes, images, 0)?;
    Ok((g, x, labels))
}

/// The model's first input (name and shape) and its number of classes (the second axis of the
/// first output).
pub(crate) fn io_shape(g: &Graph) -> Result<(String, Vec<usize>, usize)> {
    let input =
        *g.inputs().first().ok_or_else(|| Error::InvalidModel("the model has no inputs".into()))?;
    let output = *g
        .outputs()
        .first()
        .ok_or_else(|| Error::InvalidModel("the model has no outputs".into()))?;
    let v = g.value(input);
    let classes = g.value(output).ty.shape.get(1).copied().unwrap_or(1);
    Ok((v.name.clone(), v.ty.shape.clone(), classes))
}

/// The images file of a protocol, read once.
pub fn images_of(p: &Protocol) -> Result<Option<Images>> {
    p.images.as_deref().map(Images::open).transpose()
}

/// A path in a protocol (for keys): its file name.
pub(crate) fn file_label(p: &std::path::Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

/// The cost of one pass of a plan.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PassCost {
    /// The kind of pass (`gradient`, `grasp`, `input-jacobian`, `synflow`, `zen`).
    pub kind: String,
    /// Its data (`gaussian`, `images`, `ones`).
    pub data: String,
    /// Its batch size.
    pub batch: usize,
    /// The proxies it served.
    pub proxies: Vec<String>,
    /// Seconds (graph building, session, run, reductions).
    pub seconds: f64,
}

/// The values of the proxies of their own passes.
#[derive(Debug, Clone, Default)]
pub struct Computed {
    /// Values by proxy name.
    pub values: BTreeMap<String, f64>,
    /// Why a proxy could not be computed on the target, by proxy name.
    pub unavailable: BTreeMap<String, String>,
    /// The passes run, with their costs.
    pub passes: Vec<PassCost>,
}

impl Computed {
    /// The values a record keeps: the computed ones, and NaN for each proxy that cannot be
    /// computed on the target (so that it is not tried again).
    pub fn recorded(&self) -> BTreeMap<String, f64> {
        let nan = self.unavailable.keys().map(|k| (k.clone(), f64::NAN));
        self.values.iter().map(|(k, v)| (k.clone(), *v)).chain(nan).collect()
    }
}

/// The passes a set of proxies needs: each distinct [`PassSettings`] once, with the union of
/// what its proxies ask for. Rank aggregates stand for their components; proxies without a pass
/// of their own are left out.
pub fn plan(proxies: &[Proxy], p: &Protocol) -> Vec<(PassSettings, Vec<Request>, Vec<Proxy>)> {
    let mut passes: Vec<(PassSettings, Vec<Request>, Vec<Proxy>)> = Vec::new();
    for proxy in proxies.iter().flat_map(|p| p.scored()) {
        let Some(kind) = proxy.pass() else { continue };
        let settings = PassSettings::new(kind, proxy.reference(), p);
        let at = match passes.iter().position(|(s, _, _)| *s == settings) {
            Some(i) => i,
            None => {
                passes.push((settings, Vec::new(), Vec::new()));
                passes.len() - 1
            }
        };
        let (_, requests, served) = &mut passes[at];
        for r in proxy.requests() {
            if !requests.contains(r) {
                requests.push(*r);
            }
        }
        if !served.contains(&proxy) {
            served.push(proxy);
        }
    }
    passes
}

/// Computes `proxies` (those with a pass of their own) on `target` under `p`: the fewest passes
/// ([`plan`]), each proxy reduced from its pass. A proxy that reads something the target does
/// not have is reported in [`Computed::unavailable`]; other errors stop.
pub fn evaluate(
    rt: &Runtime,
    target: Target<'_>,
    p: &Protocol,
    proxies: &[Proxy],
    images: Option<&Images>,
) -> Result<Computed> {
    let mut computed = Computed::default();
    // The target lowered or imported once per batch, resolution and BatchNorm mode.
    // (batch, resolution, BatchNorm mode), the graph, the seconds it took not yet counted.
    type Lowered = ((usize, Option<usize>, BnMode), Graph, f64);
    let mut graphs: Vec<Lowered> = Vec::new();
    for (settings, requests, served) in plan(proxies, p) {
        let names: Vec<String> = served.iter().map(|s| s.name().to_string()).collect();
        let shape = (settings.batch, settings.resolution, settings.bn);
        let at = match graphs.iter().position(|(s, _, _)| *s == shape) {
            Some(i) => i,
            None => {
                let start = Instant::now();
                let g = target_graph(target, settings.batch, settings.resolution, settings.bn)?;
                graphs.push((shape, g, start.elapsed().as_secs_f64()));
                graphs.len() - 1
            }
        };
        // The lowering counts in the first pass that needs it.
        let lowering = std::mem::take(&mut graphs[at].2);
        match run(rt, &graphs[at].1, &settings, &requests, images).map(|mut out| {
            out.seconds += lowering;
            out
        }) {
            Ok(out) => {
                for proxy in &served {
                    let name = proxy.name().to_string();
                    let why = out.missing.iter().find(|(r, _)| proxy.requests().contains(r));
                    match (proxy.reduce(&out), why) {
                        (Some(v), _) => {
                            computed.values.insert(name, v);
                        }
                        (None, Some((_, reason))) => {
                            computed.unavailable.insert(name, reason.clone());
                        }
                        (None, None) => {
                            computed.values.insert(name, f64::NAN);
                        }
                    }
                }
                computed.passes.push(PassCost {
                    kind: kebab(&settings.kind),
                    data: kebab(&settings.data),
                    batch: settings.batch,
                    proxies: names,
                    seconds: out.seconds,
                });
            }
            Err(Error::NotApplicable(reason)) => {
                for name in names {
                    computed.unavailable.insert(name, reason.clone());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(computed)
}
