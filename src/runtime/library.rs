//! Finding the ONNX Runtime shared library, and obtaining it when it is nowhere.
//!
//! Order: an explicit path (`--ort-lib`), `ORT_DYLIB_PATH`, a copy next to the executable, the
//! per-user cache (`$INTRAIN_CACHE_DIR`, else `$XDG_CACHE_HOME/intrain`, else
//! `~/.cache/intrain`); when none exists, the library is extracted from the `onnxruntime` wheel
//! on PyPI into the cache (`onnxruntime-gpu` and NVIDIA's CUDA 13 wheels for CUDA), once.

use std::path::{Path, PathBuf};

use super::fetch::fetch_from_wheel;
use crate::error::{Error, Result};

/// The ONNX Runtime release intrain is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";

/// Which build of the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibraryFlavor {
    /// The CPU-only build (`onnxruntime` wheel).
    Cpu,
    /// The CUDA build (`onnxruntime-gpu` wheel) plus CUDA 13 and cuDNN 9 user-space libraries.
    Cuda,
}

/// Where a library was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedLibrary {
    /// Path of `libonnxruntime.so*`.
    pub path: PathBuf,
    /// How it was found (`--ort-lib`, `ORT_DYLIB_PATH`, `next to the executable`, `cache`, `downloaded`).
    pub origin: &'static str,
    /// Folder holding CUDA/cuDNN libraries to preload, when we fetched them.
    pub cuda_dir: Option<PathBuf>,
}

/// The per-user cache folder.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("INTRAIN_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("intrain"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".cache").join("intrain")),
        None => Err(Error::RuntimeLibrary("no cache folder: set INTRAIN_CACHE_DIR or HOME".into())),
    }
}

fn lib_file_name() -> String {
    format!("libonnxruntime.so.{ORT_VERSION}")
}

fn flavor_dir(flavor: LibraryFlavor) -> Result<PathBuf> {
    let sub = match flavor {
        LibraryFlavor::Cpu => "cpu",
        LibraryFlavor::Cuda => "cuda",
    };
    Ok(cache_dir()?.join(format!("onnxruntime-{ORT_VERSION}")).join(sub))
}

/// Finds the library without downloading anything.
pub fn locate(explicit: Option<&Path>, flavor: LibraryFlavor) -> Result<Option<LocatedLibrary>> {
    if let Some(p) = explicit {
        if !p.is_file() {
            return Err(Error::NoLibraryFile(p.to_path_buf()));
        }
        return Ok(Some(LocatedLibrary {
            path: p.to_path_buf(),
            origin: "the path given",
            cuda_dir: None,
        }));
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            return Err(Error::RuntimeLibrary(format!(
                "ORT_DYLIB_PATH={} is not a file; unset it to let intrain fetch ONNX Runtime {ORT_VERSION} itself",
                p.display()
            )));
        }
        return Ok(Some(LocatedLibrary { path: p, origin: "ORT_DYLIB_PATH", cuda_dir: None }));
    }
    if flavor == LibraryFlavor::Cpu
        && let Some(dir) =
            std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf))
    {
        for name in [lib_file_name(), "libonnxruntime.so".to_string()] {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(Some(LocatedLibrary {
                    path: p,
                    origin: "next to the executable",
                    cuda_dir: None,
                }));
            }
        }
    }
    let dir = flavor_dir(flavor)?;
    let p = dir.join(lib_file_name());
    let complete = match flavor {
        LibraryFlavor::Cpu => p.is_file(),
        LibraryFlavor::Cuda => p.is_file() && dir.join(".complete").is_file(),
    };
    if complete {
        let cuda_dir = (flavor == LibraryFlavor::Cuda).then(|| dir.clone());
        return Ok(Some(LocatedLibrary { path: p, origin: "cache", cuda_dir }));
    }
    Ok(None)
}

