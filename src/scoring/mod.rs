//! Scoring architectures of a search space under a [`Protocol`], with append-only record files
//! that make batch scoring, evaluation and search resumable.

pub mod protocol;
pub mod provenance;
pub mod records;

use std::time::Instant;

pub use protocol::{BnProtocol, LayerRule, ParamRule, Protocol};
pub use records::{PROXIES, RecordFile, ScoreRecord, check_proxies};

use crate::analysis::gradients::PassInputs;
use crate::analysis::score::{InitMode, ScoreReport, default_layers, relu_layers, score_model};
use crate::autodiff::{BnMode, ParamSet, TrainingOptions};
use crate::error::Result;
use crate::ir::Graph;
use crate::runtime::Runtime;
use crate::space::{Arch, LowerOptions, SearchSpace};

/// Parameters, MACs and FLOPs of one sample at the space's own resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Costs {
    /// Parameters.
    pub params: u64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// FLOPs in the space's convention (its `flops:` key: the NAS-Bench-201 counter by
    /// default, multiply-adds for ImageNet spaces).
    pub flops: u64,
}

/// The costs of `arch` (lowered at batch 1, the space's resolution, no weights).
pub fn costs(space: &SearchSpace, arch: &Arch) -> Result<Costs> {
    let c = space.cost(arch)?;
    Ok(Costs { params: c.params, macs: c.macs, flops: c.flops })
}

/// A stable identifier of a space: its name and a hash of its definition.
pub fn space_id(space: &SearchSpace) -> String {
    let def = serde_json::to_string(&space.spec).unwrap_or_default();
    format!("{}@{}", space.spec.name, protocol::short_hash(&def))
}

/// The training options of a protocol.
pub fn training_options(p: &Protocol) -> TrainingOptions {
    TrainingOptions {
        batch_norm: match p.bn {
            BnProtocol::Train => BnMode::Train,
            BnProtocol::Eval => BnMode::AsIs,
        },
        params: match p.params {
            ParamRule::All => ParamSet::All,
            ParamRule::Weights => ParamSet::Weights,
        },
        ..Default::default()
    }
}

/// The layer names of `graph` under a rule (`grammar` falls back to `activations` when the
/// graph does not come from a space).
pub fn layers_by_rule(graph: &Graph, rule: LayerRule, grammar: Option<&[String]>) -> Vec<String> {
    match (rule, grammar) {
        (LayerRule::Grammar, Some(names)) => names.to_vec(),
        (LayerRule::Grammar | LayerRule::Activations, _) => default_layers(graph),
        (LayerRule::Relu, _) => relu_layers(graph),
    }
}

/// One scored architecture: the full report and its record.
#[derive(Debug, Clone)]
pub struct ArchScore {
    /// The full report (per layer, per tensor).
    pub report: ScoreReport,
    /// The record (components, costs, time).
    pub record: ScoreRecord,
}

/// Scores `arch` of `space` under `p`: lowering, differentiation, one pass, reductions.
pub fn score_arch(
    rt: &Runtime,
    space: &SearchSpace,
    arch: &Arch,
    p: &Protocol,
) -> Result<ArchScore> {
    let start = Instant::now();
    let native = space.spec.input.resolution;
    let lowered = space.lower_with_layers(
        arch,
        &LowerOptions {
            batch: p.batch,
            resolution: Some(p.resolution_for(native)),
            bn_training: p.bn == BnProtocol::Train,
            seed: (p.init == InitMode::AsIs).then_some(p.seed),
        },
    )?;
    let layers = layers_by_rule(&lowered.graph, p.layers, Some(&lowered.layers));
    let inputs = PassInputs { seed: p.seed, ..Default::default() };
    let report =
        score_model(rt, &lowered.graph, Some(layers), p.init, &training_options(p), &inputs)?;
    let c = costs(space, arch)?;
    let s = &report.score;
    let record = ScoreRecord {
        key: p.key(&space_id(space), native),
        arch: arch.format(space),
        intrain: s.intrain,
        gamma: s.gamma,
        o: s.o,
        layers: s.layers,
        tensors: s.tensors,
        dead_layers: s.dead_layers,
        non_finite: s.non_finite,
        loss: report.loss,
        params: c.params,
        flops: c.flops,
        macs: c.macs,
        seconds: start.elapsed().as_secs_f64(),
        pass_seconds: report.pass_seconds,
    };
    Ok(ArchScore { report, record })
}
