//! Fuzz the YAML search-space front end: arbitrary text must give a space or an error, never a
//! panic; a space that validates must lower a sampled architecture and round-trip its string.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz space_yaml tests/fuzz/corpus/space_yaml`
//! (seed the corpus with `models/spaces/*.yaml`).
#![no_main]

use intrain::space::{Arch, LowerOptions, SearchSpace, rng};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(space) = SearchSpace::from_yaml(text, "fuzz.yaml") else { return };
    // Keep lowering cheap: skip spaces with huge networks.
    let s = &space.spec;
    let big = s.input.resolution > 64 || s.input.channels > 16 || s.input.classes > 1000 || s.cell.nodes > 6
        || s.stages.len() > 4 || s.stages.iter().any(|st| st.channels > 64 || st.cells > 3);
    let mut r = rng(0);
    let arch = Arch::sample(&space, &mut r);
    assert_eq!(Arch::parse(&space, &arch.format(&space)).ok(), Some(arch.clone()));
    if !big {
        let _ = space.lower(&arch, &LowerOptions { seed: None, ..Default::default() });
    }
});