/// Finds the library, downloading it into the cache when it is nowhere.
pub fn locate_or_fetch(explicit: Option<&Path>, flavor: LibraryFlavor) -> Result<LocatedLibrary> {
    if let Some(found) = locate(explicit, flavor)? {
        return Ok(found);
    }
    let dir = flavor_dir(flavor)?;
    let lib = lib_file_name();
    match flavor {
        LibraryFlavor::Cpu => {
            eprintln!(
                "intrain: ONNX Runtime {ORT_VERSION} not found; fetching the onnxruntime wheel from PyPI into {}",
                dir.display()
            );
            let want =
                |name: &str| (name == format!("onnxruntime/capi/{lib}")).then(|| lib.clone());
            let got = fetch_from_wheel("onnxruntime", ORT_VERSION, &dir, &want)?;
            if got.is_empty() {
                return Err(Error::RuntimeLibrary(format!(
                    "the onnxruntime {ORT_VERSION} wheel has no onnxruntime/capi/{lib}"
                )));
            }
        }
        LibraryFlavor::Cuda => fetch_cuda(&dir)?,
    }
    let path = dir.join(&lib);
    let cuda_dir = (flavor == LibraryFlavor::Cuda).then(|| dir.clone());
    Ok(LocatedLibrary { path, origin: "downloaded", cuda_dir })
}

/// The wheels making up a CUDA 13 ONNX Runtime: the GPU build and NVIDIA's user-space libraries.
/// Versions pin the major releases `onnxruntime-gpu` 1.31 requires.
const CUDA_WHEELS: &[(&str, &str, &[&str])] = &[
    ("nvidia-cuda-runtime", "13.2.86", &["libcudart.so.13"]),
    ("nvidia-cublas", "13.4.1.3", &["libcublas.so.13", "libcublasLt.so.13"]),
    ("nvidia-curand", "10.4.4.72", &["libcurand.so.10"]),
    ("nvidia-cufft", "12.2.0.57", &["libcufft.so.12"]),
    ("nvidia-cuda-nvrtc", "13.2.86", &["libnvrtc.so.13", "libnvrtc-builtins.so.13"]),
    ("nvidia-cudnn-cu13", "9.26.0.51", &["libcudnn"]),
];

fn fetch_cuda(dir: &Path) -> Result<()> {
    eprintln!(
        "intrain: fetching the CUDA build of ONNX Runtime {ORT_VERSION} and the CUDA 13 / cuDNN 9 libraries from PyPI into {} (about 2 GB, once)",
        dir.display()
    );
    let base = |name: &str| name.rsplit('/').next().unwrap_or(name).to_string();
    let want_ort = |name: &str| {
        let b = base(name);
        (name.starts_with("onnxruntime/capi/")
            && (b == lib_file_name()
                || b == "libonnxruntime_providers_cuda.so"
                || b == "libonnxruntime_providers_shared.so"))
            .then_some(b)
    };
    fetch_from_wheel("onnxruntime-gpu", ORT_VERSION, dir, &want_ort)?;
    for (package, version, prefixes) in CUDA_WHEELS {
        let want = |name: &str| {
            let b = base(name);
            (name.contains("/lib/")
                && prefixes.iter().any(|p| b.starts_with(p))
                && b.contains(".so"))
            .then_some(b)
        };
        fetch_from_wheel(package, version, dir, &want)?;
    }
    std::fs::write(dir.join(".complete"), ORT_VERSION)
        .map_err(|source| Error::Io { path: dir.join(".complete"), source })
}

/// Whether an NVIDIA driver is present on this machine (without which CUDA cannot work).
pub fn nvidia_driver_present() -> bool {
    Path::new("/proc/driver/nvidia/version").exists()
        || [
            "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
            "/usr/lib64/libcuda.so.1",
            "/usr/local/nvidia/lib64/libcuda.so.1",
        ]
        .iter()
        .any(|p| Path::new(p).exists())
}
