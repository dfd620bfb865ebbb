//! Inputs that once crashed the model loader under `cargo fuzz` (kept in
//! `tests/fuzz/regressions/`): each must now load or fail with an error, never panic.

mod common;

use intrain::onnx::{ImportOptions, model_from_bytes, to_bytes};

#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = common::root().join("tests/fuzz/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        let opts = ImportOptions { batch: Some(2), ..Default::default() };
        if let Ok(m) = model_from_bytes(&bytes, None, &opts) {
            model_from_bytes(&to_bytes(&m.graph), None, &ImportOptions::default())
                .expect("re-import");
        }
        n += 1;
    }
    assert!(n >= 1, "no regression inputs found in {}", dir.display());
}
