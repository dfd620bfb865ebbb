//! What is scored ([`Target`]) and the one scoring path ([`score`]).

use std::collections::BTreeMap;
use std::time::Instant;

use super::passes::{Computed, PassCost};
use super::proxy::{self, Evidence, Proxy};
use super::{Protocol, ScoreRecord, layers_by_rule, provenance, training_options};
use crate::analysis::gradients::PassInputs;
use crate::analysis::score::{InitMode, ScoreReport, score_model};
use crate::error::{Error, Result};
use crate::ir::{Graph, Tensor};
use crate::onnx::{ImportOptions, load_model};
use crate::runtime::Runtime;
use crate::space::{Arch, Cost, LowerOptions, SearchSpace};

/// What to score.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// An ONNX model file, read with these options (a dynamic first axis takes the protocol's
    /// batch size).
    Model {
        /// The `.onnx` file.
        path: &'a std::path::Path,
        /// Values of dynamic dimensions and input shapes.
        import: &'a ImportOptions,
    },
    /// An architecture of a search space, lowered under the protocol.
    Arch {
        /// The space.
        space: &'a SearchSpace,
        /// The architecture.
        arch: &'a Arch,
    },
}

/// Data of the pass given by the caller instead of the protocol's seeded defaults.
#[derive(Debug, Clone, Default)]
pub struct PassOverrides {
    /// The batch for the model's first input (else seeded N(0,1)).
    pub input: Option<Tensor>,
    /// Labels for cross-entropy (else seeded).
    pub labels: Option<Tensor>,
    /// The layers of γ, by tensor name (else the protocol's layer rule).
    pub layers: Option<Vec<String>>,
}

impl PassOverrides {
    /// Whether nothing is overridden (the protocol alone determines the score).
    pub fn is_empty(&self) -> bool {
        self.input.is_none() && self.labels.is_none() && self.layers.is_none()
    }

    fn pass_inputs(&self, graph: &Graph, seed: u64) -> PassInputs {
        let mut inputs = PassInputs { seed, ..Default::default() };
        if let (Some(x), Some(&first)) = (&self.input, graph.inputs().first()) {
            inputs.inputs.insert(graph.value(first).name.clone(), x.clone());
        }
        inputs.target = self.labels.clone();
        inputs
    }
}

/// A scored target (the JSON of `intrain score`).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ScoreOutput {
    /// The file scored (the model, or the space's file).
    pub model: String,
    /// The architecture string when a space was scored (or recorded in an exported model).
    pub arch: Option<String>,
    /// The protocol (resolution resolved for space architectures).
    pub protocol: Protocol,
    /// Costs of one sample (space architectures only).
    pub costs: Option<Cost>,
    /// Seconds spent (lowering or import, differentiation, session, pass, reductions).
    pub seconds: f64,
    /// The value of every registered proxy this target has what it needs for, by name.
    pub proxies: BTreeMap<String, f64>,
    /// Proxies asked for that cannot be computed on this target, with the reason.
    pub unavailable: BTreeMap<String, String>,
    /// The passes run for the proxies asked for beyond InTrain, with their costs.
    pub passes: Vec<PassCost>,
    /// Score, per layer, per tensor.
    #[serde(flatten)]
    pub report: ScoreReport,
}

impl ScoreOutput {
    fn new(
        model: String,
        arch: Option<String>,
        protocol: Protocol,
        costs: Option<Cost>,
        start: Instant,
        report: ScoreReport,
    ) -> ScoreOutput {
        let evidence =
            Evidence { score: report.score, loss: report.loss, costs, computed: BTreeMap::new() };
        ScoreOutput {
            model,
            arch,
            protocol,
            costs,
            seconds: start.elapsed().as_secs_f64(),
            proxies: proxy::values(&evidence),
            unavailable: BTreeMap::new(),
            passes: Vec::new(),
            report,
        }
    }

    /// Adds the values of proxies computed by their own passes.
    pub fn add(&mut self, computed: Computed) {
        self.seconds += computed.passes.iter().map(|p| p.seconds).sum::<f64>();
        self.proxies.extend(computed.values);
        self.unavailable.extend(computed.unavailable);
        self.passes.extend(computed.passes);
    }

