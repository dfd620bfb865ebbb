//! Fuzz target `policy_yaml`: the body is `intrain::fuzzing::policy_yaml` (see there what it checks), run under
//! the small limits of `intrain::fuzzing::install_fuzzing_limits`.
//!
//! Run (from the repository root; README, "Security and limits"):
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz -s none -a policy_yaml tests/fuzz/corpus/policy_yaml tests/fuzz/seeds/policy_yaml -- -dict=tests/fuzz/dict/policy_yaml.dict`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: intrain::fuzzing::install_fuzzing_limits(), |data: &[u8]| {
    intrain::fuzzing::policy_yaml(data);
});
