//! Scoring: the one path from a target (an ONNX model, or an architecture of a search space)
//! and a [`Protocol`] to a score report ([`score`]), the cached scorer that batch scoring,
//! evaluation and search share ([`Scorer`]), the proxy registry ([`Proxy`]), the append-only
//! record files that make long runs resumable ([`RecordFile`]), and the splitting of scoring
//! work over machines ([`shard`]) whose record files [`merge`] brings together.

pub mod check;
pub mod merge;
pub mod passes;
pub mod protocol;
pub mod provenance;
pub mod proxy;
pub mod records;
mod scorer;
pub mod shard;
mod target;

pub use check::{Verdict, check};
pub use passes::{Computed, Conventions};
pub use protocol::{BnMode, InitMode, LayerRule, ParamSet, Protocol};
pub use proxy::{Evidence, Needs, Proxy, ProxyDef, ProxyList, UnknownProxy};
pub use records::{RecordFile, ScoreRecord};
pub use scorer::Scorer;
pub use target::{PassOverrides, ScoreOutput, Target, score, score_with};

use crate::analysis::score::{default_layers, relu_layers};
use crate::autodiff::TrainingOptions;
use crate::ir::Graph;
use crate::space::SearchSpace;

/// A stable identifier of a space: its name and a hash of its definition.
pub fn space_id(space: &SearchSpace) -> String {
    let def = serde_json::to_string(&space.spec).unwrap_or_default();
    format!("{}@{}", space.spec.name, protocol::short_hash(&def))
}

/// The training options of a protocol.
pub fn training_options(p: &Protocol) -> TrainingOptions {
    TrainingOptions { batch_norm: p.bn, params: p.params.clone(), ..Default::default() }
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

/// The serde (kebab-case) name of a unit enum value, for keys and reports.
pub(crate) fn kebab<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}
