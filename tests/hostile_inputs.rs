//! Hostile and careless inputs: external data that escapes the model's folder (symbolic links,
//! hard links, linked folders, special files), and files or spaces whose size would exhaust the
//! machine. Each must fail at once with a one-line error (exit 2) that names what is refused and,
//! for a limit, the flag that raises it; the limits can be raised. (Unix only: the links, FIFOs
//! and devices are Unix ones.)
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use intrain::Error;
use intrain::onnx::{ImportOptions, load_model};

const MODEL: &str = "tinyresnet_external.onnx";
const DATA: &str = "tinyresnet_external.onnx.data";

/// A folder holding a copy of the external-data model, its data file not yet placed.
fn model_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    std::fs::create_dir(&model).expect("mkdir");
    std::fs::copy(common::root().join("models/onnx").join(MODEL), model.join(MODEL))
        .expect("copy model");
    (dir, model)
}

fn real_data() -> PathBuf {
    common::root().join("models/onnx").join(DATA)
}

fn load(folder: &Path) -> intrain::Result<intrain::onnx::ImportedModel> {
    load_model(&folder.join(MODEL), &ImportOptions { batch: Some(2), ..Default::default() })
}

/// The error of a load that must be refused, as text.
fn refused(folder: &Path) -> String {
    match load(folder) {
        Ok(_) => panic!("{}: loaded, but must be refused", folder.display()),
        Err(e) => {
            let inner = match &e {
                Error::InFile { inner, .. } => inner.as_ref(),
                other => other,
            };
            assert!(matches!(inner, Error::ExternalData { .. }), "not an external-data error: {e}");
            e.to_string()
        }
    }
}

