//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use intrain::ir::Tensor;
use intrain::runtime::{Runtime, RuntimeOptions};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared data folder `../shared/data`.
///
/// Only tests marked `#[cfg_attr(not(shared_data), ignore = "...")]` may call this: the build
/// script sets `cfg(shared_data)` when `../shared/data/nasbench201` exists, so without the data
/// those tests show as ignored. Reaching this without the folder means the build script's view
/// is stale (the folder went away after the build), and that is a failure, not a skip.
pub fn shared_data() -> PathBuf {
    let p = root().join("../shared/data");
    assert!(
        p.join("nasbench201").is_dir(),
        "{} is absent although the build found it; rebuild (`touch build.rs`) so that the tests \
         needing it show as ignored, or restore the NAS-Bench-201 tables there",
        p.join("nasbench201").display()
    );
    p
}

/// A command that runs the `intrain` binary with `args` from the project root (relative paths in
/// `args` are relative to it); for callers that set environment variables or spawn it.
pub fn intrain_command<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_intrain"));
    c.args(args).current_dir(root());
    c
}

/// Runs the `intrain` binary with `args` from the project root and waits for it.
pub fn intrain<S: AsRef<OsStr>>(args: &[S]) -> Output {
    intrain_command(args).output().expect("run intrain")
}

/// Runs the `intrain` binary like [`intrain`]; its exit code (-1 when a signal ended it), stdout
/// and stderr as text.
pub fn intrain_text<S: AsRef<OsStr>>(args: &[S]) -> (i32, String, String) {
    let out = intrain(args);
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

/// A run's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A run's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A successful run's stdout parsed as JSON (a failed run fails the test, showing its stderr).
pub fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).expect("json")
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

/// Checks committed generated files (paths relative to the project root, with the content the
/// code generates now) and fails naming every stale one. With the environment variable `var` set,
/// stale files are rewritten first, and the test still fails: a regenerating run passes only when
/// nothing changed, so it can never hide a stale file. `test` is the test target that regenerates
/// them (`cargo test --test TEST`).
pub fn check_generated<P: AsRef<str>, C: AsRef<str>>(var: &str, test: &str, files: &[(P, C)]) {
    let regenerate = std::env::var_os(var).is_some();
    let mut stale = Vec::new();
    for (rel, generated) in files {
        let (rel, generated) = (rel.as_ref(), generated.as_ref());
        let path = root().join(rel);
        let committed = std::fs::read_to_string(&path).ok();
        if committed.as_deref() != Some(generated) {
            if regenerate {
                std::fs::write(&path, generated).unwrap_or_else(|e| panic!("write {rel}: {e}"));
            }
            stale.push(rel);
        }
    }
    let stale = stale.join(", ");
    assert!(
        !regenerate || stale.is_empty(),
        "regenerated {stale}; review and commit it, then rerun without {var}"
    );
    assert!(
        stale.is_empty(),
        "{stale} is out of date with the code: run `{var}=1 cargo test --test {test}`, review the \
         diff and commit it"
    );
}

/// A float32 graph input or output of a static shape, as an ONNX `ValueInfoProto` (for models
/// written field by field).
pub fn float_value_info(name: &str, dims: &[i64]) -> intrain::onnx::pb::ValueInfoProto {
    use intrain::onnx::pb;
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    pb::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(pb::TypeProto {
            denotation: None,
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension { denotation: None, value: Some(Value::DimValue(d)) })
                        .collect(),
                }),
            })),
        }),
        ..Default::default()
    }
}

/// The records of a record file (JSONL) by (key, arch), without the timing fields.
pub fn records(path: &Path) -> BTreeMap<(String, String), serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("records")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json line");
            let o = v.as_object_mut().expect("object");
            o.remove("seconds");
            o.remove("pass_seconds");
            let key =
                (v["key"].as_str().expect("key").into(), v["arch"].as_str().expect("arch").into());
            (key, v)
        })
        .collect()
}
