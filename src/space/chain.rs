//! Chain spaces: the choice dimensions of operations, resolved stages and their validation.

use super::spec::{Act, OpSpec, SpaceSpec};
use crate::error::Result;
use crate::limits::Limits;

/// One choice dimension of an operation: its options.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dim<'a> {
    Kernel(&'a [usize]),
    Expansion(&'a [f64]),
    Act(&'a [Act]),
    Se(&'a [bool]),
}

impl Dim<'_> {
    /// The field name.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Dim::Kernel(_) => "kernel",
            Dim::Expansion(_) => "expansion",
            Dim::Act(_) => "act",
            Dim::Se(_) => "se",
        }
    }

    /// Number of options.
    pub(crate) fn len(&self) -> usize {
        match self {
            Dim::Kernel(v) => v.len(),
            Dim::Expansion(v) => v.len(),
            Dim::Act(v) => v.len(),
            Dim::Se(v) => v.len(),
        }
    }

    /// The architecture-string token of option `i`: `k5`, `e6`, `hswish`, `se` / `nose`.
    pub(crate) fn token(&self, i: usize) -> String {
        match self {
            Dim::Kernel(v) => format!("k{}", v[i]),
            Dim::Expansion(v) => format!("e{}", v[i]),
            Dim::Act(v) => v[i].name().to_string(),
            Dim::Se(v) => (if v[i] { "se" } else { "nose" }).to_string(),
        }
    }

    /// Every option's token.
    pub(crate) fn tokens(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.token(i)).collect()
    }
}

/// The choice dimensions of an operation, in architecture-string order.
pub(crate) fn dims(op: &OpSpec) -> Vec<Dim<'_>> {
    match op {
        OpSpec::ConvBnAct { kernel, act } | OpSpec::DwConvBnAct { kernel, act } => {
            vec![Dim::Kernel(kernel.options()), Dim::Act(act.options())]
        }
        OpSpec::InvertedResidual { kernel, expansion, act, se } => vec![
            Dim::Kernel(kernel.options()),
            Dim::Expansion(expansion.options()),
            Dim::Act(act.options()),
            Dim::Se(se.options()),
        ],
        OpSpec::Zero
        | OpSpec::Identity
        | OpSpec::Skip
        | OpSpec::ReluConvBn { .. }
        | OpSpec::AvgPool { .. }
        | OpSpec::MaxPool { .. }
        | OpSpec::SepConv { .. }
        | OpSpec::DilConv { .. } => Vec::new(),
    }
}

/// The names of an operation's list-valued fields, if it has any.
pub(crate) fn choice_names(op: &OpSpec) -> Option<String> {
    let names: Vec<&str> = dims(op).iter().filter(|d| d.len() > 1).map(Dim::name).collect();
    (!names.is_empty()).then(|| names.join(", "))
}

/// A block's operation with every choice made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Block {
    Zero,
    Identity,
    Skip,
    ReluConvBn { kernel: usize, dilation: usize },
    AvgPool { kernel: usize, count_include_pad: bool },
    MaxPool { kernel: usize },
    SepConv { kernel: usize },
    DilConv { kernel: usize, dilation: usize },
    ConvBnAct { kernel: usize, act: Act },
    DwConvBnAct { kernel: usize, act: Act },
    InvertedResidual { kernel: usize, expansion: f64, act: Act, se: bool },
}

/// Option `c[i]` of a dimension (the first for a missing or out-of-range index).
fn pick<T: Copy>(options: &[T], c: &[usize], i: usize) -> Option<T> {
    let k = c.get(i).copied().unwrap_or(0);
    options.get(k).or(options.first()).copied()
}

/// `op` with the options `choices` (one index per dimension of [`dims`]); `None` only for an
/// op whose option list is empty (impossible after validation).
pub(crate) fn resolve(op: &OpSpec, c: &[usize]) -> Option<Block> {
    Some(match op {
        OpSpec::Zero => Block::Zero,
        OpSpec::Identity => Block::Identity,
        OpSpec::Skip => Block::Skip,
        OpSpec::ReluConvBn { kernel, dilation } => {
            Block::ReluConvBn { kernel: *kernel, dilation: *dilation }
        }
        OpSpec::AvgPool { kernel, count_include_pad } => {
            Block::AvgPool { kernel: *kernel, count_include_pad: *count_include_pad }
        }
        OpSpec::MaxPool { kernel } => Block::MaxPool { kernel: *kernel },
        OpSpec::SepConv { kernel } => Block::SepConv { kernel: *kernel },
        OpSpec::DilConv { kernel, dilation } => {
            Block::DilConv { kernel: *kernel, dilation: *dilation }
        }
        OpSpec::ConvBnAct { kernel, act } => Block::ConvBnAct {
            kernel: pick(kernel.options(), c, 0)?,
            act: pick(act.options(), c, 1)?,
        },
        OpSpec::DwConvBnAct { kernel, act } => Block::DwConvBnAct {
            kernel: pick(kernel.options(), c, 0)?,
            act: pick(act.options(), c, 1)?,
        },
        OpSpec::InvertedResidual { kernel, expansion, act, se } => Block::InvertedResidual {
            kernel: pick(kernel.options(), c, 0)?,
            expansion: pick(expansion.options(), c, 1)?,
            act: pick(act.options(), c, 2)?,
            se: pick(se.options(), c, 3)?,
        },
    })
}

