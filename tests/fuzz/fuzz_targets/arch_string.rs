//! Fuzz target `arch_string`: the body is `intrain::fuzzing::arch_string` (see there what it checks), run under
//! the small limits of `intrain::fuzzing::install_fuzzing_limits`.
//!
//! Run (from the repository root; README, "Security and limits"):
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz -s none -a arch_string tests/fuzz/corpus/arch_string tests/fuzz/seeds/arch_string -- -dict=tests/fuzz/dict/arch_string.dict`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: intrain::fuzzing::install_fuzzing_limits(), |data: &[u8]| {
    intrain::fuzzing::arch_string(data);
});
