//! Fuzz the ONNX model loader: arbitrary bytes must give a model or an error, never a panic,
//! and a model that loads must survive export and re-import.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz load_model tests/fuzz/corpus/load_model`
//! (seed the corpus with `models/onnx/*.onnx`).
#![no_main]

use intrain::onnx::{ImportOptions, model_from_bytes, to_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ImportOptions { batch: Some(2), ..Default::default() };
    if let Ok(m) = model_from_bytes(data, None, &opts) {
        let bytes = to_bytes(&m.graph);
        let again = model_from_bytes(&bytes, None, &ImportOptions::default());
        assert!(again.is_ok(), "re-import failed: {:?}", again.err());
    }
});