/// Whether the op keeps the channel count (so it cannot change the width at a stage start).
fn keeps_channels(op: &OpSpec) -> bool {
    matches!(
        op,
        OpSpec::Zero
            | OpSpec::Identity
            | OpSpec::AvgPool { .. }
            | OpSpec::MaxPool { .. }
            | OpSpec::DwConvBnAct { .. }
    )
}

fn first_duplicate<T: Eq + std::hash::Hash>(v: &[T]) -> Option<usize> {
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    v.iter().position(|x| !seen.insert(x))
}

/// Checks one operation definition; on error, the YAML path below `ops.NAME` and what is wrong.
pub(crate) fn check_op(op: &OpSpec) -> std::result::Result<(), (String, String)> {
    let odd = |kernels: &[usize], path: &str| {
        if let Some(k) = kernels.iter().find(|&&k| k % 2 == 0) {
            return Err((path.to_string(), format!("kernel must be odd (got {k})")));
        }
        Ok(())
    };
    match op {
        OpSpec::ReluConvBn { kernel, dilation } => {
            if kernel % 2 == 0 || *dilation == 0 {
                return Err((
                    ".relu_conv_bn".into(),
                    format!(
                        "kernel must be odd and dilation positive (got kernel {kernel}, dilation {dilation})"
                    ),
                ));
            }
        }
        OpSpec::AvgPool { kernel, .. } | OpSpec::MaxPool { kernel } => {
            if kernel % 2 == 0 {
                return Err((
                    String::new(),
                    format!("pool kernel must be odd for same padding (got {kernel})"),
                ));
            }
        }
        OpSpec::SepConv { kernel } => odd(std::slice::from_ref(kernel), ".sep_conv.kernel")?,
        OpSpec::DilConv { kernel, dilation } => {
            odd(std::slice::from_ref(kernel), ".dil_conv.kernel")?;
            if *dilation == 0 {
                return Err((".dil_conv.dilation".into(), "must be positive".into()));
            }
        }
        OpSpec::ConvBnAct { kernel, .. } => odd(kernel.options(), ".conv_bn_act.kernel")?,
        OpSpec::DwConvBnAct { kernel, .. } => odd(kernel.options(), ".dw_conv_bn_act.kernel")?,
        OpSpec::InvertedResidual { kernel, expansion, .. } => {
            odd(kernel.options(), ".inverted_residual.kernel")?;
            if let Some(e) = expansion.options().iter().find(|e| !(e.is_finite() && **e > 0.0)) {
                return Err((
                    ".inverted_residual.expansion".into(),
                    format!("expansion must be positive (got {e})"),
                ));
            }
        }
        OpSpec::Zero | OpSpec::Identity | OpSpec::Skip => {}
    }
    let variant = match op {
        OpSpec::ConvBnAct { .. } => "conv_bn_act",
        OpSpec::DwConvBnAct { .. } => "dw_conv_bn_act",
        _ => "inverted_residual",
    };
    for d in dims(op) {
        if let Some(i) = first_duplicate(&d.tokens()) {
            return Err((
                format!(".{variant}.{}", d.name()),
                format!("lists option '{}' twice", d.token(i)),
            ));
        }
    }
    Ok(())
}

/// A resolved stage of a chain space.
#[derive(Debug, Clone)]
pub struct ChainStage {
    /// The operations each block chooses from: name and definition.
    pub ops: Vec<(String, OpSpec)>,
    /// Width options (output channels).
    pub widths: Vec<usize>,
    /// Depth options (numbers of blocks).
    pub depths: Vec<usize>,
    /// Stride of the first block.
    pub stride: usize,
}

