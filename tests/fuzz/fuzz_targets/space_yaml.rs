//! Fuzz target `space_yaml`: the body is `intrain::fuzzing::space_yaml` (see there what it checks), run under
//! the small limits of `intrain::fuzzing::install_fuzzing_limits`.
//!
//! Run (from the repository root; README, "Security and limits"):
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz -s none -a space_yaml tests/fuzz/corpus/space_yaml tests/fuzz/seeds/space_yaml -- -dict=tests/fuzz/dict/space_yaml.dict`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: intrain::fuzzing::install_fuzzing_limits(), |data: &[u8]| {
    intrain::fuzzing::space_yaml(data);
});
