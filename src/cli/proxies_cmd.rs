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
    outln!("{:<10} {:<15} {:<9} what it measures", "proxy", "pass", "reference");
    for p in &list {
        outln!(
            "{:<10} {:<15} {:<9} {}",
            p.name,
            p.pass,
            p.reference.as_deref().unwrap_or("-"),
            p.about
        );
    }
    Ok(super::Exit::Success)
}
