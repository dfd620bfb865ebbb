//! What `score` and `check` score: an ONNX model, or an architecture of a YAML search space,
//! under the scoring protocol's flags.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::args::{ModelArgs, PassArgs, RuntimeArgs};
use crate::analysis::score::{InitMode, ScoreReport, score_model};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::scoring::{
    BnProtocol, Costs, LayerRule, ParamRule, Protocol, layers_by_rule, score_arch, training_options,
};
use crate::space::{Arch, SearchSpace};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum InitArg {
    /// Kaiming-normal weights, BN γ=1 β=0, biases 0 (the paper's protocol).
    Kaiming,
    /// The weights stored in the model (for a space: Kaiming-normal from --seed at export).
    AsIs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BnArg {
    /// Batch statistics (training mode; the paper's protocol).
    Train,
    /// As the model says (inference mode for a space's architecture).
    Eval,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LayerRuleArg {
    /// Space architectures: stem, cell/block and reduction outputs (the paper); ONNX models:
    /// the activations rule.
    Grammar,
    /// Activation outputs and residual/concat block outputs.
    Activations,
    /// Every ReLU output.
    Relu,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ParamRuleArg {
    /// Every tensor with a gradient and at least 2 elements (the paper).
    All,
    /// Conv/Gemm/MatMul weights only.
    Weights,
}

/// The scoring protocol's flags (shared by `score`, `check`, `eval` and `search`).
#[derive(Debug, Clone, Args)]
pub struct ProtocolArgs {
    /// Input resolution of a space's architecture [default: 64 (the paper), or the space's own
    /// when larger]. ONNX models keep their input shape (see --input-shape).
    #[arg(long)]
    pub resolution: Option<usize>,
    /// Initialisation before scoring.
    #[arg(long, value_enum, default_value_t = InitArg::Kaiming)]
    init: InitArg,
    /// BatchNormalization statistics.
    #[arg(long, value_enum, default_value_t = BnArg::Train)]
    bn: BnArg,
    /// Which tensors count as layers in gamma.
    #[arg(long, value_enum, default_value_t = LayerRuleArg::Grammar)]
    layer_rule: LayerRuleArg,
    /// Which parameter tensors count in o.
    #[arg(long, value_enum, default_value_t = ParamRuleArg::All)]
    param_rule: ParamRuleArg,
}

impl ProtocolArgs {
    /// The protocol for a batch size and seed.
    pub fn protocol(&self, batch: usize, seed: u64) -> Protocol {
        Protocol {
            batch,
            resolution: self.resolution,
            seed,
            init: match self.init {
                InitArg::Kaiming => InitMode::Kaiming,
                InitArg::AsIs => InitMode::AsIs,
            },
            bn: match self.bn {
                BnArg::Train => BnProtocol::Train,
                BnArg::Eval => BnProtocol::Eval,
            },
            layers: match self.layer_rule {
                LayerRuleArg::Grammar => LayerRule::Grammar,
                LayerRuleArg::Activations => LayerRule::Activations,
                LayerRuleArg::Relu => LayerRule::Relu,
            },
            params: match self.param_rule {
                ParamRuleArg::All => ParamRule::All,
                ParamRuleArg::Weights => ParamRule::Weights,
            },
        }
    }
}

/// The model or architecture to score and the protocol.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// An ONNX model (MODEL.onnx) or a search space (SPACE.yaml, with --arch).
    #[arg(value_name = "MODEL.onnx|SPACE.yaml")]
    pub target: PathBuf,
    /// Architecture of the space, in its string form (see `intrain sample`).
    #[arg(long)]
    pub arch: Option<String>,
    /// Batch size B, also the value of an ONNX model's dynamic first axis [default: the first
    /// axis of --input, else 64 (the paper)].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Value of a named symbolic dimension of an ONNX model, e.g. --dim seq=128 (repeatable).
    #[arg(long = "dim", value_name = "NAME=N")]
    pub dims: Vec<String>,
    /// Full shape of an ONNX model's input, e.g. --input-shape input=64,3,224,224 (repeatable).
    #[arg(long = "input-shape", value_name = "NAME=D0,D1,..")]
    pub input_shapes: Vec<String>,
    /// Explicit layers (comma-separated tensor names; overrides --layer-rule).
    #[arg(long, value_delimiter = ',')]
    pub layers: Option<Vec<String>>,
    #[command(flatten)]
    pub(crate) protocol: ProtocolArgs,
    #[command(flatten)]
    pub(crate) pass: PassArgs,
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
}

/// Whether a path names a search space (by extension).
pub fn is_space(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// A scored target, ready to print.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ScoreOutput {
    /// The file scored.
    pub model: String,
    /// The architecture string when a space was scored.
    pub arch: Option<String>,
    /// The protocol (resolution resolved).
    pub protocol: Protocol,
    /// Costs of one sample (space architectures only).
    pub costs: Option<Costs>,
    /// Seconds spent (lowering or import, differentiation, session, pass, reductions).
    pub seconds: f64,
    /// Score, per layer, per tensor.
    #[serde(flatten)]
    pub report: ScoreReport,
}

impl TargetArgs {
    /// The batch size: --batch, else the first axis of --input, else 64.
    pub fn batch(&self) -> Result<usize> {
        if let Some(b) = self.batch {
            return Ok(b);
        }
        match &self.pass.input {
            Some(p) => Ok(crate::npy::read(p)?.shape.first().copied().unwrap_or(1)),
            None => Ok(64),
        }
    }

    /// The protocol from the flags.
    pub fn protocol(&self) -> Result<Protocol> {
        Ok(self.protocol.protocol(self.batch()?, self.pass.seed))
    }

    /// Reads the space (errors if the target is not one).
    pub fn space(&self) -> Result<SearchSpace> {
        SearchSpace::read(&self.target)
    }

    /// Scores the target: an ONNX model, or `--arch` of a space.
    pub fn score(&self, rt: &Runtime) -> Result<ScoreOutput> {
        let start = std::time::Instant::now();
        let mut p = self.protocol()?;
        if is_space(&self.target) {
            let space = self.space()?;
            let arch = self.arch.as_deref().ok_or_else(|| {
                Error::Usage(format!(
                    "{}: a search space needs --arch STR (or --archs FILE / --sample N for many)",
                    self.target.display()
                ))
            })?;
            let arch = Arch::parse(&space, arch)?;
            p.resolution = Some(p.resolution_for(space.spec.input.resolution));
            if self.pass.input.is_some() || self.pass.labels.is_some() || self.layers.is_some() {
                return self.score_space_custom(rt, &space, &arch, p, start);
            }
            let s = score_arch(rt, &space, &arch, &p)?;
            return Ok(ScoreOutput {
                model: self.target.display().to_string(),
                arch: Some(s.record.arch.clone()),
                costs: Some(Costs {
                    params: s.record.params,
                    macs: s.record.macs,
                    flops: s.record.flops,
                }),
                protocol: p,
                seconds: start.elapsed().as_secs_f64(),
                report: s.report,
            });
        }
        if self.arch.is_some() {
            return Err(Error::Usage(format!(
                "{}: --arch needs a search space (.yaml), not a model",
                self.target.display()
            )));
        }
        if self.protocol.resolution.is_some() {
            return Err(Error::Usage(format!(
                "{}: --resolution applies to space architectures; give an ONNX model's shape with --input-shape NAME=N,C,H,W",
                self.target.display()
            )));
        }
        let model = ModelArgs {
            model: self.target.clone(),
            batch: Some(p.batch),
            dims: self.dims.clone(),
            input_shapes: self.input_shapes.clone(),
        }
        .load()?;
        let inputs = self.pass.pass_inputs(&model.graph)?;
        // A file written by `intrain export` names its grammar layers in its metadata.
        let grammar = crate::scoring::provenance::layers_from_metadata(&model.metadata);
        let layers = match &self.layers {
            Some(l) => l.clone(),
            None => layers_by_rule(&model.graph, p.layers, grammar.as_deref()),
        };
        let report =
            score_model(rt, &model.graph, Some(layers), p.init, &training_options(&p), &inputs)?;
        Ok(ScoreOutput {
            model: self.target.display().to_string(),
            arch: model.metadata.get(crate::scoring::provenance::ARCH).cloned(),
            protocol: p,
            costs: None,
            seconds: start.elapsed().as_secs_f64(),
            report,
        })
    }

    /// A space architecture with user inputs, labels or layers.
    fn score_space_custom(
        &self,
        rt: &Runtime,
        space: &SearchSpace,
        arch: &Arch,
        p: Protocol,
        start: std::time::Instant,
    ) -> Result<ScoreOutput> {
        let lowered = space.lower_with_layers(
            arch,
            &crate::space::LowerOptions {
                batch: p.batch,
                resolution: p.resolution,
                bn_training: p.bn == BnProtocol::Train,
                seed: (p.init == InitMode::AsIs).then_some(p.seed),
            },
        )?;
        let inputs = self.pass.pass_inputs(&lowered.graph)?;
        let layers = match &self.layers {
            Some(l) => l.clone(),
            None => layers_by_rule(&lowered.graph, p.layers, Some(&lowered.layers)),
        };
        let report =
            score_model(rt, &lowered.graph, Some(layers), p.init, &training_options(&p), &inputs)?;
        Ok(ScoreOutput {
            model: self.target.display().to_string(),
            arch: Some(arch.format(space)),
            costs: Some(crate::scoring::costs(space, arch)?),
            protocol: p,
            seconds: start.elapsed().as_secs_f64(),
            report,
        })
    }
}
