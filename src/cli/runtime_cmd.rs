//! `intrain runtime`: which ONNX Runtime library is used (fetching it if needed).

use clap::Args;
use serde::Serialize;

use super::args::RuntimeArgs;

/// Arguments of `runtime`.
#[derive(Debug, Args)]
pub struct RuntimeCmdArgs {
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct RuntimeReport {
    version: &'static str,
    provider: intrain::runtime::Provider,
    library: String,
    origin: &'static str,
    cache_dir: Option<String>,
}

/// Runs `runtime`.
pub fn run(a: RuntimeCmdArgs) -> anyhow::Result<super::Exit> {
    let rt = a.runtime.runtime()?;
    let r = RuntimeReport {
        version: intrain::runtime::ORT_VERSION,
        provider: rt.provider,
        library: rt.library.path.display().to_string(),
        origin: rt.library.origin,
        cache_dir: intrain::runtime::library::cache_dir().ok().map(|p| p.display().to_string()),
    };
    if a.json {
        super::print_json(&r)?;
    } else {
        outln!("{}", rt.describe());
    }
    Ok(super::Exit::Success)
}
