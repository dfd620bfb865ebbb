//! The bodies of the fuzz targets (`tests/fuzz`), one per reader of files other people write:
//! each takes arbitrary bytes and returns, with the input refused or read, never panicking
//! except on a broken invariant it asserts (a model that loads must survive export and
//! re-import, an architecture must survive its string form). `tests/fuzz_regressions.rs` runs
//! them over the committed corpora and every input a fuzzer once crashed on.

use std::path::Path;

use crate::analysis::policy::Policy;
use crate::autodiff::{TrainingOptions, build_training_graph};
use crate::limits::Limits;
use crate::onnx::{ImportOptions, model_from_bytes, to_bytes};
use crate::scoring::records::parse_records;
use crate::space::spec::{HeadSpec, OpSpec, StemSpec};
use crate::space::{Arch, LowerOptions, SearchSpace, rng};

/// A fuzz target's body: arbitrary bytes in, a return or an asserted-invariant panic out.
pub type Body = fn(&[u8]);

/// The fuzz targets, by name (the names of `tests/fuzz/fuzz_targets/*.rs`).
pub const TARGETS: [(&str, Body); 6] = [
    ("onnx_model", onnx_model),
    ("space_yaml", space_yaml),
    ("arch_string", arch_string),
    ("policy_yaml", policy_yaml),
    ("records", records),
    ("npy", npy),
];

/// Limits small enough that one input costs milliseconds, not seconds, whatever it claims.
pub fn install_fuzzing_limits() {
    Limits {
        file_bytes: 1 << 20,
        graph_nodes: 5_000,
        tensor_bytes: 16 << 20,
        weight_bytes: 64 << 20,
        cell_nodes: 8,
        blocks: 64,
        archs: 1_000,
        memory_bytes: Some(256 << 20),
        follow_external_links: false,
    }
    .install();
}

/// An ONNX model: loads or fails; a model that loads exports and re-imports, and its training
/// graph builds or fails.
pub fn onnx_model(data: &[u8]) {
    let opts = ImportOptions { batch: Some(2), ..Default::default() };
    if let Ok(m) = model_from_bytes(data, None, &opts) {
        let again = model_from_bytes(&to_bytes(&m.graph), None, &ImportOptions::default());
        assert!(again.is_ok(), "re-import failed: {:?}", again.err());
        let _ = build_training_graph(&m.graph, &TrainingOptions::default());
    }
}

/// A YAML search space: validates or fails; a valid space samples, round-trips and mutates an
/// architecture, and small ones lower (cell and chain spaces alike).
pub fn space_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(space) = SearchSpace::from_yaml(text, "fuzz.yaml") else { return };
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
    if is_small(&space) {
        let _ = space.lower(&arch, &LowerOptions { seed: None, ..Default::default() });
        let _ = space.bounds();
    }
}

/// Whether lowering `space` costs about a millisecond (the limits bound the rest).
fn is_small(space: &SearchSpace) -> bool {
    let s = &space.spec;
    let chain = space.chain_stages();
    let max = |v: &[usize]| v.iter().copied().max().unwrap_or(0);
    let op_size = |op: &OpSpec| match op {
        OpSpec::ReluConvBn { kernel, dilation } => kernel.saturating_mul(*dilation),
        OpSpec::AvgPool { kernel, .. }
        | OpSpec::MaxPool { kernel }
        | OpSpec::SepConv { kernel } => *kernel,
        OpSpec::DilConv { kernel, dilation } => kernel.saturating_mul(*dilation),
        OpSpec::ConvBnAct { kernel, .. } | OpSpec::DwConvBnAct { kernel, .. } => {
            max(kernel.options())
        }
        OpSpec::InvertedResidual { kernel, expansion, .. } => max(kernel.options())
            .max(expansion.options().iter().fold(0.0f64, |a, &b| a.max(b)) as usize),
        OpSpec::Zero | OpSpec::Identity | OpSpec::Skip => 0,
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
    s.input.resolution <= 64
        && s.input.channels <= 16
        && s.input.classes <= 1000
        && s.stages.len() <= 4
        && s.stages.iter().all(|st| st.channels <= 64 && st.cells <= 3)
        && chain.len() <= 6
        && chain.iter().all(|st| max(&st.widths) <= 64 && max(&st.depths) <= 4)
        && s.ops.values().all(|op| op_size(op) <= 9)
        && stem <= 9
        && head <= 256
}

/// An architecture string of the shipped NAS-Bench-201, MobileNetV2, NAS-Bench-101 and DARTS
/// spaces: parses or
/// fails; one that parses formats back to a string that parses to the same architecture.
pub fn arch_string(data: &[u8]) {
    use std::sync::OnceLock;
    static SPACES: OnceLock<Vec<SearchSpace>> = OnceLock::new();
    let spaces = SPACES.get_or_init(|| {
        [
            (include_str!("../models/spaces/nb201.yaml"), "nb201.yaml"),
            (include_str!("../models/spaces/mobilenetv2.yaml"), "mobilenetv2.yaml"),
            (include_str!("../models/spaces/nb101.yaml"), "nb101.yaml"),
            (include_str!("../models/spaces/darts.yaml"), "darts.yaml"),
        ]
        .iter()
        .map(|(text, name)| {
            SearchSpace::from_yaml(text, name)
                .expect("a shipped space validates under the fuzzing limits")
        })
        .collect()
    });
    let Ok(text) = std::str::from_utf8(data) else { return };
    for space in spaces {
        if let Ok(a) = Arch::parse(space, text) {
            let again = Arch::parse(space, &a.format(space));
            assert_eq!(again.ok(), Some(a.clone()), "'{text}' does not round-trip");
            assert_eq!(a.canonical(space).canonical(space), a.canonical(space));
        }
    }
}

/// A check policy: parses and validates or fails.
pub fn policy_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Policy::from_yaml(text, "fuzz.yaml");
}

/// A record file (the first byte chooses JSONL, CSV or a search history): its complete lines
/// parse or fail; records that parse serialise.
pub fn records(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let origin = Path::new("fuzz.jsonl");
    match kind % 3 {
        0 | 1 => {
            let csv = kind % 3 == 1;
            let Ok(records) = parse_records(complete, csv, origin) else { return };
            for r in records {
                // A record read writes as a JSON line that reads back to the same record.
                let line = serde_json::to_string(&r).unwrap_or_default() + "\n";
                let again = parse_records(&line, false, origin).map(|v| {
                    v.iter().map(|r| serde_json::to_string(r).unwrap_or_default()).collect()
                });
                assert_eq!(again.ok(), Some(vec![line.trim_end().to_string()]));
            }
        }
        _ => {
            let _ = crate::search::history::parse_history(complete, origin);
        }
    }
}

/// A `.npy` array: reads or fails; an array that reads writes back to bytes that read to the
/// same array.
pub fn npy(data: &[u8]) {
    if let Ok(t) = crate::npy::from_bytes(data) {
        let bytes = crate::npy::to_bytes(&t);
        if let Ok(bytes) = bytes {
            let again = crate::npy::from_bytes(&bytes).map(|u| u.to_le_bytes());
            assert_eq!(again.ok(), Some(t.to_le_bytes()), "npy does not round-trip");
        }
    }
}
