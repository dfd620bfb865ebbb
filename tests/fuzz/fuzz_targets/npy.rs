//! Fuzz target `npy`: the body is `intrain::fuzzing::npy` (see there what it checks), run under
//! the small limits of `intrain::fuzzing::install_fuzzing_limits`.
//!
//! Run (from the repository root; README, "Security and limits"):
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz -s none -a npy tests/fuzz/corpus/npy tests/fuzz/seeds/npy -- -dict=tests/fuzz/dict/npy.dict`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: intrain::fuzzing::install_fuzzing_limits(), |data: &[u8]| {
    intrain::fuzzing::npy(data);
});
