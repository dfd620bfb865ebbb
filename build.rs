//! Tells the tests what this machine has, so that a test which cannot run here shows as ignored
//! in `cargo test`'s output instead of passing without checking anything:
//!
//! - `cfg(shared_data)`: the NAS-Bench-201 tables are at `../shared/data/nasbench201` (beside the
//!   project root). Tests that read them are `#[cfg_attr(not(shared_data), ignore = ...)]`.
//! - `cfg(nvidia_driver)`: an NVIDIA driver is installed, so the "CUDA without a GPU" error cannot
//!   be produced here. This mirrors `intrain::runtime::library::nvidia_driver_present`, and a
//!   test checks that the two agree.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_data)");
    println!("cargo::rustc-check-cfg=cfg(nvidia_driver)");
    println!("cargo::rerun-if-changed=build.rs");

    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let data = root.join("../shared/data/nasbench201");
    if data.is_dir() {
        println!("cargo::rustc-cfg=shared_data");
    }
    // Re-evaluate when the folder appears or goes away. Cargo reruns a build script on every
    // build while a watched path is missing (and then recompiles the crate), so while the folder
    // is absent watch its nearest existing parent inside `../shared` instead. With no `../shared`
    // at all nothing is watched: after adding it, `touch build.rs` (or `cargo clean -p intrain`).
    let shared = root.join("../shared");
    if let Some(watched) =
        [data.as_path(), &shared.join("data"), &shared].into_iter().find(|p| p.exists())
    {
        println!("cargo::rerun-if-changed={}", watched.display());
    }

    if nvidia_driver_present() {
        println!("cargo::rustc-cfg=nvidia_driver");
    }
}

/// The same check as `intrain::runtime::library::nvidia_driver_present`.
fn nvidia_driver_present() -> bool {
    Path::new("/proc/driver/nvidia/version").exists()
        || [
            "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
            "/usr/lib64/libcuda.so.1",
            "/usr/local/nvidia/lib64/libcuda.so.1",
        ]
        .iter()
        .any(|p| Path::new(p).exists())
}
