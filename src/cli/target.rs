//! What `score` and `check` score: an ONNX model, or an architecture of a YAML search space,
//! under the scoring protocol's flags.

use std::path::{Path, PathBuf};

use clap::Args;

use super::args::{ModelArgs, PassArgs, RuntimeArgs};
use intrain::analysis::policy::Policy;
use intrain::error::{Error, Result};
use intrain::runtime::Runtime;
use intrain::scoring::{
    BnMode, Conventions, InitMode, LayerRule, ParamSet, PassOverrides, Protocol, Proxy,
    ScoreOutput, Target, Verdict, check, score_with,
};
use intrain::space::{Arch, SearchSpace};

/// The scoring protocol's flags (shared by `score`, `check`, `eval`, `search` and
/// `search-table`).
#[derive(Debug, Clone, Args)]
pub struct ProtocolArgs {
    /// Input resolution of a space's architecture [default: 64 (the paper), or the space's own
    /// when larger]. ONNX models keep their input shape (see --input-shape).
    #[arg(long)]
    pub resolution: Option<usize>,
    /// Initialisation before scoring [default: kaiming (the paper's protocol); for `check`:
    /// as-is, the model as it is shipped].
    #[arg(long, value_enum)]
    init: Option<InitMode>,
    /// BatchNormalization statistics.
    #[arg(long, value_enum, default_value_t = BnMode::Train)]
    bn: BnMode,
    /// Which tensors count as layers in gamma.
    #[arg(long, value_enum, default_value_t = LayerRule::Grammar)]
    layer_rule: LayerRule,
    /// Which parameter tensors count in o.
    #[arg(long, value_enum, default_value_t = ParamSet::All)]
    param_rule: ParamSet,
    /// Conventions of the baseline proxies' passes: each proxy's authors' (real images, their
    /// initialisation, batch and resolution), or the protocol's for all.
    #[arg(long, value_enum, default_value_t = Conventions::Reference)]
    conventions: Conventions,
    /// Labelled images (.npz with uint8 `x` (N, H, W, C) and integer `y`) for the proxies whose
    /// reference conventions feed real data (SNIP, GradNorm, Fisher, Jacov, NASWOT, ...).
    #[arg(long, value_name = "FILE.npz")]
    images: Option<PathBuf>,
}

impl ProtocolArgs {
    /// The protocol for a batch size and seed (Kaiming initialisation unless `--init` says
    /// otherwise).
    pub fn protocol(&self, batch: usize, seed: u64) -> Protocol {
        self.protocol_with(batch, seed, InitMode::Kaiming)
    }

    /// The protocol for a batch size and seed, with `init` when `--init` is not given.
    pub fn protocol_with(&self, batch: usize, seed: u64, init: InitMode) -> Protocol {
        Protocol {
            batch,
            resolution: self.resolution,
            seed,
            init: self.init.unwrap_or(init),
            bn: self.bn,
            layers: self.layer_rule,
            params: self.param_rule.clone(),
            conventions: self.conventions,
            images: self.images.clone(),
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
    pub protocol: ProtocolArgs,
    #[command(flatten)]
    pub pass: PassArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Whether a path names a search space (by extension).
pub fn is_space(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

impl TargetArgs {
    /// The batch size: --batch, else the first axis of --input, else 64.
    pub fn batch(&self) -> Result<usize> {
        if let Some(b) = self.batch {
            return Ok(b);
        }
        Ok(self.pass.input_batch()?.unwrap_or(64))
    }

    /// The protocol from the flags.
    pub fn protocol(&self) -> Result<Protocol> {
        Ok(self.protocol.protocol(self.batch()?, self.pass.seed))
    }

    /// The protocol from the flags, with `init` when `--init` is not given.
    fn protocol_with(&self, init: InitMode) -> Result<Protocol> {
        Ok(self.protocol.protocol_with(self.batch()?, self.pass.seed, init))
    }

    /// Reads the space (errors if the target is not one).
    pub fn space(&self) -> Result<SearchSpace> {
        SearchSpace::read(&self.target)
    }

    /// The input, labels and layers given on the command line.
    fn overrides(&self) -> Result<PassOverrides> {
        Ok(PassOverrides {
            input: self.pass.input.as_deref().map(intrain::npy::read).transpose()?,
            labels: self.pass.labels.as_deref().map(intrain::npy::read).transpose()?,
            layers: self.layers.clone(),
        })
    }

    /// Scores the target (an ONNX model, or `--arch` of a space) with InTrain and `proxies`.
    pub fn score(&self, rt: &Runtime, proxies: &[Proxy]) -> Result<ScoreOutput> {
        self.with_target(InitMode::Kaiming, |target, p, overrides| {
            score_with(rt, target, p, overrides, proxies)
        })
    }

    /// Scores the target and judges it by `policy`; without `--init`, the model as it is shipped
    /// (its own initialisation) is judged.
    pub fn check(&self, rt: &Runtime, policy: &Policy) -> Result<Verdict> {
        self.with_target(InitMode::AsIs, |target, p, overrides| {
            check(rt, target, p, overrides, policy)
        })
    }

    /// Resolves the flags into a target, a protocol and the pass overrides, and calls `f`.
    fn with_target<T>(
        &self,
        init: InitMode,
        f: impl FnOnce(Target<'_>, &Protocol, &PassOverrides) -> Result<T>,
    ) -> Result<T> {
        let p = self.protocol_with(init)?;
        let overrides = self.overrides()?;
        if is_space(&self.target) {
            let space = self.space()?;
            let arch = self.arch.as_deref().ok_or_else(|| {
                Error::Usage(format!(
                    "{}: a search space needs --arch STR (or --archs FILE / --sample N for many)",
                    self.target.display()
                ))
            })?;
            let arch = Arch::parse(&space, arch)?;
            return f(Target::Arch { space: &space, arch: &arch }, &p, &overrides);
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
        let import = ModelArgs {
            model: self.target.clone(),
            batch: None,
            dims: self.dims.clone(),
            input_shapes: self.input_shapes.clone(),
        }
        .import_options()?;
        f(Target::Model { path: &self.target, import: &import }, &p, &overrides)
    }
}