impl ChainStage {
    /// The choice dimensions of operation `op` of the stage.
    pub(crate) fn dims(&self, op: usize) -> Vec<Dim<'_>> {
        dims(&self.ops[op].1)
    }

    /// Number of ways to fill one block with operation `op` (product of its options).
    pub fn op_options(&self, op: usize) -> u64 {
        self.dims(op).iter().map(|d| d.len() as u64).fold(1, u64::saturating_mul)
    }

    /// Number of ways to fill one block (operation and its choices).
    pub fn block_options(&self) -> u64 {
        (0..self.ops.len()).map(|o| self.op_options(o)).fold(0, u64::saturating_add)
    }

    /// Number of distinct fillings of the stage, if it fits in a u64.
    pub fn size(&self) -> Option<u64> {
        let b = self.block_options();
        let per_width = self
            .depths
            .iter()
            .try_fold(0u64, |acc, &d| acc.checked_add(b.checked_pow(u32::try_from(d).ok()?)?))?;
        per_width.checked_mul(self.widths.len() as u64)
    }
}

/// Whether a name can appear in architecture strings.
fn is_token(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Validates the `chain` of `spec` (after the ops and the stem) into resolved stages.
pub(crate) fn check_chain(
    spec: &SpaceSpec,
    stem_channels: usize,
    text: &str,
    origin: &str,
) -> Result<Vec<ChainStage>> {
    let bad = |k: usize, path: &str, what: String, token: &str| {
        let at = match super::spec::locate_item(text, "chain", k, token) {
            Some((l, c)) => format!(" (line {l}, column {c})"),
            None => String::new(),
        };
        crate::error::Error::Spec(format!("{origin}: chain[{k}]{path}: {what}{at}"))
    };
    let mut prev = vec![stem_channels];
    let mut out = Vec::new();
    for (k, st) in spec.chain.iter().enumerate() {
        if st.ops.is_empty() {
            return Err(bad(k, ".ops", "lists no operations".into(), "ops"));
        }
        let widths = st.channels.options().to_vec();
        let depths = st.depth.options().to_vec();
        if widths.contains(&0) {
            return Err(bad(k, ".channels", "must be positive".into(), "channels"));
        }
        if let Some(i) = first_duplicate(&widths) {
            return Err(bad(k, ".channels", format!("lists {} twice", widths[i]), "channels"));
        }
        if depths.contains(&0) {
            return Err(bad(k, ".depth", "must be positive".into(), "depth"));
        }
        if let Some(i) = first_duplicate(&depths) {
            return Err(bad(k, ".depth", format!("lists {} twice", depths[i]), "depth"));
        }
        if st.stride == 0 {
            return Err(bad(k, ".stride", "must be positive".into(), "stride"));
        }
        let mut ops = Vec::new();
        for (i, name) in st.ops.iter().enumerate() {
            let path = format!(".ops[{i}]");
            let Some(op) = spec.ops.get(name) else {
                let known: Vec<&str> = spec.ops.keys().map(String::as_str).collect();
                return Err(bad(
                    k,
                    &path,
                    format!("unknown op '{name}' (defined in ops: {})", known.join(", ")),
                    name,
                ));
            };
            if st.ops[..i].contains(name) {
                return Err(bad(k, &path, format!("op '{name}' is listed twice"), name));
            }
            if !is_token(name) {
                return Err(bad(
                    k,
                    &path,
                    format!(
                        "op '{name}' is used in a chain, whose architecture strings need names of letters, digits and '_'"
                    ),
                    name,
                ));
            }
            if matches!(op, OpSpec::Zero) {
                return Err(bad(
                    k,
                    &path,
                    format!("'{name}' is the zero op, which only a cell edge can choose"),
                    name,
                ));
            }
            if keeps_channels(op)
                && let Some((a, b)) = prev
                    .iter()
                    .flat_map(|&a| widths.iter().map(move |&b| (a, b)))
                    .find(|(a, b)| a != b)
            {
                return Err(bad(
                    k,
                    &path,
                    format!(
                        "channel mismatch: '{name}' keeps the channel count, but the stage's first block can go from {a} to {b} channels"
                    ),
                    name,
                ));
            }
            if matches!(op, OpSpec::Identity) && st.stride != 1 {
                return Err(bad(
                    k,
                    &path,
                    format!("'{name}' is an identity and cannot apply stride {}", st.stride),
                    name,
                ));
            }
            ops.push((name.clone(), op.clone()));
        }
        prev.clone_from(&widths);
        out.push(ChainStage { ops, widths, depths, stride: st.stride });
    }
    let blocks: usize = out.iter().map(|st| st.depths.iter().max().copied().unwrap_or(0)).sum();
    let max = Limits::current().blocks;
    if blocks > max {
        return Err(crate::limits::over(
            format!("{origin}: chain: the deepest network has {blocks} blocks"),
            &max.to_string(),
            "max-blocks",
        ));
    }
    Ok(out)
}
