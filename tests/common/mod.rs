//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use intrain::ir::Tensor;
use intrain::runtime::{Runtime, RuntimeOptions};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared data folder `../shared/data`, or `None` (with a message) when absent.
pub fn shared_data() -> Option<PathBuf> {
    let p = root().join("../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIP: ../shared/data is absent; this test needs the shared NAS-Bench-201 data");
        None
    }
}

/// A CPU runtime with 1 thread (the library is fetched into the user cache on first use).
pub fn runtime() -> Runtime {
    Runtime::new(&RuntimeOptions { threads: 1, ..Default::default() }).expect("ONNX Runtime loads")
}

/// Every `NAME.npy` of a folder, by NAME.
pub fn read_npy_dir(dir: &Path) -> BTreeMap<String, Tensor> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("golden folder") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "npy") {
            let name = p.file_stem().expect("stem").to_string_lossy().to_string();
            out.insert(name, intrain::npy::read(&p).expect("npy"));
        }
    }
    out
}

/// Error of a float32 result against a (float64) reference, relative to the reference's scale:
/// max |a-b| / max |b|. Float32 arithmetic gives about 1e-7 to 1e-6 here; an elementwise
/// relative error would instead blow up on the many near-zero values (ReLU outputs, sums that
/// cancel).
pub fn max_rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max) / scale
}