/// Runs intrain with a deadline; a run past it (a hang on a FIFO, a runaway enumeration) is
/// killed and fails the test.
fn intrain_within(args: &[&str], secs: u64) -> (i32, String) {
    let mut child = common::intrain_command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().expect("stderr").read_to_string(&mut err).expect("read");
            return (status.code().unwrap_or(-1), err);
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("intrain {args:?} ran past {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_regular_data_file_in_the_folder_loads() {
    let (_dir, folder) = model_folder();
    std::fs::copy(real_data(), folder.join(DATA)).expect("copy data");
    load(&folder).expect("a plain copy loads");
}

#[test]
fn a_symbolic_link_to_a_file_outside_is_refused() {
    let (_dir, folder) = model_folder();
    std::os::unix::fs::symlink(real_data(), folder.join(DATA)).expect("symlink");
    let e = refused(&folder);
    assert!(e.contains("symbolic link") && e.contains(DATA), "{e}");
    assert!(e.contains("--follow-external-links"), "the error says how to trust it: {e}");
    // The user who trusts the model says so, and it loads.
    let model = folder.join(MODEL);
    let (code, err) = intrain_within(
        &["inspect", model.to_str().expect("utf-8"), "--batch", "2", "--follow-external-links"],
        60,
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_symbolic_link_to_a_device_is_refused() {
    let (_dir, folder) = model_folder();
    std::os::unix::fs::symlink("/dev/zero", folder.join(DATA)).expect("symlink");
    let e = refused(&folder);
    assert!(e.contains("symbolic link"), "{e}");
}

#[test]
fn a_hard_link_to_a_file_outside_is_refused() {
    let (dir, folder) = model_folder();
    // A file outside the model's folder (on the same file system, as hard links need).
    let outside = dir.path().join("outside.bin");
    std::fs::copy(real_data(), &outside).expect("copy");
    std::fs::hard_link(&outside, folder.join(DATA)).expect("hard link");
    let e = refused(&folder);
    assert!(e.contains("hard links"), "{e}");
}

#[test]
fn a_linked_folder_leading_outside_is_refused() {
    let (dir, folder) = model_folder();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    std::fs::copy(real_data(), elsewhere.join(DATA)).expect("copy");
    // `weights/` inside the model's folder is a link to a folder outside it; the data file
    // itself is a regular file.
    std::os::unix::fs::symlink(&elsewhere, folder.join("weights")).expect("symlink");
    let bytes = std::fs::read(folder.join(MODEL)).expect("read");
    let model = replace_location(&bytes, DATA, &format!("weights/{DATA}")).expect("named");
    std::fs::write(folder.join(MODEL), model).expect("write");
    let e = refused(&folder);
    assert!(e.contains("outside the model's folder"), "{e}");
}

/// The model with every external location `from` replaced by `to`, re-encoded; `None` when it
/// names no `from`.
fn replace_location(bytes: &[u8], from: &str, to: &str) -> Option<Vec<u8>> {
    use prost::Message;
    let mut m = intrain::onnx::pb::ModelProto::decode(bytes).ok()?;
    let mut n = 0;
    for t in &mut m.graph.as_mut()?.initializer {
        for e in &mut t.external_data {
            if e.value.as_deref() == Some(from) {
                e.value = Some(to.to_string());
                n += 1;
            }
        }
    }
    (n > 0).then(|| m.encode_to_vec())
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let (_dir, folder) = model_folder();
    let fifo = folder.join(DATA);
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    // Opening a FIFO blocks until someone writes: run the CLI with a deadline.
    let model = folder.join(MODEL);
    let (code, err) = intrain_within(&["inspect", model.to_str().expect("utf-8")], 60);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regular file") && err.lines().count() == 1, "{err}");
}

#[test]
fn an_endless_model_file_stops_at_the_file_limit() {
    let (code, err) = intrain_within(&["inspect", "/dev/zero", "--max-file-bytes", "1MiB"], 60);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--max-file-bytes") && err.contains("1 MiB"), "{err}");
}

/// The shipped NAS-Bench-201 space with `from` replaced by `to`, written to a temporary file.
fn nb201_with(dir: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(common::root().join("models/spaces/nb201.yaml"))
        .expect("read space");
    assert!(text.contains(from), "'{from}' is in the space");
    let path = dir.join(name);
    std::fs::write(&path, text.replace(from, to)).expect("write space");
    path
}

#[test]
fn an_oversized_cell_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let space = nb201_with(dir.path(), "n60.yaml", "nodes: 4", "nodes: 60");
    let start = Instant::now();
    let (code, err) = intrain_within(&["space", space.to_str().expect("utf-8")], 20);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cell.nodes")
            && err.contains("1770 edges")
            && err.contains("--max-cell-nodes"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(10), "refused at once");
    // Within the limit it is described; a lower limit refuses it.
    let six = nb201_with(dir.path(), "n6.yaml", "nodes: 4", "nodes: 6");
    let six = six.to_str().expect("utf-8");
    let (code, err) = intrain_within(&["space", six, "--sample", "5"], 120);
    assert_eq!(code, 0, "{err}");
    let (code, err) = intrain_within(&["space", six, "--max-cell-nodes", "5"], 20);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_network_too_deep_or_too_wide_is_refused_before_it_is_built() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = nb201_with(
        dir.path(),
        "deep.yaml",
        "channels: 16, cells: 5 }",
        "channels: 16, cells: 100000000 }",
    );
    let (code, err) = intrain_within(&["space", deep.to_str().expect("utf-8")], 20);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("stages: 100000010 cells") && err.contains("--max-blocks"), "{err}");
    // 10^8 output channels: a 107 GiB weight, refused before it is allocated.
    let wide = nb201_with(
        dir.path(),
        "wide.yaml",
        "channels: 64, cells: 5",
        "channels: 100000000, cells: 5",
    );
    let (code, err) = intrain_within(&["space", wide.to_str().expect("utf-8")], 20);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("reduction2/conv_a/conv.weight") && err.contains("--max-tensor-bytes"));
}

#[test]
fn sampling_more_than_the_work_limit_is_refused() {
    let (code, err) = intrain_within(
        &["sample", "models/spaces/nb201.yaml", "-n", "5", "--max-tries", "2000000"],
        20,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--max-archs"), "{err}");
}
