//! Fetching shared libraries out of wheels on PyPI (the only place we download from).
//!
//! A wheel is a zip file; the ONNX Runtime `.so` inside `onnxruntime-<v>-*.whl` does not depend
//! on Python. We read the release's file list from PyPI's JSON API, pick the wheel for this
//! platform, verify its SHA-256, and extract the wanted files into a cache folder. If the
//! download fails and `pip` is available, `pip download` is tried as a fallback (it honours the
//! user's pip configuration: index mirrors, proxies, certificates).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Where wheels come from; override with `INTRAIN_PYPI_URL` for a mirror.
pub fn pypi_base() -> String {
    std::env::var("INTRAIN_PYPI_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "https://pypi.org".to_string())
}

fn agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        .tls_config(TlsConfig::builder().root_certs(RootCerts::PlatformVerifier).build())
        .timeout_global(Some(std::time::Duration::from_secs(1800)))
        .build()
        .into()
}

#[derive(serde::Deserialize)]
struct Release {
    urls: Vec<ReleaseFile>,
}

#[derive(serde::Deserialize)]
struct ReleaseFile {
    filename: String,
    url: String,
    packagetype: String,
    size: Option<u64>,
    digests: Digests,
}

#[derive(serde::Deserialize)]
struct Digests {
    sha256: String,
}

/// The wheel platform tag fragment of this machine (`x86_64`, `aarch64`).
fn arch_tag() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64",
        _ => "x86_64",
    }
}

/// Downloads the wheel of `package==version` for this platform and extracts every entry for
/// which `wanted` returns a file name, into `dest` (created). Returns the extracted paths.
pub fn fetch_from_wheel(
    package: &str,
    version: &str,
    dest: &Path,
    wanted: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dest)
        .map_err(|source| Error::Io { path: dest.to_path_buf(), source })?;
    let wheel = match download_wheel(package, version, dest) {
        Ok(w) => w,
        Err(first) => match pip_download(package, version, dest) {
            Ok(w) => w,
            Err(second) => {
                return Err(Error::RuntimeLibrary(format!(
                    "could not download {package}=={version} from PyPI ({first}); pip fallback failed too ({second}). \
                     Remedy: download the wheel yourself and point ORT_DYLIB_PATH (or --ort-lib) at the extracted \
                     onnxruntime/capi/libonnxruntime.so.{version}"
                )));
            }
        },
    };
    let result = extract(&wheel, dest, wanted);
    let _ = std::fs::remove_file(&wheel);
    result
}

fn download_wheel(
    package: &str,
    version: &str,
    dest: &Path,
) -> std::result::Result<PathBuf, String> {
    if std::env::var_os("INTRAIN_OFFLINE").is_some() {
        return Err("INTRAIN_OFFLINE is set".into());
    }
    let agent = agent();
    let url = format!("{}/pypi/{package}/{version}/json", pypi_base());
    let mut resp = agent.get(&url).call().map_err(|e| format!("GET {url}: {e}"))?;
    let text = resp.body_mut().read_to_string().map_err(|e| format!("reading {url}: {e}"))?;
    let release: Release =
        serde_json::from_str(&text).map_err(|e| format!("parsing {url}: {e}"))?;
    let arch = arch_tag();
    let file = release
        .urls
        .iter()
        .filter(|f| {
            f.packagetype == "bdist_wheel"
                && f.filename.contains("manylinux")
                && f.filename.contains(arch)
        })
        .max_by_key(|f| f.filename.clone())
        .ok_or_else(|| format!("{package} {version} has no manylinux {arch} wheel on PyPI"))?;
    let tmp = dest.join(format!(".{}.part{}", file.filename, std::process::id()));
    let mut resp = agent.get(&file.url).call().map_err(|e| format!("GET {}: {e}", file.url))?;
    let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
    let mut out = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let bar = progress_bar(file.size, &format!("fetching {}", file.filename));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| format!("downloading {}: {e}", file.url))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| format!("{}: {e}", tmp.display()))?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if digest != file.digests.sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("SHA-256 mismatch for {} (got {digest})", file.filename));
    }
    Ok(tmp)
}

fn progress_bar(len: Option<u64>, msg: &str) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} ({eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(format!("intrain: {msg}"));
    bar
}

fn pip_download(package: &str, version: &str, dest: &Path) -> std::result::Result<PathBuf, String> {
    let dir = dest.join(format!(".pip{}", std::process::id()));
    let status = std::process::Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d"])
        .arg(&dir)
        .arg(format!("{package}=={version}"))
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("running python3 -m pip: {e}"))?;
    if !status.success() {
        return Err(format!("pip exited with {status}"));
    }
    let wheel = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or("pip produced no wheel")?;
    let target = dest.join(format!(
        ".{}",
        wheel.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
    ));
    std::fs::rename(&wheel, &target).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(target)
}

fn extract(
    wheel: &Path,
    dest: &Path,
    wanted: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<PathBuf>> {
    let err = |m: String| Error::RuntimeLibrary(format!("{}: {m}", wheel.display()));
    let file = std::fs::File::open(wheel).map_err(|e| err(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| err(format!("not a wheel: {e}")))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| err(e.to_string()))?;
        let Some(name) = wanted(&entry.name().map_err(|e| err(e.to_string()))?) else { continue };
        let target = dest.join(&name);
        let tmp = dest.join(format!(".{name}.tmp{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)
            .map_err(|source| Error::Io { path: tmp.clone(), source })?;
        std::io::copy(&mut entry, &mut f).map_err(|e| err(format!("extracting {name}: {e}")))?;
        drop(f);
        // Rename is atomic: a concurrent process sees either no file or the whole file.
        std::fs::rename(&tmp, &target)
            .map_err(|source| Error::Io { path: target.clone(), source })?;
        out.push(target);
    }
    Ok(out)
}
