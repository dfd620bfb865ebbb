//! The scoring protocol: every setting that changes a score, with the paper's defaults (batch 64,
//! N(0, 1) input at 64x64, random labels with cross-entropy, Kaiming-normal init, BatchNorm in
//! training mode), and a stable key for caches of scores.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kebab;
pub use super::passes::Conventions;
pub use crate::analysis::score::InitMode;
pub use crate::autodiff::{BnMode, ParamSet};

/// Which tensors count as layers in γ.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum LayerRule {
    /// For a search-space architecture: the outputs of the stem, every cell/block and every
    /// reduction block (the paper); for an ONNX model: the `activations` rule.
    #[default]
    Grammar,
    /// Activation outputs and residual/concat block outputs
    /// ([`crate::analysis::score::default_layers`]).
    Activations,
    /// Every ReLU output ("post-activation" read literally).
    Relu,
}

/// Every setting that changes a score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Protocol {
    /// Batch size B.
    pub batch: usize,
    /// Input resolution; `None`: the paper's 64, or the space's own resolution when larger.
    pub resolution: Option<usize>,
    /// Seed of initialisation, input and labels.
    pub seed: u64,
    /// Initialisation.
    pub init: InitMode,
    /// BatchNormalization mode.
    pub bn: BnMode,
    /// Layers of γ.
    pub layers: LayerRule,
    /// Tensors of o.
    pub params: ParamSet,
    /// Whose conventions the baseline proxies' passes follow.
    #[serde(default)]
    pub conventions: Conventions,
    /// Labelled images (`.npz`) for the proxies whose reference conventions feed real data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<std::path::PathBuf>,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            batch: 64,
            resolution: None,
            seed: 0,
            init: InitMode::Kaiming,
            bn: BnMode::Train,
            layers: LayerRule::Grammar,
            params: ParamSet::All,
            conventions: Conventions::Reference,
            images: None,
        }
    }
}

/// The paper's input resolution.
pub const PAPER_RESOLUTION: usize = 64;

impl Protocol {
    /// The resolution used for a space whose native resolution is `native`.
    pub fn resolution_for(&self, native: usize) -> usize {
        self.resolution.unwrap_or(PAPER_RESOLUTION.max(native))
    }

    /// A stable, readable key of the settings for a space (its name and a hash of its
    /// definition), e.g. `nas-bench-201@1a2b3c4d/b64/r64/s0/kaiming/bn-train/grammar/all`; the
    /// protocol's conventions and the images file are appended when set
    /// (`/conv-protocol`, `/img-cifar10.npz`).
    pub fn key(&self, space_id: &str, native_resolution: usize) -> String {
        let mut key = format!(
            "{space_id}/b{}/r{}/s{}/{}/bn-{}/{}/{}",
            self.batch,
            self.resolution_for(native_resolution),
            self.seed,
            kebab(&self.init),
            kebab(&self.bn),
            kebab(&self.layers),
            kebab(&self.params)
        );
        if self.conventions != Conventions::Reference {
            key.push_str(&format!("/conv-{}", kebab(&self.conventions)));
        }
        if let Some(images) = &self.images {
            key.push_str(&format!("/img-{}", super::passes::file_label(images)));
        }
        key
    }
}

/// A short stable hash (FNV-1a, 64 bits, hex) of a text, for keys.
pub fn short_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_every_setting() {
        let p = Protocol::default();
        assert_eq!(p.key("nb@x", 32), "nb@x/b64/r64/s0/kaiming/bn-train/grammar/all");
        let q = Protocol { resolution: Some(32), seed: 3, params: ParamSet::Weights, ..p };
        assert_eq!(q.key("nb@x", 32), "nb@x/b64/r32/s3/kaiming/bn-train/grammar/weights");
        assert_eq!(Protocol::default().resolution_for(224), 224);
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(short_hash("abc"), short_hash("abc"));
        assert_ne!(short_hash("abc"), short_hash("abd"));
    }
}
