//! Round trip: a CNN built in Rust → ONNX bytes → ONNX Runtime gives the shapes our IR infers
//! and the values PyTorch computes (float64 goldens from `tests/goldens/make_goldens.py`).

mod common;

use intrain::nets::tiny_cnn;
use intrain::onnx::{ImportOptions, model_from_bytes, to_bytes};

#[test]
fn tiny_cnn_matches_pytorch_golden_through_onnx_runtime() {
    let golden = common::read_npy_dir(&common::root().join("tests/goldens/tiny_cnn"));
    let x = golden["x"].clone();
    let g = tiny_cnn::build(x.shape[0], x.shape[2], x.shape[3], &golden).expect("build");
    let bytes = to_bytes(&g);
    // Kept for `models/scripts/check_onnx.py` (onnx.checker with full_check).
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tiny_cnn.onnx"),
        &bytes,
    );
    let mut session = common::runtime().session(&bytes).expect("session");
    let out = session.run(&[("x", &x)]).expect("run");
    for name in tiny_cnn::CHECKPOINTS {
        let ours = &out[*name];
        let id = g.find(name).expect("checkpoint in graph");
        assert_eq!(
            ours.shape,
            g.value(id).ty.shape,
            "{name}: ONNX Runtime shape differs from the IR's"
        );
        let expected = &golden[&format!("expected_{name}")];
        assert_eq!(ours.shape, expected.shape, "{name}: shape differs from PyTorch");
        let err = common::max_rel_err(&ours.to_f64(), &expected.to_f64());
        assert!(err < 1e-5, "{name}: max relative error {err:e} against PyTorch float64");
    }
}

#[test]
fn exported_bytes_import_back_to_the_same_graph() {
    let golden = common::read_npy_dir(&common::root().join("tests/goldens/tiny_cnn"));
    let g = tiny_cnn::build(2, 8, 8, &golden).expect("build");
    let bytes = to_bytes(&g);
    let back = model_from_bytes(&bytes, None, &ImportOptions::default()).expect("import").graph;
    assert_eq!(back.nodes().len(), g.nodes().len());
    assert_eq!(back.opset, g.opset);
    for (a, b) in g.nodes().iter().zip(back.nodes()) {
        assert_eq!((a.name.as_str(), a.op), (b.name.as_str(), b.op));
        assert_eq!(a.attrs, b.attrs, "attributes of {}", a.name);
        let ta: Vec<_> = a.outputs.iter().map(|&v| g.value(v).ty.clone()).collect();
        let tb: Vec<_> = b.outputs.iter().map(|&v| back.value(v).ty.clone()).collect();
        assert_eq!(ta, tb, "output types of {}", a.name);
    }
    for (id, v) in g.initializers() {
        let w = back.find(&v.name).map(|i| back.value(i)).expect("initializer survives");
        assert_eq!(w.data, v.data, "initializer {} ({id:?})", v.name);
    }
    assert_eq!(to_bytes(&back), bytes, "export is deterministic and import is lossless");
}