    /// The record of a scored space architecture under protocol key `key` (`None` for a model,
    /// which has no costs in its space's convention).
    pub fn record(&self, key: String) -> Option<ScoreRecord> {
        let (arch, c) = (self.arch.clone()?, self.costs?);
        let s = &self.report.score;
        Some(ScoreRecord {
            key,
            arch,
            intrain: s.intrain,
            gamma: s.gamma,
            o: s.o,
            layers: s.layers,
            tensors: s.tensors,
            dead_layers: s.dead_layers,
            non_finite: s.non_finite,
            loss: self.report.loss,
            params: c.params,
            flops: c.flops,
            macs: c.macs,
            seconds: self.seconds,
            pass_seconds: self.report.pass_seconds,
            // Proxies of their own passes; NaN for those the target cannot have, so that a
            // record is not computed again for them.
            proxies: self
                .proxies
                .iter()
                .filter(|(name, _)| Proxy::named(name).is_some_and(|p| p.pass().is_some()))
                .map(|(k, v)| (k.clone(), *v))
                .chain(self.unavailable.keys().map(|k| (k.clone(), f64::NAN)))
                .collect(),
        })
    }
}

/// Scores a target under a protocol with InTrain ([`score`]) and, beyond it, the `proxies` that
/// have passes of their own (the fewest passes that serve them all; see
/// [`super::passes::plan`]). Proxies that cannot be computed on the target are listed with the
/// reason in [`ScoreOutput::unavailable`].
pub fn score_with(
    rt: &Runtime,
    target: Target<'_>,
    p: &Protocol,
    overrides: &PassOverrides,
    proxies: &[Proxy],
) -> Result<ScoreOutput> {
    let mut out = score(rt, target, p, overrides)?;
    if proxies.iter().flat_map(|x| x.scored()).any(|x| x.pass().is_some()) {
        let images = super::passes::images_of(p)?;
        out.add(super::passes::evaluate(rt, target, p, proxies, images.as_ref())?);
    }
    Ok(out)
}

/// Scores a target under a protocol: import or lowering, differentiation, one forward and
/// backward pass on ONNX Runtime, reductions. Every score the crate reports comes from here.
pub fn score(
    rt: &Runtime,
    target: Target<'_>,
    p: &Protocol,
    overrides: &PassOverrides,
) -> Result<ScoreOutput> {
    let start = Instant::now();
    let mut p = p.clone();
    match target {
        Target::Arch { space, arch } => {
            let formatted = arch.format(space);
            let scored = (|| {
                p.resolution = Some(p.resolution_for(space.spec.input.resolution));
                let lowered = space.lower_with_layers(
                    arch,
                    &LowerOptions {
                        batch: p.batch,
                        resolution: p.resolution,
                        batch_norm: p.bn,
                        seed: (p.init == InitMode::AsIs).then_some(p.seed),
                    },
                )?;
                let layers = match &overrides.layers {
                    Some(l) => l.clone(),
                    None => layers_by_rule(&lowered.graph, p.layers, Some(&lowered.layers)),
                };
                let inputs = overrides.pass_inputs(&lowered.graph, p.seed);
                let report = score_model(
                    rt,
                    &lowered.graph,
                    Some(layers),
                    p.init,
                    &training_options(&p),
                    &inputs,
                )?;
                let costs = space.cost(arch)?;
                Ok((report, costs))
            })();
            let (report, costs) = scored.map_err(|e: Error| e.in_arch(&formatted))?;
            Ok(ScoreOutput::new(
                space.origin.clone(),
                Some(formatted),
                p,
                Some(costs),
                start,
                report,
            ))
        }
        Target::Model { path, import } => {
            if p.resolution.is_some() {
                return Err(Error::Protocol(format!(
                    "{}: an input resolution applies to architectures of a search space; an ONNX model keeps its own input shape (set it through the input shapes)",
                    path.display()
                )));
            }
            let model =
                load_model(path, &ImportOptions { batch: Some(p.batch), ..import.clone() })?;
            let inputs = overrides.pass_inputs(&model.graph, p.seed);
            // A file written by `intrain export` names its grammar layers in its metadata.
            let grammar = provenance::layers_from_metadata(&model.metadata);
            let layers = match &overrides.layers {
                Some(l) => l.clone(),
                None => layers_by_rule(&model.graph, p.layers, grammar.as_deref()),
            };
            let report = score_model(
                rt,
                &model.graph,
                Some(layers),
                p.init,
                &training_options(&p),
                &inputs,
            )?;
            let arch = model.metadata.get(provenance::ARCH).cloned();
            Ok(ScoreOutput::new(path.display().to_string(), arch, p, None, start, report))
        }
    }
}
