//! Fuzz target `onnx_model`: the body is `intrain::fuzzing::onnx_model` (see there what it checks), run under
//! the small limits of `intrain::fuzzing::install_fuzzing_limits`.
//!
//! Run (from the repository root; README, "Security and limits"):
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz -s none -a onnx_model tests/fuzz/corpus/onnx_model tests/fuzz/seeds/onnx_model -- -dict=tests/fuzz/dict/onnx_model.dict`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: intrain::fuzzing::install_fuzzing_limits(), |data: &[u8]| {
    intrain::fuzzing::onnx_model(data);
});
