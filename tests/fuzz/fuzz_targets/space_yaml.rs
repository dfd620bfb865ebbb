//! Fuzz the YAML search-space front end: arbitrary text must give a space or an error, never a
//! panic; a space that validates must sample, round-trip and mutate an architecture and lower
//! it (cell and chain spaces alike).
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz space_yaml tests/fuzz/corpus/space_yaml`
//! (seed the corpus with `models/spaces/*.yaml`).
#![no_main]

use intrain::space::spec::{HeadSpec, OpSpec, StemSpec};
use intrain::space::{Arch, LowerOptions, SearchSpace, rng};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(space) = SearchSpace::from_yaml(text, "fuzz.yaml") else { return };
    // Keep lowering cheap: skip spaces with huge networks.
    let s = &space.spec;
    let chain = space.chain_stages();
    let big = s.input.resolution > 64
        || s.input.channels > 16
        || s.input.classes > 1000
        || space.cell_nodes() > 6
        || s.stages.len() > 4
        || s.stages.iter().any(|st| st.channels > 64 || st.cells > 3)
        || chain.len() > 6
        || chain.iter().any(|st| {
            st.widths.iter().any(|&w| w > 64) || st.depths.iter().any(|&d| d > 4)
        });
    // ... or with huge kernels, expansions or head widths.
    let max = |v: &[usize]| v.iter().copied().max().unwrap_or(0);
    let op_size = |op: &OpSpec| match op {
        OpSpec::ReluConvBn { kernel, dilation } => kernel.saturating_mul(*dilation),
        OpSpec::AvgPool { kernel, .. } | OpSpec::MaxPool { kernel } => *kernel,
        OpSpec::ConvBnAct { kernel, .. } | OpSpec::DwConvBnAct { kernel, .. } => max(kernel.options()),
        OpSpec::InvertedResidual { kernel, expansion, .. } => max(kernel.options())
            .max(expansion.options().iter().fold(0.0f64, |a, &b| a.max(b)) as usize),
        OpSpec::Zero | OpSpec::Identity => 0,
    };
    let stem = match s.stem {
        StemSpec::ConvBn { kernel, channels } | StemSpec::ConvBnAct { kernel, channels, .. } => {
            kernel.max(channels / 8)
        }
    };
    let head = match s.head {
        HeadSpec::ConvBnActGapLinear { channels, hidden, .. } => channels.max(hidden.unwrap_or(0)),
        _ => 0,
    };
    let big = big || s.ops.values().any(|op| op_size(op) > 9) || stem > 9 || head > 256;
    let huge_depth = chain.iter().any(|st| st.depths.iter().any(|&d| d > 64));
    if huge_depth {
        return;
    }
    let mut r = rng(0);
    let arch = Arch::sample(&space, &mut r);
    assert_eq!(Arch::parse(&space, &arch.format(&space)).ok(), Some(arch.clone()));
    let m = arch.mutate(&space, &mut r);
    assert_eq!(Arch::parse(&space, &m.format(&space)).ok(), Some(m.clone()));
    assert_eq!(m.canonical(&space).canonical(&space), m.canonical(&space));
    if let Some(a) = Arch::from_index(&space, 7) {
        assert_eq!(Arch::parse(&space, &a.format(&space)).ok(), Some(a));
    }
    let _ = space.size();
    if !big {
        let _ = space.lower(&arch, &LowerOptions { seed: None, ..Default::default() });
        let _ = space.bounds();
    }
});
