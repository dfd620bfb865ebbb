//! `intrain proxies`: the registered proxies, where each one's value comes from, and its
//! authors' conventions.

use clap::Args;

use intrain::scoring::proxy::catalogue;

/// Arguments of `proxies`.
#[derive(Debug, Args)]
pub struct ProxiesArgs {
    /// Print JSON (an array; schema: schemas/proxies.schema.json).
    #[arg(long)]
    json: bool,
}

/// Runs `proxies`.
pub fn run(a: ProxiesArgs) -> anyhow::Result<super::Exit> {
    let list = catalogue();
    if a.json {
        super::print_json(&list)?;
        return Ok(super::Exit::Success);
    }
    let width = |f: fn(&intrain::scoring::proxy::ProxyInfo) -> usize, title: &str| {
        list.iter().map(f).chain([title.len()]).max().unwrap_or(0)
    };
    let wn = width(|p| p.name.len(), "proxy");
    let wp = width(|p| p.pass.len(), "pass");
    let wr = width(|p| p.reference.as_deref().map_or(1, str::len), "reference");
    outln!("{:<wn$} {:<wp$} {:<wr$} what it measures", "proxy", "pass", "reference");
    for p in &list {
        outln!(
            "{:<wn$} {:<wp$} {:<wr$} {}",
            p.name,
            p.pass,
            p.reference.as_deref().unwrap_or("-"),
            p.about
        );
    }
    Ok(super::Exit::Success)
}
